package trust

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Defaults of StatusClient.
const (
	DefaultStatusMaxBody    = 1 << 20 // bytes of one download (token or CRL)
	DefaultStatusTimeout    = 5 * time.Second
	DefaultStatusTTL        = 5 * time.Minute // a token without ttl or exp, a CRL before its nextUpdate
	DefaultStatusMaxTTL     = 24 * time.Hour  // cap on any freshness
	DefaultStatusMinRefresh = 30 * time.Second
	DefaultStatusMaxLists   = 256      // cached lists and CRLs
	DefaultStatusMaxTotal   = 64 << 20 // bytes held by the cache
	DefaultStatusIdle       = 24 * time.Hour
	maxRedirects            = 3
	maxAnchorMemo           = 16
	maxRefreshMargin        = 5 * time.Minute
)

// Kinds of cached revocation data (the kind label of the metrics).
const (
	KindStatusList = "status_list"
	KindCRL        = "crl"
)

// ErrStatusUnavailable marks a lookup that found no usable list or CRL (network,
// server, size bound, expiry, staleness): the case the fail-open policy covers. Any other
// error (a bad signature, an untrusted signer, a sub that does not match, an index out
// of range) always fails closed.
var ErrStatusUnavailable = errors.New("revocation status unavailable")

// StatusClient fetches, verifies and caches revocation data: token status lists (the
// MSO's status reference) and CRLs (a DS or reader certificate's CRL distribution
// point), and answers verify.Revocation. Set its fields before first use; it is safe for
// concurrent use, and concurrent lookups of one URI share a single download.
//
// Freshness: a status list is fresh until the earliest of its exp and fetch time + ttl
// (DefaultTTL without one, clamped to MinRefresh..MaxTTL); a CRL until the earliest of
// its nextUpdate and fetch time + DefaultTTL. Past that a lookup fetches again; when that
// fails the old copy serves for StaleIfError more (a status list never past its exp, a
// CRL never past nextUpdate + StaleIfError), and after it the check fails closed, or
// passes with a note when FailOpen is set. Run refreshes cached entries before they
// go stale.
//
// Only what a lookup names is fetched, and lookups come from verify only after the
// credential's signature and chain verified, so the URIs are the trusted issuers'.
type StatusClient struct {
	// Keys are status list signing keys accepted for tokens that carry no certificate
	// (see KeysFromCertificates). Tokens with an x5chain are checked against the
	// credential's trust anchor instead.
	Keys []crypto.PublicKey
	// HTTP is the client used (nil: http.DefaultClient's settings); unless it has its
	// own CheckRedirect, at most 3 redirects are followed, to http(s) only and never from
	// https to http.
	HTTP *http.Client
	// Timeout bounds one download (default DefaultStatusTimeout).
	Timeout time.Duration
	// MaxBody bounds one download, MaxList a decompressed status list.
	MaxBody, MaxList int64
	// DefaultTTL is the freshness of a token without exp or ttl and of a CRL; MinRefresh
	// and MaxTTL bound any freshness.
	DefaultTTL, MinRefresh, MaxTTL time.Duration
	// StaleIfError is how long past its freshness a copy still serves while fetching
	// fails (0: not at all).
	StaleIfError time.Duration
	// RetryAfter is how long after a failed fetch lookups answer from the failure (or
	// the stale copy) instead of fetching again (0: fetch at every lookup).
	RetryAfter time.Duration
	// FailOpen makes a check pass, with a note, when no usable list or CRL can be had
	// (ErrStatusUnavailable); by default it fails.
	FailOpen bool
	// Offline never fetches: only what SetOffline loaded is used.
	Offline bool
	// RequireHTTPS refuses http:// URIs.
	RequireHTTPS bool
	// MaxLists and MaxTotal bound the cache (entries, bytes); Idle drops entries no
	// lookup used for that long.
	MaxLists int
	MaxTotal int64
	Idle     time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	entries  map[string]*entry // by key(kind, uri); offline CRLs under "crl file N"
	inflight map[string]*statusCall
	total    int64
	stats    map[string]*kindStats
}

type kindStats struct {
	hits, fetches, failures, stale, failOpen uint64
}

