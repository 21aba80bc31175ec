package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/testnet"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/gate"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/actors/webholder"
	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
	"github.com/mdocgate/mdocgate/transports/online"
	"github.com/mdocgate/mdocgate/transports/web"
)

// A holder answering a lane with far more than it asked for (every document it holds)
// is cut off by the lane's derived limit before anything is decrypted: message_too_large,
// action deny. An honest holder of the same lane is accepted.
func TestGateResponseLimit(t *testing.T) {
	a := testgate.NewAuthority(t, "big")
	g := startRadioGate(t, writeGateConfig(t, "", "  - {name: tap, bearer: nfc, profile: age_over_18, holder_verification: test-accept}\n"+
		"  - {name: roomy, bearer: nfc, profile: age_over_18, holder_verification: test-accept, max_response_bytes: 4194304}\n", a))
	if v := g.present(t, "tap", holderOf(a.Cred)); v.Outcome != "accepted" {
		t.Fatalf("honest holder: %+v", v)
	}
	hs := &holdersession.Config{Misbehave: holdersession.AnswerAnything}
	for i := 0; i < 150; i++ { // a few KB each: together over the lane's ~170 KB
		hs.Credentials = append(hs.Credentials, a.Cred)
	}
	if l := g.info.Lanes; len(l) != 2 || l[0].MaxResponseBytes <= 4096 || l[0].MaxResponseBytes >= 1<<20 || l[1].MaxResponseBytes != 4194304 {
		t.Fatalf("lanes' limits in the gate's info: %+v", l)
	}
	v := g.present(t, "tap", hs)
	if v.Outcome != "error" || v.Reason != actors.ReasonMessageTooLarge || v.Action != "deny" {
		t.Fatalf("a response over the lane's limit: %+v", v)
	}
	// the same response where the lane allows the decoders' 4 MiB is read and verified
	if v := g.present(t, "roomy", hs); v.Reason == actors.ReasonMessageTooLarge {
		t.Fatalf("with max_response_bytes at 4 MiB: %+v", v)
	}
}

// The file limit bounds the connections: the web listener gets what is left after the
// operations listener and a reserve, and a max_connections above it is refused.
func TestLimitsFromFileLimit(t *testing.T) {
	l := LimitsConfig{}
	if err := l.validate(1024); err != nil {
		t.Fatal(err)
	}
	if l.MaxConnections != 1024-256-64 || l.OpsMaxConnections != 64 {
		t.Fatalf("1024 descriptors: web %d, ops %d", l.MaxConnections, l.OpsMaxConnections)
	}
	if l.EngagementsPerClient != 64 || l.EngagementsPerSecond != 2 || l.EngagementBurst != 20 || l.SessionsPerClient != 32 || l.ConnectionsPerClient != 128 || l.EngagementTTL != 30*time.Second ||
		l.IdleTimeout != 30*time.Second || l.HeaderTimeout != 5*time.Second || l.ConnLifetime != 10*time.Minute || l.CryptoQueuePerLane != 512 {
		t.Fatalf("defaults %+v", l)
	}
	var fe *fieldError
	if err := (&LimitsConfig{}).validate(60); !errors.As(err, &fe) || fe.field != "ops_max_connections" {
		t.Fatalf("a file limit that leaves no room: %v", err)
	}
	if err := (&LimitsConfig{MaxConnections: 5000}).validate(1024); !errors.As(err, &fe) || fe.field != "max_connections" {
		t.Fatalf("max_connections over the file limit: %v", err)
	}
}

// gateWithLimits runs a plain gate (web lanes) with the given limits and an ops listener.
func gateWithLimits(t *testing.T, lim LimitsConfig, a *testgate.Authority) *runningGate {
	t.Helper()
	cfg := plainConfig(mdlNames, a.IACAFile(t))
	cfg.HTTPAddr, cfg.Limits = "127.0.0.1:0", lim
	return runGate(t, cfg)
}

