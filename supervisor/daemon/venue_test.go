package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/internal/testvenue"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/supervisor/venue"
	"github.com/mdocgate/mdocgate/transports/web"
)

// venueGates runs n gates of one venue, each embedding a server of the venue's
// cluster (loopback ports picked now), each with one websocket lane on the mdl profile.
func venueGates(t *testing.T, n int, iacaFile string, edit func(i int, c *Config)) []*runningGate {
	t.Helper()
	ports := testvenue.FreePorts(t, n)
	var routes []string
	for _, p := range ports {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(p))
	}
	dir := t.TempDir()
	cfgs := make([]*Config, n)
	for i := range cfgs {
		cfgs[i] = &Config{Name: fmt.Sprintf("gate-%d", i), Listen: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", LogLevel: "info",
			Trust: TrustConfig{IACAFiles: []string{iacaFile}},
			Lanes: []LaneConfig{{Name: "entry", Bearer: web.BearerWebSocket, Profile: "mdl", Zone: fmt.Sprintf("zone-%d", i%2)}},
			Venue: &VenueConfig{Name: "arena", NATS: VenueNATS{Embedded: &EmbeddedNATS{Listen: "127.0.0.1:0",
				ClusterListen: "127.0.0.1:" + strconv.Itoa(ports[i]), Routes: routes, StoreDir: filepath.Join(dir, fmt.Sprint(i))}}}}
		if edit != nil {
			edit(i, cfgs[i])
		}
	}
	// the gates start together: each waits for the cluster its peers complete
	gates := make([]*runningGate, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range gates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("%v", r)
				}
			}()
			gates[i] = runGateNoFatal(t, cfgs[i], &errs[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("gate %d: %v", i, err)
		}
	}
	return gates
}

