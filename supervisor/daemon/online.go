package daemon

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
	"github.com/mdocgate/mdocgate/transports/online"
)

// The online lanes (bearer oid4vp or dcapi) on the web listener: OpenID4VP 1.0 and the
// W3C Digital Credentials API (transports/online). Their answers go through the
// engine like any session; their verdicts come back to the transactions here.

// OnlineConfig are the gate-wide settings of the online lanes (online:).
type OnlineConfig struct {
	// MaxPending bounds the open transactions of all online lanes (default 100000),
	// PendingPerClient those of one client — an IPv4 address, an IPv6 /64 (default 32;
	// negative: no bound per client). A client's transactions also count in its shares
	// of limits: (engagements_per_client with its engagements, engagements_per_second;
	// its answers in sessions_per_client, its QR images in qr_per_second).
	MaxPending       int `yaml:"max_pending"`
	PendingPerClient int `yaml:"pending_per_client"`
	// ResponseTimeout bounds how long a wallet's (or a page's) answer waits for its
	// verdict (default 30s); the status URI has it after that.
	ResponseTimeout time.Duration `yaml:"response_timeout"`
}

// OnlineLaneConfig are the fields of an online lane (inline in the lane).
type OnlineLaneConfig struct {
	// ResponseMode: oid4vp lanes direct_post or direct_post.jwt (default), dcapi lanes
	// dc_api or dc_api.jwt (default; for the OpenID4VP protocols, org-iso-mdoc answers
	// are always sealed with HPKE).
	ResponseMode string `yaml:"response_mode"`
	// RequestURIMethod (oid4vp): get (default) or post (the wallet posts a wallet_nonce).
	RequestURIMethod string `yaml:"request_uri_method"`
	// ClientIDPrefix: x509_san_dns (default: the reader certificate's DNS name must be
	// the origin's host) or x509_hash.
	ClientIDPrefix string `yaml:"client_id_prefix"`
	// AnnexBHandover (oid4vp) also accepts older wallets signing the 18013-7:2024 Annex B
	// handover (encrypted responses only). Default false.
	AnnexBHandover bool `yaml:"annex_b_handover"`
	// TransactionTTL is how long a transaction waits for its answer (default 2m).
	TransactionTTL time.Duration `yaml:"transaction_ttl"`
	// Protocols (dcapi): org-iso-mdoc, openid4vp-v1-signed, openid4vp-v1-unsigned
	// (default all three, in that order of preference).
	Protocols []string `yaml:"protocols"`
	// Origins (dcapi): the page origins the lane serves (default the gate's origin).
	Origins []string `yaml:"origins"`
	// Fallback (dcapi): the oid4vp lane whose QR code the verifier page shows in a
	// browser without the Digital Credentials API.
	Fallback string `yaml:"fallback"`
	// Title is the verifier page's heading (default the lane's name).
	Title string `yaml:"title"`
}

// isOnline reports whether the lane is an online lane.
func (l *LaneConfig) isOnline() bool {
	return l.Bearer == online.BearerOID4VP || l.Bearer == online.BearerDCAPI
}