// A connection flood: one client is held to connections_per_client; many clients
// filling max_connections with idle connections do not lock out a holder (the longest
// idle make room) nor the operations endpoints (their own listener).
func TestGateConnectionFlood(t *testing.T) {
	a := testgate.NewAuthority(t, "flood")
	g := gateWithLimits(t, LimitsConfig{MaxConnections: 40, ConnectionsPerClient: 5}, a)
	addr := strings.TrimPrefix(g.info.Origin, "http://")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// one client: five connections, the sixth reset
	for i := 0; i < 6; i++ {
		c, err := testnet.Dialer("127.0.5.1").Dial("tcp", addr)
		if err == nil {
			held = append(held, c)
		}
	}
	time.Sleep(100 * time.Millisecond)
	refused := 0
	for _, c := range held {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !strings.Contains(err.Error(), "timeout") {
			refused++
		}
	}
	if refused != 1 && len(held) != 5 {
		t.Fatalf("one client: %d connections, %d closed by the gate; want the sixth refused", len(held), refused)
	}
	// many clients fill the listener with idle connections
	for i := 0; i < 60; i++ {
		c, err := testnet.Dialer(fmt.Sprintf("127.0.6.%d", i+1)).Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond)
	for i := 0; i < 3; i++ {
		e, err := web.FetchEngagement(context.Background(), testnet.ClientFrom(t, "127.0.7.1"), g.info.Origin, false)
		if err != nil {
			t.Fatalf("a holder during the flood: %v", err)
		}
		if err := webPresent(t, e, a, testnet.ClientFrom(t, "127.0.7.1")); err != nil {
			t.Fatalf("a holder's session during the flood: %v", err)
		}
		if v := g.verdict(t); v.Outcome != "accepted" {
			t.Fatalf("verdict %+v", v)
		}
	}
	if code, body := testgate.HTTPGet(t, "http://"+g.info.HTTP+"/metrics"); code != 200 ||
		metricSum(t, body, "mdocgate_connections_evicted_total", map[string]string{"listener": "web"}) == 0 ||
		metricSum(t, body, "mdocgate_connections_refused_total", map[string]string{"listener": "web"}) == 0 {
		t.Fatalf("ops during the flood: %d; evictions and refusals not counted", code)
	}
}

func webPresent(t *testing.T, e *web.Engagement, a *testgate.Authority, hc *http.Client) error {
	t.Helper()
	h, err := holdersession.NewReverse(holderOf(a.Cred), e.ReaderEngagement, strings.TrimSuffix(e.SessionURL, "/session/"+e.ID))
	if err != nil {
		return err
	}
	conn, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: true, Client: hc})
	if err != nil {
		return err
	}
	defer conn.Close()
	msg, err := conn.ReadFrame(context.Background())
	if err != nil {
		return err
	}
	st := h.Receive(msg)
	if err := conn.WriteFrame(context.Background(), st.Send); err != nil {
		return err
	}
	if _, err := conn.ReadFrame(context.Background()); err != nil && !errors.Is(err, web.ErrSessionEnded) {
		return err
	}
	return nil
}

// The limits: fields reach the web server: one client's engagements, sessions and QR
// images are bounded, and an engagement never used is forgotten after engagement_ttl.
func TestGateClientLimits(t *testing.T) {
	a := testgate.NewAuthority(t, "clients")
	g := gateWithLimits(t, LimitsConfig{EngagementsPerClient: 2, SessionsPerClient: 1, EngagementTTL: 2 * time.Second,
		QRPerSecond: 0.01, QRBurst: 1}, a)
	one, two := testnet.ClientFrom(t, "127.0.8.1"), testnet.ClientFrom(t, "127.0.8.2")
	for i := 0; i < 2; i++ {
		if _, err := web.FetchEngagement(context.Background(), one, g.info.Origin, i == 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := web.FetchEngagement(context.Background(), one, g.info.Origin, false); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("third engagement: %v", err)
	}
	if _, err := web.FetchEngagement(context.Background(), two, g.info.Origin, true); err != nil {
		t.Fatalf("another client: %v", err)
	}
	time.Sleep(3 * time.Second) // engagement_ttl, and the sweeper's quarter
	if _, err := web.FetchEngagement(context.Background(), one, g.info.Origin, true); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("a second QR image within the rate: %v", err)
	}
	e, err := web.FetchEngagement(context.Background(), one, g.info.Origin, false)
	if err != nil {
		t.Fatalf("after the TTL: %v", err)
	}
	h, err := holdersession.NewReverse(holderOf(a.Cred), e.ReaderEngagement, g.info.Origin)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: true, Client: one})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e2, err := web.FetchEngagement(context.Background(), one, g.info.Origin, false)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := holdersession.NewReverse(holderOf(a.Cred), e2.ReaderEngagement, g.info.Origin)
	if _, err := web.Dial(context.Background(), e2.SessionURL, h2.FirstMessage(), web.DialOptions{WebSocket: true, Client: one}); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("a second session of one client: %v", err)
	}
	code, body := testgate.HTTPGet(t, "http://"+g.info.HTTP+"/metrics")
	for _, what := range []string{"engagements", "sessions", "qr"} {
		if code != 200 || metricSum(t, body, "mdocgate_client_refusals_total", map[string]string{"what": what}) == 0 {
			t.Fatalf("refusals of %s not counted", what)
		}
	}
}