// TestVenueAdmitsOnceFleetWide runs three gates of one venue, each embedding a
// JetStream server: a credential is admitted at the first gate and refused at the two
// others (anti_passback, action deny) in verdicts, /metrics and the action log; a
// denied credential is refused everywhere; gate 0's dashboard shows the whole fleet.
func TestVenueAdmitsOnceFleetWide(t *testing.T) {
	a, b := testgate.NewAuthority(t, "venue-a"), testgate.NewAuthority(t, "venue-b")
	iaca := a.IACAFile(t)
	gates := venueGates(t, 3, iaca, func(i int, c *Config) { c.Trust.IACAFiles = append(c.Trust.IACAFiles, b.IACAFile(t)) })
	if gates[0].info.Venue != "arena" || !strings.HasPrefix(gates[0].info.NATS, "nats://127.0.0.1:") {
		t.Fatalf("info %+v", gates[0].info)
	}
	presentOnce(t, gates[0].info.Origin, a.Cred)
	v := gates[0].verdict(t)
	if v.Outcome != "accepted" || v.Action != "open" || len(v.Credential) != 64 {
		t.Fatalf("first use: %+v", v)
	}
	for _, g := range gates[1:] {
		presentOnce(t, g.info.Origin, a.Cred)
		if w := g.verdict(t); w.Outcome != "rejected" || w.Reason != "anti_passback" || w.Action != "deny" || w.Credential != v.Credential {
			t.Fatalf("second use at %s: %+v", g.info.Name, w)
		}
	}
	// the deny list, by the key an operator computes from the device key
	id, err := venue.DeviceKeyID(b.Cred.DocType, b.Cred.DeviceKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := venue.Connect(ctx, venue.Options{Name: "arena", URLs: []string{gates[1].info.NATS}, Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	key, err := admin.DenyAdd(ctx, id, "test")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "gate 2 reads the deny entry", func() bool { return gates[2].venue.v.Denied(key) })
	presentOnce(t, gates[2].info.Origin, b.Cred)
	if w := gates[2].verdict(t); w.Outcome != "rejected" || w.Reason != "deny_list" || w.Action != "deny" || w.Credential != key {
		t.Fatalf("denied credential: %+v", w)
	}

	_, m := testgate.HTTPGet(t, "http://"+gates[1].info.HTTP+"/metrics")
	for _, want := range []string{`reason="anti_passback"`, `mdocgate_venue_decisions_total{result="anti_passback"} 1`,
		`mdocgate_gate_actions_total{action="deny",lane="entry",reason="anti_passback"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("gate-1 /metrics lacks %s", want)
		}
	}
	waitUntil(t, "the action log names anti_passback", func() bool {
		for _, e := range gates[1].log.entries("gate action") {
			if e["reason"] == "anti_passback" && e["action"] == "deny" && e["credential"] == v.Credential {
				return true
			}
		}
		return false
	})
	waitUntil(t, "gate 0's dashboard shows the fleet", func() bool {
		_, body := testgate.HTTPGet(t, "http://"+gates[0].info.HTTP+"/dashboard/snapshot.json")
		var s struct {
			Fleet *venue.Fleet `json:"fleet"`
		}
		if json.Unmarshal([]byte(body), &s) != nil || s.Fleet == nil {
			return false
		}
		f := s.Fleet
		return len(f.Gates) == 3 && f.Total.Sessions == 4 && f.Total.Accepted == 1 && f.Total.AntiPassback == 2 &&
			f.Total.DenyList == 1 && len(f.Zones) == 2
	})
}

// A gate without venue: starts nothing of NATS and exports no venue family.
func TestNoVenueStartsNoNATS(t *testing.T) {
	a := testgate.NewAuthority(t, "novenue")
	cfg := &Config{Listen: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", LogLevel: "error", Trust: TrustConfig{IACAFiles: []string{a.IACAFile(t)}},
		Lanes: []LaneConfig{{Name: "entry", Bearer: web.BearerWebSocket, Profile: "mdl"}}}
	g := runGate(t, cfg)
	presentOnce(t, g.info.Origin, a.Cred)
	if v := g.verdict(t); v.Outcome != "accepted" || v.Credential != "" {
		t.Fatalf("verdict %+v", v)
	}
	buf := make([]byte, 1<<22)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if strings.Contains(stacks, "nats-io") {
		t.Fatal("a gate without venue runs NATS code")
	}
	_, m := testgate.HTTPGet(t, "http://"+g.info.HTTP+"/metrics")
	_, snap := testgate.HTTPGet(t, "http://"+g.info.HTTP+"/dashboard/snapshot.json")
	if strings.Contains(m, "mdocgate_venue_") || strings.Contains(snap, `"fleet"`) || g.info.Venue != "" {
		t.Fatal("a gate without venue shows venue state")
	}
}

func TestVenueConfigErrors(t *testing.T) {
	ageLane := &Config{Trust: TrustConfig{IACAFiles: []string{"x.pem"}}, Lanes: []LaneConfig{{Name: "l", Bearer: "websocket",
		Profile: "age_over_18", HolderVerification: "test-accept"}},
		Venue: &VenueConfig{Name: "v", NATS: VenueNATS{URLs: []string{"nats://127.0.0.1:4222"}}, AntiPassback: AntiPassbackConfig{Key: "document_number"}}}
	if err, ok := ageLane.Validate().(*ConfigError); !ok || err.Field != "venue.anti_passback.key" || !strings.Contains(err.Error(), "age_over_18") {
		t.Errorf("document_number with a profile that does not request it: %v", err)
	}
	for _, tc := range []struct {
		edit  func(v *VenueConfig)
		field string
	}{
		{func(v *VenueConfig) { v.Name = "a b" }, "venue.name"},
		{func(v *VenueConfig) { v.NATS = VenueNATS{} }, "venue.nats"},
		{func(v *VenueConfig) { v.NATS.Embedded = &EmbeddedNATS{StoreDir: "x"} }, "venue.nats"},
		{func(v *VenueConfig) { v.NATS.URLs = []string{"http://x:1"} }, "venue.nats.urls[0]"},
		{func(v *VenueConfig) { v.AntiPassback.Key = "face" }, "venue.anti_passback.key"},
		{func(v *VenueConfig) { v.OnPartition = "open" }, "venue.on_partition"},
		{func(v *VenueConfig) { v.AntiPassback.Timeout = time.Millisecond }, "venue.anti_passback.timeout"},
		{func(v *VenueConfig) {
			v.NATS = VenueNATS{Embedded: &EmbeddedNATS{ClusterListen: "127.0.0.1:0", StoreDir: "x"}}
		}, "venue.nats.embedded.cluster_listen"},
		{func(v *VenueConfig) {
			v.NATS = VenueNATS{Embedded: &EmbeddedNATS{Routes: []string{"nats://a:1"}, StoreDir: "x"}}
		}, "venue.nats.embedded.routes"},
		{func(v *VenueConfig) { v.NATS = VenueNATS{Embedded: &EmbeddedNATS{}} }, "venue.nats.embedded.store_dir"},
	} {
		cfg := &Config{Trust: TrustConfig{IACAFiles: []string{"x.pem"}}, Lanes: []LaneConfig{{Name: "l", Bearer: "websocket", Profile: "mdl"}},
			Venue: &VenueConfig{Name: "v", NATS: VenueNATS{URLs: []string{"nats://127.0.0.1:4222"}}}}
		tc.edit(cfg.Venue)
		err := cfg.Validate()
		ce, ok := err.(*ConfigError)
		if !ok || ce.Field != tc.field {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	cfg := &Config{Trust: TrustConfig{IACAFiles: []string{"x.pem"}}, Lanes: []LaneConfig{{Name: "l", Bearer: "websocket", Profile: "mdl"}},
		Venue: &VenueConfig{Name: "v", NATS: VenueNATS{Embedded: &EmbeddedNATS{StoreDir: "s"}}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	v := cfg.Venue
	if v.NATS.Replicas != 1 || v.AntiPassback.Window != 2*time.Hour || v.AntiPassback.Key != "device_key" || v.OnPartition != "deny" ||
		v.NATS.Embedded.Listen != "127.0.0.1:4222" {
		t.Fatalf("defaults %+v %+v", v, v.NATS.Embedded)
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// key: document_number names a credential by issuing country and document number (a
// hash of them), the same whatever device presents it; without them it names none.
func TestCredentialKeyByDocumentNumber(t *testing.T) {
	p := profile.Builtin("mdl")
	if err := p.Compile(); err != nil {
		t.Fatal(err)
	}
	gv := &gateVenue{cfg: &VenueConfig{AntiPassback: AntiPassbackConfig{Key: venue.KeyDocumentNumber}}}
	text := func(s string) []byte { b, _ := messages.Marshal(s); return b }
	doc := verify.DocumentResult{DocType: profile.DocTypeMDL, RawElements: map[string]map[string][]byte{
		"org.iso.18013.5.1": {"document_number": text("D1234567"), "issuing_country": text("ut")}}}
	res := &verify.Result{Documents: []verify.DocumentResult{doc}}
	key, err := gv.credentialKey(p, nil, res, profile.Decision{Document: 0, DocType: profile.DocTypeMDL})
	if err != nil || key != venue.CredentialKey("dn:UT:D1234567") {
		t.Fatalf("key %q %v", key, err)
	}
	delete(doc.RawElements["org.iso.18013.5.1"], "document_number")
	if _, err := gv.credentialKey(p, nil, res, profile.Decision{Document: 0}); err == nil || !strings.Contains(err.Error(), "document_number") {
		t.Fatalf("without a document number: %v", err)
	}
	if _, err := gv.credentialKey(p, nil, res, profile.Decision{Document: 3}); err == nil {
		t.Fatal("a decision without its document named a credential")
	}
}
