package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
)

// TransportOID4VP is the transport name of OpenID4VP runs.
const TransportOID4VP = "oid4vp"

// oid4vpBehaviours are the holder behaviours an OpenID4VP run can simulate; others in
// a mix are refused.
var oid4vpBehaviours = map[Behaviour]bool{Valid: true, Slow: true, Tampered: true, Expired: true, Untrusted: true,
	WrongKey: true, Silent: true, Garbage: true, Dropping: true}

// RunOID4VP drives simulated OpenID4VP wallets against in-process verifiers over
// HTTP on loopback: each holder begins a transaction, fetches and checks the signed
// request object (GET, or POST for every third holder), builds its DeviceResponse and
// posts it in the clear (direct_post) or encrypted (direct_post.jwt, every other
// holder). cfg.Lanes verifiers alternate the client_id prefixes x509_san_dns and
// x509_hash. cfg.Timeout is the transaction lifetime (default 2 s). The verdict of
// each holder is the verifier's outcome: accepted, rejected (verification failed),
// error (input refused as malformed) or timeout (never answered); it is checked
// against the behaviour's expected verdict.
//
// Behaviours: valid, slow, expired, untrusted, tampered and wrong_key (the
// DeviceResponse altered as a proximity holder alters it: holdersession.Misbehaviour's
// Apply), silent (never answers), garbage (holdersession.Garbage instead of a
// DeviceResponse) and dropping (the response body cut in half: refused as malformed).
func RunOID4VP(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Holders <= 0 && cfg.Duration <= 0 {
		return nil, errors.New("give a number of holders or a duration")
	}
	for _, m := range cfg.Mix {
		if !oid4vpBehaviours[m.Behaviour] {
			return nil, fmt.Errorf("behaviour %q is not simulated over %s", m.Behaviour, TransportOID4VP)
		}
	}
	if cfg.Lanes <= 0 {
		cfg.Lanes = 1
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	w, err := newWorld()
	if err != nil {
		return nil, err
	}
	root, err := issuer.NewReaderAuthority(issuer.IACAOptions{CommonName: "sim verifier root"})
	if err != nil {
		return nil, err
	}
	rc, err := root.NewReaderCert(issuer.ReaderOptions{CommonName: "sim verifier", Also23220: true, DNSNames: []string{"localhost"}})
	if err != nil {
		return nil, err
	}
	ident, err := oid4vp.NewIdentity(rc.Key, rc.Chain)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	mux := http.NewServeMux()
	type lane struct {
		name string
		v    *oid4vp.Verifier
	}
	var lanes []lane
	cache := verify.NewChainCache(64)
	for i := 0; i < cfg.Lanes; i++ {
		prefix := []string{oid4vp.PrefixX509SanDNS, oid4vp.PrefixX509Hash}[i%2]
		name := fmt.Sprintf("%s-%d", TransportOID4VP, i+1)
		v, err := oid4vp.NewVerifier(oid4vp.VerifierConfig{BaseURL: fmt.Sprintf("http://localhost:%d/%s", port, name),
			Identity: ident, ClientIDPrefix: prefix, Trust: w.trust, Cache: cache, TTL: cfg.Timeout,
			MaxTransactions: max(1024, 4*cfg.Concurrency)})
		if err != nil {
			ln.Close()
			return nil, err
		}
		mux.Handle("/"+name+"/", v.Handler())
		lanes = append(lanes, lane{name, v})
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		_ = srv.Serve(ln)
	}()
	dialer := &net.Dialer{}
	transport := &http.Transport{
		// the verifier's x509_san_dns name is localhost; dial it on the IPv4 loopback we listen on
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, p, err := net.SplitHostPort(addr); err == nil && host == "localhost" {
				addr = net.JoinHostPort("127.0.0.1", p)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns: 2 * cfg.Concurrency, MaxIdleConnsPerHost: 2 * cfg.Concurrency, IdleConnTimeout: 30 * time.Second,
	}
	client := &http.Client{Transport: transport, Timeout: cfg.Timeout + 5*time.Second}
	walletTrust := verify.NewTrustStore(root.Certificate)

	start := time.Now()
	b := newBuilder(start, cfg.Interval)
	stopSampling := sampleEvery(b, SampleResources, sampleThisProcess)
	defer stopSampling()

	pace := newPacer(start, cfg.Concurrency, cfg.Holders, cfg.Rate, cfg.Duration, cfg.Progress)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	for i := 0; pace.next(ctx, i); i++ {
		beh := pick(cfg.Mix, rng)
		l := lanes[i%len(lanes)]
		cred := w.valid[i%len(w.valid)]
		switch beh {
		case Expired:
			cred = w.expired
		case Untrusted:
			cred = w.untrusted
		}
		wcfg := oid4vp.WalletConfig{Holder: &holder.Presenter{Credentials: []*issuer.Credential{cred}}, Trust: walletTrust,
			Client: client, AllowHTTP: true}
		switch beh {
		case Tampered:
			wcfg.Mutate = misbehave(holdersession.TamperElement)
		case WrongKey:
			wcfg.Mutate = misbehave(holdersession.WrongDeviceKey)
		case Garbage:
			wcfg.Mutate = func([]byte) []byte { return holdersession.Garbage() }
		}
		think := cfg.Think
		if beh == Slow {
			think = cfg.Think*20 + cfg.Timeout/4
		}
		opts := oid4vp.RequestOptions{Query: oid4vpQuery(), Encrypted: i%2 == 1}
		if i%3 == 0 {
			opts.RequestURIMethod = "post"
		}
		go func() {
			defer pace.done()
			o, reason, lat := oid4vpHolder(ctx, l.v, oid4vp.NewWallet(wcfg), opts, beh, think)
			b.session(TransportOID4VP, l.name, o, reason, lat, time.Now())
			b.holder(beh, o, true, l.name, reason, "")
		}()
	}
	pace.wait()
	end := time.Now()
	stopSampling()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	shutdownErr := srv.Shutdown(shutdownCtx)
	cancel()
	<-serveDone
	transport.CloseIdleConnections()

	rep := b.finish(end)
	rep.Transport = TransportOID4VP
	rep.NotMeasured["air_time_seconds"] = "not modelled on " + TransportOID4VP
	rep.NotMeasured["restarts"] = "no actor tree: the verifiers run on HTTP handlers"
	rep.NotMeasured["panics"] = rep.NotMeasured["restarts"]
	runtime.GC()
	rep.GoroutinesEnd = runtime.NumGoroutine()
	rep.PeakRSSBytes = peakRSS()
	rep.ResourcesOf = ResourcesThisProcess
	return rep, shutdownErr
}

// misbehave alters a DeviceResponse as the simulated holder's misbehaviour m does.
func misbehave(m holdersession.Misbehaviour) func([]byte) []byte {
	return func(dr []byte) []byte {
		resp, err := messages.DecodeDeviceResponse(dr)
		if err != nil {
			return dr
		}
		m.Apply(resp)
		out, err := messages.Marshal(resp)
		if err != nil {
			return dr
		}
		return out
	}
}

// oid4vpQuery asks for the five elements of the default session shape.
func oid4vpQuery() *oid4vp.DCQL {
	var claims []oid4vp.ClaimQuery
	for _, el := range defaultElements {
		claims = append(claims, oid4vp.Claim(issuer.NamespaceMDL, el, el == "age_over_18"))
	}
	return oid4vp.MdocQuery("mdl", issuer.DocTypeMDL, claims...)
}

// oid4vpHolder runs one wallet through a transaction and returns the verifier's verdict.
func oid4vpHolder(ctx context.Context, v *oid4vp.Verifier, wallet *oid4vp.Wallet, opts oid4vp.RequestOptions,
	b Behaviour, think time.Duration) (readersession.Outcome, string, time.Duration) {
	start := time.Now()
	tx, err := v.Begin(opts)
	if err != nil {
		return readersession.Error, "begin", time.Since(start)
	}
	err = func() error {
		inv, err := oid4vp.ParseInvocation(tx.InvocationURI)
		if err != nil {
			return err
		}
		req, err := wallet.Fetch(ctx, inv)
		if err != nil {
			return err
		}
		if think > 0 {
			select {
			case <-time.After(think):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if b == Silent {
			return nil
		}
		form, err := wallet.ResponseForm(req)
		if err != nil {
			return err
		}
		if b == Dropping {
			for k, vs := range form {
				form[k] = []string{vs[0][:len(vs[0])/2]}
			}
		}
		return wallet.Post(ctx, req.Claims.ResponseURI, form)
	}()
	if err != nil {
		if out, ok := tx.Outcome(); ok {
			o, reason := classifyOID4VP(out)
			return o, reason, time.Since(start)
		}
		var re *oid4vp.ResponseError
		switch {
		case errors.As(err, &re) && re.Status == http.StatusGone:
			return readersession.Timeout, "expired", time.Since(start)
		case errors.As(err, &re):
			return readersession.Error, fmt.Sprintf("refused: HTTP %d", re.Status), time.Since(start)
		}
		return readersession.Error, "wallet: " + shortReason(err), time.Since(start)
	}
	out, werr := v.Wait(ctx, tx)
	if werr != nil {
		return readersession.Timeout, "cancelled", time.Since(start)
	}
	o, reason := classifyOID4VP(out)
	return o, reason, time.Since(start)
}

// classifyOID4VP maps a verifier outcome to a session outcome and a short reason.
func classifyOID4VP(out *oid4vp.Outcome) (readersession.Outcome, string) {
	switch {
	case out.Valid:
		return readersession.Accepted, ""
	case errors.Is(out.Err, oid4vp.ErrExpired):
		return readersession.Timeout, "expired"
	case errors.Is(out.Err, oid4vp.ErrMalformed):
		return readersession.Error, "malformed"
	}
	for _, list := range out.Presentations {
		for _, r := range list {
			if len(r.Documents) == 0 && len(r.Errors) > 0 {
				return readersession.Error, "undecodable DeviceResponse"
			}
			for _, d := range r.Documents {
				for _, c := range d.Checks {
					if !c.OK && c.Severity == "error" {
						return readersession.Rejected, c.Name
					}
				}
			}
		}
	}
	return readersession.Rejected, shortReason(out.Err)
}

func shortReason(err error) string {
	if err == nil {
		return ""
	}
	s := strings.TrimPrefix(err.Error(), "oid4vp: ")
	if i := strings.IndexAny(s, ":("); i > 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}