// entry is one cached list or CRL, or the memory of a failure to get one.
type entry struct {
	kind, uri string
	list      *StatusList
	crl       *crlData
	size      int64
	offline   bool
	fetched   time.Time // last success
	fresh     time.Time // fresh until
	exp       time.Time // a token's exp: never used after (zero: none)
	next      time.Time // a CRL's nextUpdate: used at most StaleIfError after (zero: none)
	lastErr   error
	nextTry   time.Time
	lastUsed  time.Time
	anchors   map[*x509.Certificate]error // signer checked against an anchor
}

type statusCall struct {
	done chan struct{}
	e    *entry
	err  error
}

// KeysFromCertificates returns the public keys of certificates, for StatusClient.Keys.
func KeysFromCertificates(certs ...*x509.Certificate) []crypto.PublicKey {
	out := make([]crypto.PublicKey, 0, len(certs))
	for _, c := range certs {
		out = append(out, c.PublicKey)
	}
	return out
}

func (c *StatusClient) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func orDefault[T int | int64 | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

func entryKey(kind, uri string) string { return kind + " " + uri }

func (c *StatusClient) kind(k string) *kindStats {
	if c.stats == nil {
		c.stats = map[string]*kindStats{}
	}
	s := c.stats[k]
	if s == nil {
		s = &kindStats{}
		c.stats[k] = s
	}
	return s
}

// usable reports whether e holds data a lookup may use at now: fresh, or stale by at
// most staleIfError, never past a token's exp nor staleIfError past a CRL's nextUpdate.
func (e *entry) usable(now time.Time, staleIfError time.Duration) bool {
	return (e.list != nil || e.crl != nil) && now.Before(e.fresh.Add(staleIfError)) &&
		(e.exp.IsZero() || now.Before(e.exp)) && (e.next.IsZero() || now.Before(e.next.Add(staleIfError)))
}

// isFresh reports whether e is within its freshness.
func (e *entry) isFresh(now time.Time) bool { return e.usable(now, 0) }

// get returns the entry for uri: fresh from the cache, fetched, or stale within bounds
// (then with a note). The error wraps ErrStatusUnavailable when nothing usable exists
// for reasons of availability.
func (c *StatusClient) get(ctx context.Context, kind, uri string) (*entry, string, error) {
	key := entryKey(kind, uri)
	now := c.now()
	c.mu.Lock()
	e := c.entries[key]
	if e != nil {
		e.lastUsed = now
		if e.isFresh(now) {
			c.kind(kind).hits++
			c.mu.Unlock()
			return e, "", nil
		}
	}
	canFetch := !c.Offline && (e == nil || !e.offline) && (e == nil || !now.Before(e.nextTry))
	if e != nil && e.usable(now, c.StaleIfError) && (e.lastErr != nil || c.inflight[key] != nil) {
		// the last fetch failed, or one is under way: serve the copy at once rather than
		// hold a verifier for a download; Run (or the next lookup past the bound) retries
		canFetch = false
	}
	c.mu.Unlock()

	var err error
	if canFetch {
		var ne *entry
		if ne, err = c.fetch(ctx, kind, uri); err == nil {
			return ne, "", nil
		}
	} else if e != nil && e.lastErr != nil {
		err = e.lastErr
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if e = c.entries[key]; e != nil && e.usable(now, c.StaleIfError) {
		c.kind(kind).stale++
		why := "a refresh under way"
		if err == nil {
			err = e.lastErr
		}
		if err != nil {
			why = "refresh failing: " + err.Error()
		}
		return e, fmt.Sprintf("stale %s %s (fetched %s, %s) used within the stale-if-error bound of %s",
			kindName(kind), uri, rfc3339(e.fetched), why, c.StaleIfError), nil
	}
	switch {
	case err != nil:
		return nil, "", err
	case e != nil && (e.list != nil || e.crl != nil):
		return nil, "", fmt.Errorf("%w: %s %s expired or stale (fetched %s)", ErrStatusUnavailable, kindName(kind), uri, rfc3339(e.fetched))
	case c.Offline || (e != nil && e.offline):
		return nil, "", fmt.Errorf("%w: no %s %s loaded (offline)", ErrStatusUnavailable, kindName(kind), uri)
	}
	return nil, "", fmt.Errorf("%w: no %s %s", ErrStatusUnavailable, kindName(kind), uri)
}

func kindName(kind string) string {
	if kind == KindCRL {
		return "CRL"
	}
	return "status list"
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// fetch downloads uri once for all concurrent callers and stores the result.
func (c *StatusClient) fetch(ctx context.Context, kind, uri string) (*entry, error) {
	key := entryKey(kind, uri)
	c.mu.Lock()
	if call, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.e, call.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrStatusUnavailable, ctx.Err())
		}
	}
	if c.inflight == nil {
		c.inflight = map[string]*statusCall{}
	}
	if c.entries == nil {
		c.entries = map[string]*entry{}
	}
	call := &statusCall{done: make(chan struct{})}
	c.inflight[key] = call
	c.kind(kind).fetches++
	c.mu.Unlock()

	ne, err := c.download(ctx, kind, uri)
	now := c.now()
	c.mu.Lock()
	delete(c.inflight, key)
	if err == nil {
		err = c.store(key, ne, now)
	}
	if err != nil {
		c.kind(kind).failures++
		e := c.entries[key]
		if e == nil && len(c.entries) < orDefault(c.MaxLists, DefaultStatusMaxLists) {
			e = &entry{kind: kind, uri: uri, lastUsed: now}
			c.entries[key] = e
		}
		if e != nil {
			e.lastErr, e.nextTry = err, now.Add(c.RetryAfter)
		}
	} else {
		ne.lastUsed = now
	}
	call.e, call.err = ne, err
	c.mu.Unlock()
	close(call.done)
	if err != nil {
		return nil, err
	}
	return ne, nil
}

