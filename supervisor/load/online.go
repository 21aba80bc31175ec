package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
	"github.com/mdocgate/mdocgate/transports/online"
)

// Online holders: wallets at a gate's online lanes (transports/online), over its HTTP
// contract. They serve RunTarget (a running gate's lane) and RunOID4VP (an in-process
// gate's online lanes).

// onlineLane is what GET /verify/{lane}/lane.json says of a lane.
type onlineLane struct {
	Lane      string   `json:"lane"`
	Bearer    string   `json:"bearer"`
	Origin    string   `json:"origin"`
	Protocols []string `json:"protocols"`
	Origins   []string `json:"origins"`
}

// onlineGate is a gate's online endpoints, reached at target (its base URL): requests to
// the gate's origin (which may name localhost) are dialled at target.
type onlineGate struct {
	target string
	client *http.Client
	// newClient makes such a client whose connections come from a local address ("":
	// any)
	newClient func(local string) *http.Client
}

// newOnlineGate makes the client of a gate whose origin is origin, reached at target.
func newOnlineGate(target, origin string, conns int, timeout time.Duration) (*onlineGate, error) {
	tu, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ou, err := url.Parse(origin)
	if err != nil {
		return nil, fmt.Errorf("origin %q: %w", origin, err)
	}
	from, to := hostPort(ou), hostPort(tu)
	newClient := func(local string) *http.Client {
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		if local != "" {
			dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
		tr := &http.Transport{MaxIdleConns: 2 * conns, MaxIdleConnsPerHost: 2 * conns, IdleConnTimeout: 30 * time.Second,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if addr == from {
					addr = to
				}
				return dialer.DialContext(ctx, network, addr)
			}}
		return &http.Client{Transport: tr, Timeout: timeout}
	}
	return &onlineGate{target: target, client: newClient(""), newClient: newClient}, nil
}

// from is the gate reached from the local address src (close it when done).
func (g *onlineGate) from(src string) *onlineGate {
	return &onlineGate{target: g.target, client: g.newClient(src), newClient: g.newClient}
}

// hostPort is a URL's host:port, the scheme's default port filled in.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func (g *onlineGate) close() { g.client.CloseIdleConnections() }

// laneInfo asks the gate what lane is.
func laneInfo(ctx context.Context, target, lane string) (*onlineLane, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+online.VerifyPath+url.PathEscape(lane)+"/lane.json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("lane %s: %w", lane, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("lane %s: the gate answers %s: %s", lane, resp.Status, snippet(body))
	}
	var l onlineLane
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("lane %s: %w", lane, err)
	}
	if l.Bearer != online.BearerOID4VP && l.Bearer != online.BearerDCAPI {
		return nil, fmt.Errorf("lane %s is a %q lane (want an oid4vp or dcapi lane)", lane, l.Bearer)
	}
	if l.Bearer == online.BearerDCAPI && (len(l.Origins) == 0 || len(l.Protocols) == 0) {
		return nil, fmt.Errorf("lane %s serves no page origin or protocol", lane)
	}
	return &l, nil
}

// onlineHolder is one wallet's visit: the lane, the DC API protocol (dcapi lanes), the
// wallet and how it misbehaves.
type onlineHolder struct {
	lane      *onlineLane
	protocol  string
	wallet    *oid4vp.Wallet
	behaviour Behaviour
	think     time.Duration
}

// busyError is a 503 from the gate: no transaction, or the answer not taken.
type busyError struct{ what string }

func (e *busyError) Error() string { return "gate busy: " + e.what }

// present runs the holder's transaction and returns its outcome: the gate's verdict as
// the transaction reports it (answered is false when the holder never answered, or its
// answer was refused before it reached a verdict: no verdict is owed); "" outcome when
// the gate was busy.
func (g *onlineGate) present(ctx context.Context, h *onlineHolder) (o readersession.Outcome, reason string, answered bool) {
	var state string
	var err error
	if h.lane.Bearer == online.BearerOID4VP {
		state, reason, answered, err = g.presentOID4VP(ctx, h)
	} else {
		state, reason, answered, err = g.presentDCAPI(ctx, h)
	}
	var busy *busyError
	switch {
	case errors.As(err, &busy):
		return "", "", false
	case err != nil && ctx.Err() != nil:
		return readersession.Timeout, "holder_timeout", answered
	case err != nil:
		return readersession.Error, "holder: " + shortReason(err), answered
	}
	switch state {
	case oid4vp.StateAccepted:
		return readersession.Accepted, "", true
	case oid4vp.StateRejected:
		return readersession.Rejected, reason, true
	case oid4vp.StateExpired:
		return readersession.Timeout, "expired", false
	}
	return readersession.Error, reason, answered
}

// post sends JSON to the gate and decodes its JSON answer.
func (g *onlineGate) post(ctx context.Context, path string, body any, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.target+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		return &busyError{path}
	case resp.StatusCode >= 300:
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, snippet(raw))
	}
	return json.Unmarshal(raw, out)
}