// validateOnline checks (and defaults) the online fields of a lane; err names the
// field after the lane's prefix.
func (l *LaneConfig) validateOnline(hasReaderAuth bool) error {
	o := &l.OnlineLaneConfig
	if !l.isOnline() {
		if o.ResponseMode != "" || o.RequestURIMethod != "" || o.ClientIDPrefix != "" || o.AnnexBHandover ||
			o.TransactionTTL != 0 || len(o.Protocols) > 0 || len(o.Origins) > 0 || o.Fallback != "" || o.Title != "" {
			return bad("bearer", "response_mode, request_uri_method, client_id_prefix, annex_b_handover, transaction_ttl, "+
				"protocols, origins, fallback and title are for oid4vp and dcapi lanes (this lane is %s)", l.Bearer)
		}
		return nil
	}
	switch {
	case l.plain():
		return bad("profile", "an online lane needs a profile")
	case !hasReaderAuth:
		return bad("bearer", "a %s lane signs its requests with reader_auth (key and certificate chain): give reader_auth", l.Bearer)
	case o.TransactionTTL < 0:
		return bad("transaction_ttl", "must not be negative")
	case o.ClientIDPrefix != "" && o.ClientIDPrefix != oid4vp.PrefixX509SanDNS && o.ClientIDPrefix != oid4vp.PrefixX509Hash:
		return bad("client_id_prefix", "unknown prefix %q (want x509_san_dns or x509_hash)", o.ClientIDPrefix)
	}
	modes := []string{oid4vp.ModeDirectPostJWT, oid4vp.ModeDirectPost}
	if l.Bearer == online.BearerDCAPI {
		modes = []string{oid4vp.ModeDCAPIJWT, oid4vp.ModeDCAPI}
		switch {
		case o.RequestURIMethod != "":
			return bad("request_uri_method", "only oid4vp lanes fetch a request_uri")
		case o.AnnexBHandover:
			return bad("annex_b_handover", "only oid4vp lanes")
		}
		for i, p := range o.Protocols {
			if !slices.Contains(online.Protocols, p) {
				return bad(fmt.Sprintf("protocols[%d]", i), "unknown protocol %q (want %s, %s or %s)", p,
					online.Protocols[0], online.Protocols[1], online.Protocols[2])
			}
		}
		for i, origin := range o.Origins {
			if err := oid4vp.CheckOrigin(origin); err != nil {
				return bad(fmt.Sprintf("origins[%d]", i), "%v", err)
			}
		}
	} else if len(o.Protocols) > 0 || len(o.Origins) > 0 || o.Fallback != "" {
		return bad("protocols", "protocols, origins and fallback are for dcapi lanes")
	} else if o.RequestURIMethod != "" && o.RequestURIMethod != "get" && o.RequestURIMethod != "post" {
		return bad("request_uri_method", "%q (want get or post)", o.RequestURIMethod)
	}
	if o.ResponseMode == "" {
		o.ResponseMode = modes[0]
	}
	if !slices.Contains(modes, o.ResponseMode) {
		return bad("response_mode", "%q (want %s or %s)", o.ResponseMode, modes[0], modes[1])
	}
	return nil
}

// validateOnlineLanes checks what involves several lanes: a dcapi lane's fallback is an
// oid4vp lane, lane names fit in URLs. err names the field.
func (c *Config) validateOnlineLanes() error {
	bearerOf := map[string]string{}
	for _, l := range c.Lanes {
		bearerOf[l.Name] = l.Bearer
	}
	for i, l := range c.Lanes {
		if !l.isOnline() {
			continue
		}
		for _, r := range l.Name {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return bad(fmt.Sprintf("lanes[%d].name", i), "an online lane's name is part of URLs: letters, digits, '-' and '_' only")
			}
		}
		if f := l.Fallback; f != "" && bearerOf[f] != online.BearerOID4VP {
			return bad(fmt.Sprintf("lanes[%d].fallback", i), "%q is not an oid4vp lane", f)
		}
	}
	if c.Online.MaxPending < 0 {
		return bad("online.max_pending", "must not be negative")
	}
	if c.Online.ResponseTimeout < 0 {
		return bad("online.response_timeout", "must not be negative")
	}
	return nil
}