// limits.engagements_per_second reaches the web server: a client asking for
// engagements faster than its rate is busy, another client is not.
func TestGateEngagementRate(t *testing.T) {
	a := testgate.NewAuthority(t, "rate")
	g := gateWithLimits(t, LimitsConfig{EngagementsPerSecond: 0.1, EngagementBurst: 2}, a)
	one, two := testnet.ClientFrom(t, "127.0.9.1"), testnet.ClientFrom(t, "127.0.9.2")
	for i := 0; i < 2; i++ {
		if _, err := web.FetchEngagement(context.Background(), one, g.info.Origin, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := web.FetchEngagement(context.Background(), one, g.info.Origin, false); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("over the rate: %v", err)
	}
	if _, err := web.FetchEngagement(context.Background(), two, g.info.Origin, false); err != nil {
		t.Fatalf("another client: %v", err)
	}
	if _, body := testgate.HTTPGet(t, "http://"+g.info.HTTP+"/metrics"); metricSum(t, body, "mdocgate_client_refusals_total",
		map[string]string{"what": "engagement_rate"}) != 1 {
		t.Fatal("the refusal is not counted")
	}
}

// Every idle connection on the operations listener is closed after idle_timeout, and
// an unfinished request's headers after header_timeout: a client cannot keep one open.
func TestOpsIdleTimeouts(t *testing.T) {
	a := testgate.NewAuthority(t, "idle")
	g := gateWithLimits(t, LimitsConfig{IdleTimeout: 200 * time.Millisecond, HeaderTimeout: 200 * time.Millisecond}, a)
	for _, addr := range []string{g.info.HTTP, strings.TrimPrefix(g.info.Origin, "http://")} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		start := time.Now()
		var err2 error
		for err2 == nil {
			_, err2 = c.Read(buf)
		}
		if time.Since(start) > 3*time.Second || strings.Contains(err2.Error(), "timeout") {
			t.Fatalf("%s: idle keep-alive connection still open after %v (%v)", addr, time.Since(start), err2)
		}
		c.Close()
		c, err = net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /healthz HTTP/1.1\r\n") // never finished
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start = time.Now()
		_, err2 = io.ReadAll(c)
		if time.Since(start) > 3*time.Second || err2 != nil && strings.Contains(err2.Error(), "timeout") {
			t.Fatalf("%s: unfinished headers kept the connection %v (%v)", addr, time.Since(start), err2)
		}
		c.Close()
	}
}

// What a session's verdict means at the gate when the lane's decision did not say:
// only what needs a person calls staff.
func TestSessionActions(t *testing.T) {
	for _, c := range []struct {
		outcome readersession.Outcome
		reason  string
		want    gate.Action
	}{
		{readersession.Accepted, "", gate.ActionOpen},
		{readersession.Rejected, "mso.value_digests", gate.ActionDeny},
		{readersession.Timeout, "engagement_timeout", gate.ActionNone},
		{readersession.Timeout, "inactivity_timeout", gate.ActionNone},
		{readersession.Error, actors.ReasonLinkClosed, gate.ActionNone},
		{readersession.Error, readersession.ReasonPeerTerminated, gate.ActionNone},
		{readersession.Error, "shutdown", gate.ActionNone},
		{readersession.Error, readersession.ReasonCBORDecoding, gate.ActionDeny},
		{readersession.Error, readersession.ReasonSessionEncryption, gate.ActionDeny},
		{readersession.Error, actors.ReasonMessageTooLarge, gate.ActionDeny},
		{readersession.Error, actors.ReasonCryptoBusy, gate.ActionDeny},
		{readersession.Error, "some_future_reason", gate.ActionDeny},
		{readersession.Error, readersession.ReasonInternal, gate.ActionCallStaff},
		{readersession.Error, "crypto_worker", gate.ActionCallStaff},
		{readersession.Error, "session_lost", gate.ActionCallStaff},
		{readersession.Error, actors.ReasonLink, gate.ActionCallStaff},
	} {
		if got := sessionAction(c.outcome, c.reason); got != c.want {
			t.Errorf("%s (%s): %s, want %s", c.outcome, c.reason, got, c.want)
		}
	}
}