// store puts a fetched entry in the cache within the bounds; c.mu is held.
func (c *StatusClient) store(key string, ne *entry, now time.Time) error {
	old := c.entries[key]
	var oldSize int64
	if old != nil {
		oldSize = old.size
	}
	if old == nil && len(c.entries) >= orDefault(c.MaxLists, DefaultStatusMaxLists) {
		c.evictIdle(now)
	}
	if old == nil && len(c.entries) >= orDefault(c.MaxLists, DefaultStatusMaxLists) {
		return fmt.Errorf("%w: the cache holds %d lists and CRLs already (max_lists)", ErrStatusUnavailable, len(c.entries))
	}
	if maxTotal := orDefault(c.MaxTotal, DefaultStatusMaxTotal); c.total-oldSize+ne.size > maxTotal {
		return fmt.Errorf("%w: %s would take the cache over %d bytes (max_total_bytes)", ErrStatusUnavailable, ne.uri, maxTotal)
	}
	c.total += ne.size - oldSize
	if old != nil {
		ne.lastUsed = old.lastUsed
	}
	c.entries[key] = ne
	return nil
}

// evictIdle drops online entries no lookup used within Idle; c.mu is held.
func (c *StatusClient) evictIdle(now time.Time) {
	idle := orDefault(c.Idle, DefaultStatusIdle)
	for k, e := range c.entries {
		if !e.offline && now.Sub(e.lastUsed) > idle {
			c.total -= e.size
			delete(c.entries, k)
		}
	}
}

// download fetches, decodes and checks one token or CRL, and computes its freshness.
func (c *StatusClient) download(ctx context.Context, kind, uri string) (*entry, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, integrity(fmt.Errorf("%s: uri %q is not an http(s) URL", kindName(kind), uri))
	}
	if c.RequireHTTPS && u.Scheme != "https" {
		return nil, integrity(fmt.Errorf("%s: uri %q is not https", kindName(kind), uri))
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(c.Timeout, DefaultStatusTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, integrity(fmt.Errorf("%s: %w", kindName(kind), err))
	}
	accept := MediaTypeStatusListCWT + ", " + MediaTypeStatusListJWT + ";q=0.9"
	if kind == KindCRL {
		accept = "application/pkix-crl"
	}
	req.Header.Set("Accept", accept)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: fetching %s: %w", ErrStatusUnavailable, kindName(kind), uri, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: fetching %s: HTTP %d", ErrStatusUnavailable, kindName(kind), uri, resp.StatusCode)
	}
	maxBody := orDefault(c.MaxBody, DefaultStatusMaxBody)
	if resp.ContentLength > maxBody {
		return nil, fmt.Errorf("%w: %s: %s: %w: %d bytes announced, limit %d", ErrStatusUnavailable, kindName(kind), uri, ErrStatusTooLarge, resp.ContentLength, maxBody)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading %s: %w", ErrStatusUnavailable, kindName(kind), uri, err)
	}
	if int64(len(body)) > maxBody {
		return nil, fmt.Errorf("%w: %s: %s: %w: body over %d bytes", ErrStatusUnavailable, kindName(kind), uri, ErrStatusTooLarge, maxBody)
	}
	now := c.now()
	if kind == KindCRL {
		d, err := decodeCRL(body)
		if err != nil {
			return nil, integrity(fmt.Errorf("CRL %s: %w", uri, err))
		}
		return c.crlEntry(uri, d, now, false), nil
	}
	l, err := c.decodeToken(body, resp.Header.Get("Content-Type"), uri)
	if err != nil {
		return nil, err
	}
	return c.listEntry(l, now, false)
}