// newOnline builds the online lanes' server on the web server's origin, when the gate
// has online lanes.
func (g *Gate) newOnline(readAuth request.Signer) error {
	var lanes []online.LaneConfig
	for _, l := range g.lanes {
		if !l.cfg.isOnline() {
			continue
		}
		o := l.cfg.OnlineLaneConfig
		// the request is fixed for the transactions' queries: a reload that changes the
		// profile's request takes a restart to reach an online lane
		lanes = append(lanes, online.LaneConfig{Name: l.cfg.Name, Bearer: l.cfg.Bearer, Docs: l.rules.Load().request,
			ClientIDPrefix: o.ClientIDPrefix, Encrypted: o.ResponseMode == oid4vp.ModeDirectPostJWT || o.ResponseMode == oid4vp.ModeDCAPIJWT,
			RequestURIMethod: o.RequestURIMethod, Protocols: o.Protocols, Origins: o.Origins, AnnexBHandover: o.AnnexBHandover,
			TTL: o.TransactionTTL, Fallback: o.Fallback, Title: o.Title, Backlog: min(l.cfg.MaxInFlight, 1024),
			MaxResponse: l.maxMessage()})
	}
	if len(lanes) == 0 {
		return nil
	}
	rk, ok := readAuth.(*request.ReaderKey)
	if !ok {
		return bad("reader_auth", "the online lanes need reader_auth's key and chain")
	}
	ident, err := oid4vp.NewIdentity(rk.Key, rk.Chain)
	if err != nil {
		return &fieldError{"reader_auth", err}
	}
	for i := range lanes {
		lanes[i].Identity = ident
	}
	// the online lanes count their clients in the web listener's shares (limits:):
	// transactions with engagements, answers with sessions, QR images with QR images
	srv, err := online.NewServer(online.Config{Origin: g.srv.Origin(), Lanes: lanes, MaxPending: g.cfg.Online.MaxPending,
		PendingPerClient: g.cfg.Online.PendingPerClient, ResponseTimeout: g.cfg.Online.ResponseTimeout,
		Clients: g.srv.Clients(), Busy: g.onlineBusy,
		OnRefused: func(lane, reason string) { g.refused.WithLabelValues(lane, reason).Inc() }})
	if err != nil {
		return &fieldError{"lanes", err}
	}
	g.online = srv
	h := srv.Handler()
	for _, p := range []string{"/oid4vp/", "/dcapi/", online.VerifyPath} {
		g.srv.Handle(p, h)
	}
	return nil
}

// onlineBusy is the online server's Busy: whether the online lane name would turn an
// answer away now — it runs its max_in_flight, or verification is backed up — counted
// as the lane's own refusals are (as webBusy does for the web lanes).
func (g *Gate) onlineBusy(name string) bool {
	for _, l := range g.lanes {
		if l.cfg.Name != name || !l.cfg.isOnline() {
			continue
		}
		if l.inFlight.Load() < int64(l.cfg.MaxInFlight) && !g.cryptoBackedUp() {
			return false
		}
		l.busy.Add(1)
		if g.eng != nil {
			g.eng.Counters().Busy.Add(1)
		}
		return true
	}
	return false
}

// onlineVerdict hands a verdict of an online lane back to its transaction: the state
// the status URI reports and the verdict JSON the page shows (the gate's action and,
// from a presentation that verified, the disclosed elements the lane's profile lets it
// show; never the others).
func (g *Gate) onlineVerdict(l *lane, sv *actors.SessionVerdict, v Verdict) {
	state := oid4vp.StateError
	switch sv.Outcome {
	case readersession.Accepted:
		state = oid4vp.StateAccepted
	case readersession.Rejected:
		state = oid4vp.StateRejected
	}
	body := onlineVerdictJSON{Verdict: v, Elements: map[string]map[string]any{}}
	p := l.rules.Load().profile
	if sv.Result != nil && sv.Result.Valid && p != nil { // authentic values only
		for _, d := range sv.Result.Documents {
			for ns, els := range d.Elements {
				for id, val := range els {
					if p.Shows(ns, id) {
						if body.Elements[ns] == nil {
							body.Elements[ns] = map[string]any{}
						}
						body.Elements[ns][id] = val
					}
				}
			}
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		b, _ = json.Marshal(v)
	}
	g.online.Complete(l.cfg.Name, sv.SessionID, online.Verdict{State: state, Reason: sv.Reason, Body: b})
}

// onlineVerdictJSON is the verdict an online lane's page gets.
type onlineVerdictJSON struct {
	Verdict
	// Elements are the disclosed values the profile lets be shown, by name space.
	Elements map[string]map[string]any `json:"elements"`
}
