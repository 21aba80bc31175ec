// Package testvenue starts real NATS JetStream clusters on loopback for tests: the
// venue's servers embedded in the test process (supervisor/venue.StartServer), on free
// ports picked at run time, in the test's temporary folder.
package testvenue

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mdocgate/mdocgate/supervisor/venue"
)

// Cluster is a running cluster of embedded servers.
type Cluster struct {
	Servers []*venue.Server
	// URLs are the servers' client URLs, Routes their route URLs, in order.
	URLs, Routes []string
	opts         []venue.ServerOptions
}

// FreePorts returns n loopback TCP ports that were free a moment ago (cluster routes
// need their ports known before the servers start).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// Start runs an n-server cluster named "venue" (n = 1: a single server without
// routes); the servers are shut down when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := FreePorts(t, 2*n)
	c := &Cluster{}
	for i := 0; i < n; i++ {
		c.Routes = append(c.Routes, "nats://127.0.0.1:"+strconv.Itoa(ports[n+i]))
	}
	dir := t.TempDir()
	for i := 0; i < n; i++ {
		o := venue.ServerOptions{Name: fmt.Sprintf("s%d", i), Listen: "127.0.0.1:" + strconv.Itoa(ports[i]),
			Cluster: "venue", StoreDir: filepath.Join(dir, fmt.Sprintf("s%d", i))}
		if n > 1 {
			o.ClusterListen, o.Routes = "127.0.0.1:"+strconv.Itoa(ports[n+i]), c.Routes
		}
		c.opts = append(c.opts, o)
		s, err := venue.StartServer(o)
		if err != nil {
			c.Shutdown()
			t.Fatalf("server %d: %v", i, err)
		}
		c.Servers = append(c.Servers, s)
		c.URLs = append(c.URLs, s.ClientURL())
	}
	t.Cleanup(c.Shutdown)
	return c
}

// Stop shuts server i down (a lost machine, as far as its peers can tell).
func (c *Cluster) Stop(i int) {
	if s := c.Servers[i]; s != nil {
		s.Shutdown()
		c.Servers[i] = nil
	}
}

// Restart starts server i again, stopped before, on its ports and store.
func Restart(t testing.TB, c *Cluster, i int) *venue.Server {
	t.Helper()
	s, err := venue.StartServer(c.opts[i])
	if err != nil {
		t.Fatalf("restart server %d: %v", i, err)
	}
	c.Servers[i] = s
	return s
}

// Shutdown stops every server still running.
func (c *Cluster) Shutdown() {
	for i := range c.Servers {
		c.Stop(i)
	}
}
