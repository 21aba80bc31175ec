package venue

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerOptions configure the venue's JetStream server a gate runs in its own process.
type ServerOptions struct {
	// Name is the server's name, unique in the cluster and stable across restarts
	// (JetStream knows its peers by name).
	Name string
	// Listen is the client address (HOST:PORT; port 0 picks a free one).
	Listen string
	// ClusterListen is the address the other servers route to (HOST:PORT, a fixed
	// port: peers list it in their routes); empty runs a single server.
	ClusterListen string
	// Routes are the cluster's route URLs (nats://HOST:PORT); this server's own may be
	// among them.
	Routes []string
	// Cluster is the cluster's name (the venue's).
	Cluster string
	// StoreDir is where JetStream keeps its streams.
	StoreDir string
	// StartTimeout bounds the wait for the server to take connections (default 10 s).
	StartTimeout time.Duration
}

// Server is a running embedded JetStream server.
type Server struct {
	s *server.Server
}

// StartServer starts a JetStream server in this process and waits until it takes
// client connections (its cluster may still be electing its leaders).
func StartServer(o ServerOptions) (*Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("venue server: a store directory is needed")
	}
	host, port, err := splitHostPort(o.Listen, "listen")
	if err != nil {
		return nil, err
	}
	opts := &server.Options{ServerName: o.Name, Host: host, Port: port, JetStream: true, StoreDir: o.StoreDir,
		NoSigs: true, NoLog: true}
	if port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if o.ClusterListen != "" {
		chost, cport, err := splitHostPort(o.ClusterListen, "cluster_listen")
		if err != nil {
			return nil, err
		}
		if cport == 0 {
			return nil, errors.New("venue server: cluster_listen needs a fixed port (the other servers route to it)")
		}
		opts.Cluster = server.ClusterOpts{Name: o.Cluster, Host: chost, Port: cport}
		for i, r := range o.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("venue server: routes[%d]: %q is not a nats://HOST:PORT URL", i, r)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("venue server: %w", err)
	}
	go s.Start()
	wait := o.StartTimeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	if !s.ReadyForConnections(wait) {
		s.Shutdown()
		return nil, fmt.Errorf("venue server: not ready for connections within %s", wait)
	}
	return &Server{s: s}, nil
}

func splitHostPort(addr, field string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("venue server: %s: %w", field, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("venue server: %s: bad port %q", field, p)
	}
	return host, port, nil
}

// ClientURL is the URL clients connect to (nats://HOST:PORT).
func (s *Server) ClientURL() string { return s.s.ClientURL() }

// Shutdown stops the server and waits until it has.
func (s *Server) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}