// A reload that changes what a web lane requests changes its message limit: a response
// the small request refuses unread is read once the lane asks for more.
func TestMessageLimitFollowsReload(t *testing.T) {
	a := testgate.NewAuthority(t, "reload-limit")
	dir := t.TempDir()
	profiles := filepath.Join(dir, "profiles.yaml")
	if err := os.WriteFile(profiles, []byte(`profiles:
  - name: flag
    documents:
      - doc_type: org.iso.18013.5.1.mDL
        elements:
          - {namespace: org.iso.18013.5.1, identifier: age_over_18, mandatory: true}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	iacaDir := testgate.WriteIACADir(t, dir, a)
	write := func(profile string) string {
		f := filepath.Join(dir, "gate.yaml")
		yaml := "name: limit\nlisten: 127.0.0.1:0\nlog_level: error\nprofiles: " + profiles + "\ntrust: {iaca_dir: " + iacaDir + "}\n" +
			"lanes:\n  - {name: ws, bearer: websocket, profile: " + profile + "}\n"
		if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	g := startGate(t, write("flag"))
	hs := &holdersession.Config{Misbehave: holdersession.AnswerAnything}
	for i := 0; i < 15; i++ { // about 60 KB: over the flag lane's 37 KiB, under mdl's 174 KiB
		hs.Credentials = append(hs.Credentials, a.Cred)
	}
	present := func() Verdict {
		t.Helper()
		e, err := web.FetchEngagement(context.Background(), nil, g.info.Origin, false)
		if err != nil {
			t.Fatal(err)
		}
		_ = webholder.Present(context.Background(), e.MdocURI, hs, "", web.DialOptions{WebSocket: true})
		return g.verdict(t)
	}
	if v := present(); v.Reason != actors.ReasonMessageTooLarge {
		t.Fatalf("over the flag lane's limit: %+v", v)
	}
	write("mdl")
	g.sigs <- syscall.SIGHUP
	for ev := g.event(t); ev.Event != "trust_reloaded"; ev = g.event(t) {
	}
	if v := present(); v.Reason == actors.ReasonMessageTooLarge {
		t.Fatalf("after the reload to mdl: %+v", v)
	}
}

// The online lanes count their clients in the web listener's shares (limits:): a
// client's transactions with its engagements (engagements_per_client), its answers with
// its sessions (sessions_per_client); busy is the online contract's 503, and another
// client is not held back.
func TestOnlineClientLimits(t *testing.T) {
	a := testgate.NewAuthority(t, "online-limits")
	cfg := onlineConfig(t, a)
	cfg.Lanes = append(cfg.Lanes, LaneConfig{Name: "ws", Bearer: web.BearerWebSocket, Profile: cfg.Lanes[0].Profile})
	cfg.Limits = LimitsConfig{EngagementsPerClient: 2, SessionsPerClient: 1}
	g := runGate(t, cfg)
	one := &onlineClient{origin: g.info.Origin, hc: testnet.ClientFrom(t, "127.0.11.1")}
	two := &onlineClient{origin: g.info.Origin, hc: testnet.ClientFrom(t, "127.0.11.2")}
	busy := func(what string, code int, e map[string]any) {
		t.Helper()
		if code != http.StatusServiceUnavailable || e["error"] != "temporarily_unavailable" {
			t.Fatalf("%s: %d %v, want 503 temporarily_unavailable", what, code, e)
		}
	}
	e, err := web.FetchEngagement(context.Background(), one.hc, g.info.Origin, false)
	if err != nil {
		t.Fatal(err)
	}
	one.begin(t, "web-qr")
	code, m, _ := one.do(t, "POST", online.DCAPITransactions, map[string]string{"lane": "web-dc", "protocol": oid4vp.ProtocolUnsigned, "origin": one.origin})
	busy("a transaction beyond the client's engagements and transactions", code, m)
	if _, err := web.FetchEngagement(context.Background(), one.hc, g.info.Origin, false); !errors.Is(err, transports.ErrBusy) {
		t.Fatalf("an engagement beyond them: %v", err)
	}
	two.begin(t, "web-qr")
	// one's engagement becomes a WebSocket session: one of its sessions
	h, err := holdersession.NewReverse(holderOf(a.Cred), e.ReaderEngagement, g.info.Origin)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := web.Dial(context.Background(), e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: true, Client: one.hc})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	var req json.RawMessage
	for deadline := time.Now().Add(5 * time.Second); ; { // its engagement's slot comes back once its first message is in
		code, tx, raw := one.do(t, "POST", online.DCAPITransactions, map[string]string{"lane": "web-dc", "protocol": oid4vp.ProtocolUnsigned, "origin": one.origin})
		if code == http.StatusCreated {
			id, _ = tx["id"].(string)
			req, _ = json.Marshal(tx["request"])
			break
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("a transaction once the engagement is a session: %d %s", code, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	data, err := one.wallet(t, a.Cred, nil).AnswerDCAPI(req, one.origin)
	if err != nil {
		t.Fatal(err)
	}
	code, m, _ = one.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", data)
	busy("an answer beyond the client's sessions", code, m)
	conn.Close()
	if v := g.verdict(t); v.Lane != "ws" {
		t.Fatalf("the WebSocket session's verdict: %+v", v)
	}
	deadline := time.Now().Add(5 * time.Second)
	for { // the session's slot comes back as its connection is closed
		code, m, raw := one.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", data)
		if code == http.StatusOK && m["outcome"] == "accepted" && m["session"] == id {
			break
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("the answer sent again: %d %s", code, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := g.verdict(t); v.Session != id || v.Outcome != "accepted" {
		t.Fatalf("verdict %+v", v)
	}
}

// An online lane's answers are held to the lane's message limit (max_response_bytes,
// else what its request needs): an answer over it — an honest one for a lane that
// allows 1024 bytes, or a body far beyond — is refused before it is decrypted or
// decoded with 413, and its transaction ends in one error verdict, message_too_large.
func TestOnlineResponseLimit(t *testing.T) {
	a := testgate.NewAuthority(t, "online-big")
	cfg := onlineConfig(t, a)
	for i := range cfg.Lanes {
		cfg.Lanes[i].MaxResponseBytes = 1024
	}
	g := runGate(t, cfg)
	c := newOnlineClient(t, g)
	w := c.wallet(t, a.Cred, nil)
	tooLarge := func(t *testing.T, bearer, id string) {
		t.Helper()
		if v := g.verdict(t); v.Session != id || v.Outcome != "error" || v.Reason != actors.ReasonMessageTooLarge || v.Action != "deny" {
			t.Fatalf("verdict %+v, want %s error %s", v, id, actors.ReasonMessageTooLarge)
		}
		if s := c.status(t, bearer, id); s["state"] != oid4vp.StateError || s["reason"] != actors.ReasonMessageTooLarge {
			t.Fatalf("status %v", s)
		}
	}
	t.Run("oid4vp", func(t *testing.T) {
		id, inv := c.begin(t, "web-qr")
		if err := w.Present(context.Background(), inv); err == nil || !strings.Contains(err.Error(), "413") {
			t.Fatalf("an answer over the lane's limit: %v", err)
		}
		tooLarge(t, "oid4vp", id)
		// a body far beyond: not read
		id, inv = c.begin(t, "web-qr")
		i, err := oid4vp.ParseInvocation(inv)
		if err != nil {
			t.Fatal(err)
		}
		resp := strings.Replace(i.RequestURI, "/request/", "/response/", 1)
		code, m, _ := c.do(t, "POST", resp, "vp_token="+strings.Repeat("A", 1<<20), "Content-Type", "application/x-www-form-urlencoded")
		if code != http.StatusRequestEntityTooLarge || m["error"] == nil {
			t.Fatalf("a 1 MiB answer: %d %v", code, m)
		}
		tooLarge(t, "oid4vp", id)
	})
	for _, protocol := range online.Protocols {
		t.Run("dcapi/"+protocol, func(t *testing.T) {
			id, req := c.beginDC(t, protocol)
			data, err := w.AnswerDCAPI(req, c.origin)
			if err != nil {
				t.Fatal(err)
			}
			code, v, raw := c.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", data)
			if code != http.StatusRequestEntityTooLarge || v["outcome"] != "error" || v["reason"] != actors.ReasonMessageTooLarge || v["session"] != id {
				t.Fatalf("an answer over the lane's limit: %d %s", code, raw)
			}
			tooLarge(t, "dcapi", id)
			if code, _, _ := c.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", data); code != http.StatusConflict {
				t.Fatalf("answered again: %d", code)
			}
		})
	}
	t.Run("dcapi body", func(t *testing.T) {
		id, _ := c.beginDC(t, oid4vp.ProtocolUnsigned)
		code, v, raw := c.do(t, "POST", online.DCAPITransactions+"/"+id+"/response", `{"vp_token":"`+strings.Repeat("A", 1<<20)+`"}`)
		if code != http.StatusRequestEntityTooLarge || v["reason"] != actors.ReasonMessageTooLarge {
			t.Fatalf("a 1 MiB answer: %d %.200s", code, raw)
		}
		tooLarge(t, "dcapi", id)
	})
	select { // exactly one verdict each
	case v := <-g.verdicts:
		t.Fatalf("another verdict: %+v", v)
	case <-time.After(200 * time.Millisecond):
	}
}