// decodeToken decodes a downloaded token and checks that it is the one referenced: its
// form agrees with the Content-Type, its sub is uri, and it has not expired.
func (c *StatusClient) decodeToken(body []byte, contentType, uri string) (*StatusList, error) {
	l, err := DecodeStatusListToken(body, c.Keys, orDefault(c.MaxList, DefaultStatusMaxList))
	if err != nil {
		if errors.Is(err, ErrStatusTooLarge) {
			return nil, fmt.Errorf("%w: status list %s: %w", ErrStatusUnavailable, uri, err)
		}
		return nil, integrity(fmt.Errorf("status list %s: %w", uri, err))
	}
	if mt, _, _ := mime.ParseMediaType(contentType); (mt == MediaTypeStatusListCWT && l.Format != "cwt") || (mt == MediaTypeStatusListJWT && l.Format != "jwt") {
		return nil, integrity(fmt.Errorf("status list %s: Content-Type %s but the body is a %s token (CWT/JWT mismatch)", uri, mt, strings.ToUpper(l.Format)))
	}
	if l.URI != uri {
		return nil, integrity(fmt.Errorf("status list %s: sub %q does not match the referenced uri", uri, l.URI))
	}
	if !l.Expires.IsZero() && !c.now().Before(l.Expires) {
		return nil, fmt.Errorf("%w: status list %s: %w at %s", ErrStatusUnavailable, uri, ErrStatusExpired, rfc3339(l.Expires))
	}
	return l, nil
}

// listEntry computes a status list's freshness. Offline lists stay fresh until exp (or
// iat + MaxTTL without one): nothing could refresh them.
func (c *StatusClient) listEntry(l *StatusList, now time.Time, offline bool) (*entry, error) {
	maxTTL := orDefault(c.MaxTTL, DefaultStatusMaxTTL)
	e := &entry{kind: KindStatusList, uri: l.URI, list: l, size: l.size(), offline: offline, fetched: now, exp: l.Expires}
	if offline {
		e.fresh = l.IssuedAt.Add(maxTTL)
	} else {
		ttl := min(max(orDefault(l.TTL, orDefault(c.DefaultTTL, DefaultStatusTTL)), orDefault(c.MinRefresh, DefaultStatusMinRefresh)), maxTTL)
		e.fresh = now.Add(ttl)
	}
	if !l.Expires.IsZero() && l.Expires.Before(e.fresh) {
		e.fresh = l.Expires
	}
	return e, nil
}

// crlEntry computes a CRL's freshness: until nextUpdate (offline) or the earliest of
// nextUpdate and now + DefaultTTL, usable stale until nextUpdate + StaleIfError at most.
func (c *StatusClient) crlEntry(uri string, d *crlData, now time.Time, offline bool) *entry {
	e := &entry{kind: KindCRL, uri: uri, crl: d, size: int64(len(d.rl.Raw)), offline: offline, fetched: now, next: d.rl.NextUpdate}
	next := d.rl.NextUpdate
	if offline {
		e.fresh = d.rl.ThisUpdate.Add(orDefault(c.MaxTTL, DefaultStatusMaxTTL))
		if !next.IsZero() {
			e.fresh = next
		}
	} else {
		e.fresh = now.Add(min(max(orDefault(c.DefaultTTL, DefaultStatusTTL), orDefault(c.MinRefresh, DefaultStatusMinRefresh)), orDefault(c.MaxTTL, DefaultStatusMaxTTL)))
		if !next.IsZero() && next.Before(e.fresh) {
			e.fresh = next
		}
	}
	return e
}

