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
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
	"github.com/mdocgate/mdocgate/transports/online"
)

// onlineTarget drives one online lane of a running gate (RunTarget with a Lane).
type onlineTarget struct {
	cfg    TargetConfig
	lane   onlineLane
	bearer string
	client *http.Client
	wallet *oid4vp.Wallet
	// unanswered counts the holders whose transaction never got an answer to the gate
	// (no verdict expected for it).
	unanswered atomic.Int64
}

// onlineLane is what GET /verify/{lane}/lane.json says of a lane.
type onlineLane struct {
	Lane      string   `json:"lane"`
	Bearer    string   `json:"bearer"`
	Origin    string   `json:"origin"`
	Protocols []string `json:"protocols"`
	Origins   []string `json:"origins"`
}

// newOnlineTarget asks the gate what the lane is and makes the wallets' client: it
// dials the target for the gate's origin (a gate on localhost reached as 127.0.0.1).
func newOnlineTarget(ctx context.Context, cfg TargetConfig, cred *issuer.Credential) (*onlineTarget, error) {
	probe := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Target+online.VerifyPath+url.PathEscape(cfg.Lane)+"/lane.json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := probe.Do(req)
	if err != nil {
		return nil, fmt.Errorf("lane %s: %w", cfg.Lane, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("lane %s: the gate answers %s: %s", cfg.Lane, resp.Status, bytes.TrimSpace(body))
	}
	t := &onlineTarget{cfg: cfg}
	if err := json.Unmarshal(body, &t.lane); err != nil {
		return nil, fmt.Errorf("lane %s: %w", cfg.Lane, err)
	}
	t.bearer = t.lane.Bearer
	if t.bearer != online.BearerOID4VP && t.bearer != online.BearerDCAPI {
		return nil, fmt.Errorf("lane %s is a %q lane (want an oid4vp or dcapi lane)", cfg.Lane, t.bearer)
	}
	if cfg.Protocol != "" && t.bearer == online.BearerDCAPI && !contains(t.lane.Protocols, cfg.Protocol) {
		return nil, fmt.Errorf("lane %s takes the protocols %v, not %q", cfg.Lane, t.lane.Protocols, cfg.Protocol)
	}
	if t.bearer == online.BearerDCAPI && len(t.lane.Origins) == 0 {
		return nil, fmt.Errorf("lane %s serves no page origin", cfg.Lane)
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
	target, err := url.Parse(cfg.Target)
	if err != nil {
		return nil, err
	}
	origin, err := url.Parse(t.lane.Origin)
	if err != nil {
		return nil, fmt.Errorf("lane %s: origin %q: %w", cfg.Lane, t.lane.Origin, err)
	}
	from, to := hostPort(origin), hostPort(target)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{MaxIdleConns: 2 * cfg.Concurrency, MaxIdleConnsPerHost: 2 * cfg.Concurrency, IdleConnTimeout: 30 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == from {
				addr = to
			}
			return dialer.DialContext(ctx, network, addr)
		}}
	t.client = &http.Client{Transport: tr, Timeout: cfg.Timeout}
	t.wallet = oid4vp.NewWallet(oid4vp.WalletConfig{Holder: &holder.Presenter{Credentials: []*issuer.Credential{cred}, Index: holder.NewIndex()},
		Trust: trust, Client: t.client, AllowHTTP: true})
	return t, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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

func (t *onlineTarget) close() { t.client.CloseIdleConnections() }

// holder runs one holder through a transaction. Its outcome is the transaction's
// verdict as the gate reports it; "" when the gate was busy.
func (t *onlineTarget) holder(ctx context.Context, i int) (bearer string, o readersession.Outcome, reason string, latency time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	var state string
	var err error
	if t.bearer == online.BearerOID4VP {
		state, reason, err = t.presentOID4VP(ctx)
	} else {
		state, reason, err = t.presentDCAPI(ctx, i)
	}
	latency = time.Since(t0)
	var busy *busyError
	switch {
	case errors.As(err, &busy):
		return t.bearer, "", "", latency
	case err != nil && ctx.Err() != nil:
		t.unanswered.Add(1)
		return t.bearer, readersession.Timeout, "holder_timeout", latency
	case err != nil:
		t.unanswered.Add(1)
		return t.bearer, readersession.Error, "holder: " + shortReason(err), latency
	}
	switch state {
	case oid4vp.StateAccepted:
		return t.bearer, readersession.Accepted, "", latency
	case oid4vp.StateRejected:
		return t.bearer, readersession.Rejected, reason, latency
	case oid4vp.StateExpired:
		t.unanswered.Add(1)
		return t.bearer, readersession.Timeout, "expired", latency
	}
	return t.bearer, readersession.Error, reason, latency
}

// busyError is a 503 from the gate: no transaction, or the answer not taken.
type busyError struct{ what string }

func (e *busyError) Error() string { return "gate busy: " + e.what }

// post sends JSON to the gate and decodes its JSON answer.
func (t *onlineTarget) post(ctx context.Context, path string, body any, out any) error {
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.cfg.Target+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
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

// presentOID4VP begins a transaction, presents to it as a wallet and reads its verdict
// from the status URI.
func (t *onlineTarget) presentOID4VP(ctx context.Context) (state, reason string, err error) {
	var tx struct {
		ID                      string `json:"id"`
		AuthorizationRequestURI string `json:"authorization_request_uri"`
		StatusURI               string `json:"status_uri"`
	}
	if err := t.post(ctx, online.OID4VPTransactions, map[string]string{"lane": t.cfg.Lane}, &tx); err != nil {
		return "", "", err
	}
	perr := t.wallet.Present(ctx, tx.AuthorizationRequestURI)
	var re *oid4vp.ResponseError
	switch {
	case errors.As(perr, &re) && re.Status == http.StatusServiceUnavailable:
		return "", "", &busyError{"response"}
	case perr != nil && !errors.As(perr, &re):
		return "", "", perr // the wallet could not answer: no verdict to read
	}
	return t.awaitStatus(ctx, online.OID4VPTransactions+"/"+url.PathEscape(tx.ID)+"/status")
}

// awaitStatus polls a transaction's status until it is no longer pending.
func (t *onlineTarget) awaitStatus(ctx context.Context, path string) (state, reason string, err error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.cfg.Target+path, nil)
		if err != nil {
			return "", "", err
		}
		resp, err := t.client.Do(req)
		if err != nil {
			return "", "", err
		}
		var s struct{ State, Reason string }
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s)
		resp.Body.Close()
		if err != nil {
			return "", "", fmt.Errorf("status: %w", err)
		}
		if s.State != oid4vp.StatePending {
			return s.State, s.Reason, nil
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
func (t *onlineTarget) presentDCAPI(ctx context.Context, i int) (state, reason string, err error) {
	protocol := t.cfg.Protocol
	if protocol == "" {
		protocol = t.lane.Protocols[i%len(t.lane.Protocols)]
	}
	origin := t.lane.Origins[0]
	var tx struct {
		ID      string          `json:"id"`
		Request json.RawMessage `json:"request"`
	}
	if err := t.post(ctx, online.DCAPITransactions, map[string]string{"lane": t.cfg.Lane, "protocol": protocol, "origin": origin}, &tx); err != nil {
		return "", "", err
	}
	data, err := t.wallet.AnswerDCAPI(tx.Request, origin)
	if err != nil {
		return "", "", err
	}
	var v struct {
		Outcome string `json:"outcome"`
		Reason  string `json:"reason"`
		State   string `json:"state"`
	}
	if err := t.post(ctx, online.DCAPITransactions+"/"+url.PathEscape(tx.ID)+"/response", data, &v); err != nil {
		return "", "", err
	}
	if v.Outcome == "" { // 202: the verdict is late; the status will have it
		return t.awaitStatus(ctx, online.DCAPITransactions+"/"+url.PathEscape(tx.ID)+"/status")
	}
	if v.Outcome == string(readersession.Timeout) {
		return oid4vp.StateError, v.Reason, nil
	}
	return v.Outcome, v.Reason, nil
}