func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 160 {
		b = b[:160]
	}
	return string(b)
}

// wait is the holder's think time (a slow holder's longer one).
func (h *onlineHolder) wait(ctx context.Context) error {
	if h.think <= 0 {
		return nil
	}
	select {
	case <-time.After(h.think):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// presentOID4VP begins a transaction, presents to it as a wallet and reads its verdict
// from the status URI.
func (g *onlineGate) presentOID4VP(ctx context.Context, h *onlineHolder) (state, reason string, answered bool, err error) {
	var tx struct {
		ID                      string `json:"id"`
		AuthorizationRequestURI string `json:"authorization_request_uri"`
	}
	if err := g.post(ctx, online.OID4VPTransactions, map[string]string{"lane": h.lane.Lane}, &tx); err != nil {
		return "", "", false, err
	}
	status := online.OID4VPTransactions + "/" + url.PathEscape(tx.ID) + "/status"
	inv, err := oid4vp.ParseInvocation(tx.AuthorizationRequestURI)
	if err != nil {
		return "", "", false, err
	}
	req, err := h.wallet.Fetch(ctx, inv)
	if err != nil {
		return "", "", false, err
	}
	if err := h.wait(ctx); err != nil {
		return "", "", false, err
	}
	if h.behaviour == Silent {
		state, reason, err := g.awaitStatus(ctx, status)
		return state, reason, false, err
	}
	form, err := h.wallet.ResponseForm(req)
	if err != nil {
		return "", "", false, err
	}
	if h.behaviour == Dropping { // the body cut in half: refused, not tied to the transaction
		for k, vs := range form {
			form[k] = []string{vs[0][:len(vs[0])/2]}
		}
	}
	perr := h.wallet.Post(ctx, req.Claims.ResponseURI, form)
	var re *oid4vp.ResponseError
	switch {
	case errors.As(perr, &re) && re.Status == http.StatusServiceUnavailable:
		return "", "", false, &busyError{"response"}
	case errors.As(perr, &re) && re.Status != http.StatusBadRequest:
		return "", "", false, perr // refused before a verdict (expired, replay)
	case perr != nil && !errors.As(perr, &re):
		return "", "", false, perr // no answer reached the gate
	}
	if perr == nil { // 200: accepted, as the wallet is told
		return oid4vp.StateAccepted, "", true, nil
	}
	// the response endpoint answered once the verdict was in: the status has it, unless
	// the answer was refused before it reached one (then it is still pending)
	state, reason, err = g.status(ctx, status)
	if err == nil && state == oid4vp.StatePending {
		if perr == nil {
			perr = errors.New("the verdict is late")
		}
		return "", "", false, perr
	}
	return state, reason, true, err
}

// status reads a transaction's status once.
func (g *onlineGate) status(ctx context.Context, path string) (state, reason string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.target+path, nil)
	if err != nil {
		return "", "", err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var s struct{ State, Reason string }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s); err != nil {
		return "", "", fmt.Errorf("status: %w", err)
	}
	return s.State, s.Reason, nil
}

// awaitStatus polls a transaction's status until it is no longer pending.
func (g *onlineGate) awaitStatus(ctx context.Context, path string) (state, reason string, err error) {
	for {
		state, reason, err := g.status(ctx, path)
		if err != nil || state != oid4vp.StatePending {
			return state, reason, err
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// presentDCAPI begins a DC API transaction for the lane's first origin, answers its
// request as the wallet behind navigator.credentials.get would, and posts the answer
// as the page would; the gate answers with the verdict.
func (g *onlineGate) presentDCAPI(ctx context.Context, h *onlineHolder) (state, reason string, answered bool, err error) {
	origin := h.lane.Origins[0]
	var tx struct {
		ID      string          `json:"id"`
		Request json.RawMessage `json:"request"`
	}
	if err := g.post(ctx, online.DCAPITransactions, map[string]string{"lane": h.lane.Lane, "protocol": h.protocol, "origin": origin}, &tx); err != nil {
		return "", "", false, err
	}
	status := online.DCAPITransactions + "/" + url.PathEscape(tx.ID) + "/status"
	data, err := h.wallet.AnswerDCAPI(tx.Request, origin)
	if err != nil {
		return "", "", false, err
	}
	if err := h.wait(ctx); err != nil {
		return "", "", false, err
	}
	switch h.behaviour {
	case Silent:
		state, reason, err := g.awaitStatus(ctx, status)
		return state, reason, false, err
	case Dropping: // the page's post cut in half: not JSON, refused, the transaction stays open
		data = data[:len(data)/2]
	}
	var v struct {
		Outcome string `json:"outcome"`
		Reason  string `json:"reason"`
	}
	if err := g.post(ctx, online.DCAPITransactions+"/"+url.PathEscape(tx.ID)+"/response", data, &v); err != nil {
		return "", "", false, err
	}
	if v.Outcome == "" { // 202: the verdict is late; the status will have it
		state, reason, err := g.awaitStatus(ctx, status)
		return state, reason, true, err
	}
	if v.Outcome == string(readersession.Timeout) {
		return oid4vp.StateError, v.Reason, true, nil
	}
	return v.Outcome, v.Reason, true, nil
}

// onlineWallet is a simulated wallet presenting cred through client, checking the
// gate's request signatures against trust (nil: signature and client_id only), its
// DeviceResponses altered by mutate when set.
func onlineWallet(cred *issuer.Credential, index *holder.Index, trust *verify.TrustStore, client *http.Client, mutate func([]byte) []byte) *oid4vp.Wallet {
	return oid4vp.NewWallet(oid4vp.WalletConfig{Holder: &holder.Presenter{Credentials: []*issuer.Credential{cred}, Index: index},
		Trust: trust, Client: client, AllowHTTP: true, Mutate: mutate})
}

// onlineTarget drives one online lane of a running gate (RunTarget with a Lane).
type onlineTarget struct {
	cfg    TargetConfig
	lane   *onlineLane
	bearer string
	gate   *onlineGate
	wallet *oid4vp.Wallet
	// unanswered counts the holders whose transaction never got an answer to the gate
	// (no verdict expected for it).
	unanswered atomic.Int64
	// perHolder: the gate is on loopback, and each holder comes from its own address
	// with a wallet of its own (cred, index, trust), as phones would: a gate counts its
	// limits per client address.
	perHolder bool
	cred      *issuer.Credential
	index     *holder.Index
	trust     *verify.TrustStore
}

// newOnlineTarget asks the gate what the lane is and makes the wallets.
func newOnlineTarget(ctx context.Context, cfg TargetConfig, cred *issuer.Credential) (*onlineTarget, error) {
	l, err := laneInfo(ctx, cfg.Target, cfg.Lane)
	if err != nil {
		return nil, err
	}
	if cfg.Protocol != "" && l.Bearer == online.BearerDCAPI && !slices.Contains(l.Protocols, cfg.Protocol) {
		return nil, fmt.Errorf("lane %s takes the protocols %v, not %q", cfg.Lane, l.Protocols, cfg.Protocol)
	}
	var trust *verify.TrustStore
	if cfg.ReaderRoot != "" {
		pem, err := os.ReadFile(cfg.ReaderRoot)
		if err != nil {
			return nil, fmt.Errorf("reader root: %w", err)
		}
		roots, err := verify.ParseCertificates(pem)
		if err != nil {
			return nil, fmt.Errorf("reader root %s: %w", cfg.ReaderRoot, err)
		}
		trust = verify.NewTrustStore(roots...)
	}
	g, err := newOnlineGate(cfg.Target, l.Origin, cfg.Concurrency, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	index := holder.NewIndex()
	return &onlineTarget{cfg: cfg, lane: l, bearer: l.Bearer, gate: g, wallet: onlineWallet(cred, index, trust, g.client, nil),
		perHolder: loopbackTargets([]string{cfg.Target}), cred: cred, index: index, trust: trust}, nil
}

func (t *onlineTarget) close() { t.gate.close() }

// runOnlineHolders paces the holders of an online lane run and records each.
func runOnlineHolders(ctx context.Context, cfg TargetConfig, t *onlineTarget, b *builder) {
	pace := newPacer(time.Now(), cfg.Concurrency, cfg.Holders, 0, cfg.Duration, cfg.Progress)
	for i := 0; pace.next(ctx, i); i++ {
		go func() {
			defer pace.done()
			bearer, o, reason, latency := t.holder(ctx, i)
			if o == "" {
				b.busy(Valid)
				return
			}
			b.session(bearer, cfg.Lane, o, reason, latency, time.Now())
			b.holder(Valid, o, false, "", reason, "")
		}()
	}
	pace.wait()
}

// holder runs holder number i through a transaction.
func (t *onlineTarget) holder(ctx context.Context, i int) (bearer string, o readersession.Outcome, reason string, latency time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	protocol := t.cfg.Protocol
	if protocol == "" && len(t.lane.Protocols) > 0 {
		protocol = t.lane.Protocols[i%len(t.lane.Protocols)]
	}
	g, w := t.gate, t.wallet
	if t.perHolder {
		g = t.gate.from(loopbackSource(78, i%60000))
		defer g.close()
		w = onlineWallet(t.cred, t.index, t.trust, g.client, nil)
	}
	t0 := time.Now()
	o, reason, answered := g.present(ctx, &onlineHolder{lane: t.lane, protocol: protocol, wallet: w, behaviour: Valid})
	if o != "" && !answered {
		t.unanswered.Add(1)
	}
	return t.bearer, o, reason, time.Since(t0)
}