func (c *StatusClient) httpClient() *http.Client {
	var hc http.Client
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	if hc.CheckRedirect == nil {
		hc.CheckRedirect = checkRedirect
	}
	return &hc
}

// checkRedirect follows at most maxRedirects redirects, to http(s) only, never from https
// to http.
func checkRedirect(r *http.Request, via []*http.Request) error {
	switch {
	case len(via) >= maxRedirects:
		return errors.New("too many redirects")
	case r.URL.Scheme != "https" && r.URL.Scheme != "http":
		return fmt.Errorf("redirect to %s refused", r.URL.Scheme)
	case via[len(via)-1].URL.Scheme == "https" && r.URL.Scheme != "https":
		return errors.New("redirect from https to http refused")
	}
	return nil
}

// integrityError is a failure that the fail-open policy never covers.
type integrityError struct{ error }

func (e integrityError) Unwrap() error { return e.error }

func integrity(err error) error { return integrityError{err} }

// answerFailure applies the fail-open policy to a lookup that found nothing usable.
func (c *StatusClient) answerFailure(kind string, err error) (verify.RevocationAnswer, error) {
	var ie integrityError
	if c.FailOpen && errors.Is(err, ErrStatusUnavailable) && !errors.As(err, &ie) {
		c.mu.Lock()
		c.kind(kind).failOpen++
		c.mu.Unlock()
		return verify.RevocationAnswer{Note: fmt.Sprintf("%v; accepted under the fail-open policy", err)}, nil
	}
	return verify.RevocationAnswer{}, err
}

// Status returns the status of ref.Idx in the list at ref.URI (profile.StatusChecker).
// Without a trust anchor the token must verify with one of Keys.
func (c *StatusClient) Status(ctx context.Context, ref messages.StatusListRef) (uint8, error) {
	a, err := c.tokenStatus(ctx, ref, nil)
	return a.Status, err
}

// TokenStatus implements verify.Revocation: the status of ref's entry, from a list
// whose signer chains to anchor (or, for a token without certificates, verified with
// one of Keys).
func (c *StatusClient) TokenStatus(ref messages.StatusListRef, anchor *x509.Certificate) (verify.RevocationAnswer, error) {
	return c.tokenStatus(context.Background(), ref, anchor)
}

func (c *StatusClient) tokenStatus(ctx context.Context, ref messages.StatusListRef, anchor *x509.Certificate) (verify.RevocationAnswer, error) {
	e, note, err := c.get(ctx, KindStatusList, ref.URI)
	if err != nil {
		return c.answerFailure(KindStatusList, err)
	}
	a := verify.RevocationAnswer{Note: note, Deviations: e.list.Deviations}
	if err := c.checkSigner(e, anchor); err != nil {
		return a, err
	}
	a.Status, err = e.list.Get(ref.Idx)
	return a, err
}

// Fetch returns the status list at uri (fresh, fetched, or stale within bounds).
func (c *StatusClient) Fetch(ctx context.Context, uri string) (*StatusList, error) {
	e, _, err := c.get(ctx, KindStatusList, uri)
	if err != nil {
		return nil, err
	}
	return e.list, nil
}

// checkSigner checks once per anchor that the token's signer chains to anchor and is
// fit to sign status lists; a token verified with a configured key needs no anchor.
func (c *StatusClient) checkSigner(e *entry, anchor *x509.Certificate) error {
	l := e.list
	if l.Signer == nil {
		return nil
	}
	if anchor == nil {
		for _, k := range c.Keys {
			if pk, ok := l.Signer[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pk.Equal(k) {
				return nil
			}
		}
		return fmt.Errorf("status list %s: no trust anchor to check its signer %q against", l.URI, l.Signer[0].Subject.CommonName)
	}
	return c.once(e, anchor, func() error {
		if _, err := verify.VerifyChain(l.Signer, verify.NewTrustStore(anchor), c.now(), nil); err != nil {
			return fmt.Errorf("status list %s: signer not under the credential's trust anchor %q: %w", l.URI, anchor.Subject.CommonName, err)
		}
		if err := statusSignerPurpose(l.Signer[0], anchor); err != nil {
			return fmt.Errorf("status list %s: %w", l.URI, err)
		}
		return nil
	})
}

// once runs check for e and cert the first time, and remembers its answer (for at most
// maxAnchorMemo certificates per entry): a list's signer against an anchor, a CRL
// against an issuer.
func (c *StatusClient) once(e *entry, cert *x509.Certificate, check func() error) error {
	c.mu.Lock()
	err, done := e.anchors[cert]
	c.mu.Unlock()
	if done {
		return err
	}
	err = check()
	c.mu.Lock()
	if e.anchors == nil || len(e.anchors) >= maxAnchorMemo {
		e.anchors = map[*x509.Certificate]error{}
	}
	e.anchors[cert] = err
	c.mu.Unlock()
	return err
}

// OfflineFile is revocation data given as a file: a status list token (CWT or JWT) or
// a CRL (DER or PEM).
type OfflineFile struct {
	Name string
	Data []byte
}

// SetOffline replaces the loaded status list tokens and CRLs (what an offline gate, or
// a gate next to its online lookups, was given as files). Everything is decoded first:
// on an error, which names the file, what was loaded before stays. A token's signature
// is checked now (with its certificate, or Keys) and its signer per lookup; a CRL's
// signature per lookup, against the issuer of the certificate it is consulted for. An
// expired token is refused; of two tokens with one sub the later issued is kept.
func (c *StatusClient) SetOffline(lists, crls []OfflineFile) error {
	now := c.now()
	fresh := map[string]*entry{}
	for _, f := range lists {
		l, err := DecodeStatusListToken(f.Data, c.Keys, orDefault(c.MaxList, DefaultStatusMaxList))
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if !l.Expires.IsZero() && !now.Before(l.Expires) {
			return fmt.Errorf("%s: status list %s: %w at %s", f.Name, l.URI, ErrStatusExpired, rfc3339(l.Expires))
		}
		key := entryKey(KindStatusList, l.URI)
		if old := fresh[key]; old != nil && old.list.IssuedAt.After(l.IssuedAt) {
			continue
		}
		fresh[key], _ = c.listEntry(l, now, true)
	}
	for i, f := range crls {
		d, err := decodeCRL(f.Data)
		if err != nil {
			return fmt.Errorf("%s: CRL: %w", f.Name, err)
		}
		fresh[fmt.Sprintf("%s file %d %s", KindCRL, i, f.Name)] = c.crlEntry(f.Name, d, now, true)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*entry{}
	}
	old := map[string]*entry{}
	for k, e := range c.entries {
		if e.offline {
			old[k] = e
			c.total -= e.size
			delete(c.entries, k)
		}
	}
	for k, e := range fresh {
		e.lastUsed = now
		if err := c.store(k, e, now); err != nil {
			for k := range fresh {
				if e := c.entries[k]; e != nil && e.offline {
					c.total -= e.size
					delete(c.entries, k)
				}
			}
			for k, e := range old {
				c.total += e.size
				c.entries[k] = e
			}
			return err
		}
	}
	return nil
}

// Refresh fetches again every online entry that is due (within a tenth of its
// freshness, at most 5 minutes, of its end) and drops idle ones. Run calls it.
func (c *StatusClient) Refresh(ctx context.Context) {
	now := c.now()
	type due struct{ kind, uri string }
	var todo []due
	c.mu.Lock()
	c.evictIdle(now)
	for _, e := range c.entries {
		if e.offline || now.Before(e.nextTry) {
			continue
		}
		margin := min(e.fresh.Sub(e.fetched)/10, maxRefreshMargin)
		if e.list == nil && e.crl == nil || !now.Before(e.fresh.Add(-margin)) {
			todo = append(todo, due{e.kind, e.uri})
		}
	}
	c.mu.Unlock()
	for _, d := range todo {
		if ctx.Err() != nil {
			return
		}
		c.fetch(ctx, d.kind, d.uri)
	}
}

// Run refreshes the cache in the background until ctx ends, checking every tick (default
// a quarter of MinRefresh, at least 100 ms).
func (c *StatusClient) Run(ctx context.Context, tick time.Duration) {
	if tick <= 0 {
		tick = max(orDefault(c.MinRefresh, DefaultStatusMinRefresh)/4, 100*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.Refresh(ctx)
		}
	}
}

// Fresh reports whether every list and CRL in use is usable under the policy (fresh,
// or stale within StaleIfError), for a readiness check; problems name the others. A
// client with nothing cached is fresh.
func (c *StatusClient) Fresh() (ok bool, problems []string) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if !e.offline && now.Sub(e.lastUsed) > orDefault(c.Idle, DefaultStatusIdle) {
			continue
		}
		if !e.usable(now, c.StaleIfError) {
			why := "expired"
			if e.lastErr != nil {
				why = e.lastErr.Error()
			}
			problems = append(problems, fmt.Sprintf("%s %s: %s", kindName(e.kind), e.uri, why))
		}
	}
	sort.Strings(problems)
	return len(problems) == 0, problems
}

// Stats returns how many lookups the cache answered and how many downloads were made,
// status lists and CRLs together.
func (c *StatusClient) Stats() (hits, fetches uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stats {
		hits += s.hits
		fetches += s.fetches
	}
	return hits, fetches
}

// KindCounters are the counters of one kind of revocation data (KindStatusList, KindCRL).
type KindCounters struct {
	Hits     uint64 // lookups answered from a fresh cached copy
	Fetches  uint64 // downloads started
	Failures uint64 // downloads that failed (network, HTTP, size, decoding, signature)
	Stale    uint64 // lookups answered from a stale copy within StaleIfError
	FailOpen uint64 // lookups passed with nothing usable under FailOpen
}

// ListState describes one cached list or CRL.
type ListState struct {
	Kind, URI string
	Offline   bool
	Fetched   time.Time // last success; zero when never
	Age       time.Duration
	Fresh     bool // within its freshness
	Usable    bool // fresh, or stale within StaleIfError
	LastError string
}

// RevocationStats is a snapshot of a StatusClient for metrics.
type RevocationStats struct {
	Counters map[string]KindCounters // by kind
	Lists    []ListState             // sorted by kind and URI
}

// Snapshot returns the counters and the state of every cached list and CRL.
func (c *StatusClient) Snapshot() RevocationStats {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := RevocationStats{Counters: map[string]KindCounters{}}
	for _, k := range []string{KindStatusList, KindCRL} {
		ks := c.kind(k)
		s.Counters[k] = KindCounters{Hits: ks.hits, Fetches: ks.fetches, Failures: ks.failures, Stale: ks.stale, FailOpen: ks.failOpen}
	}
	for _, e := range c.entries {
		st := ListState{Kind: e.kind, URI: e.uri, Offline: e.offline, Fetched: e.fetched,
			Fresh: e.isFresh(now), Usable: e.usable(now, c.StaleIfError)}
		if !e.fetched.IsZero() {
			st.Age = now.Sub(e.fetched)
		}
		if e.lastErr != nil {
			st.LastError = e.lastErr.Error()
		}
		s.Lists = append(s.Lists, st)
	}
	sort.Slice(s.Lists, func(i, j int) bool {
		if s.Lists[i].Kind != s.Lists[j].Kind {
			return s.Lists[i].Kind < s.Lists[j].Kind
		}
		return s.Lists[i].URI < s.Lists[j].URI
	})
	return s
}

// otherPurposes are extended key usages that name a purpose other than signing status
// lists or MSOs: reader authentication, JWS signing (server retrieval), VICAL signing.
// The draft's id-kp-oauthStatusSigning OID is not assigned yet (-20), so any OID not
// listed here is accepted.
var otherPurposes = []asn1.ObjectIdentifier{
	verify.OIDMdlReaderAuth, verify.OIDMdocReaderAuth,
	{1, 0, 18013, 5, 1, 3}, // JWS signer
	{1, 0, 18013, 5, 1, 8}, // VICAL signer
}

// statusSignerPurpose refuses a status list signer certificate made for something else:
// a CA (unless it is the pinned anchor itself), a key usage without digitalSignature, or
// extended key usages that all name other purposes.
func statusSignerPurpose(leaf, anchor *x509.Certificate) error {
	if leaf.IsCA && !leaf.Equal(anchor) {
		return fmt.Errorf("status list signer %q is a CA certificate", leaf.Subject.CommonName)
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("status list signer %q: key usage lacks digitalSignature", leaf.Subject.CommonName)
	}
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return nil
	}
	for _, u := range leaf.UnknownExtKeyUsage {
		if !slices.ContainsFunc(otherPurposes, u.Equal) {
			return nil
		}
	}
	return fmt.Errorf("status list signer %q is for another purpose (extended key usage %v %v)", leaf.Subject.CommonName, leaf.ExtKeyUsage, leaf.UnknownExtKeyUsage)
}
