package trust

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// Token status values (draft-ietf-oauth-status-list §7.1).
const (
	StatusValid     = 0
	StatusInvalid   = 1
	StatusSuspended = 2
)

// Defaults of StatusClient.
const (
	DefaultStatusMaxBody   = 1 << 20  // bytes of the token as downloaded
	DefaultStatusMaxList   = 16 << 20 // bytes of the decompressed list
	DefaultStatusTimeout   = 5 * time.Second
	DefaultStatusTTL       = 5 * time.Minute // when the token has neither exp nor ttl
	DefaultStatusMaxTTL    = 24 * time.Hour  // cap on any cache lifetime
	statusListMediaTypeJWT = "application/statuslist+jwt"
	statusListMediaTypeCWT = "application/statuslist+cwt"
)

// Errors a StatusClient returns, for errors.Is.
var (
	ErrStatusSignature = errors.New("status list token signature does not verify")
	ErrStatusExpired   = errors.New("status list token has expired")
	ErrStatusTooLarge  = errors.New("status list too large")
)

// StatusList is a verified, decompressed token status list.
type StatusList struct {
	URI      string
	Bits     int // 1, 2, 4 or 8
	list     []byte
	IssuedAt time.Time
	Expires  time.Time     // zero when the token has no exp
	TTL      time.Duration // zero when the token has no ttl
}

// Get returns the status at idx.
func (l *StatusList) Get(idx uint64) (uint8, error) {
	perByte := uint64(8 / l.Bits)
	i := idx / perByte
	if i >= uint64(len(l.list)) {
		return 0, fmt.Errorf("status list %s: index %d is out of range (%d entries)", l.URI, idx, uint64(len(l.list))*perByte)
	}
	shift := (idx % perByte) * uint64(l.Bits)
	return (l.list[i] >> shift) & (1<<l.Bits - 1), nil
}

// StatusClient fetches, verifies and caches status list tokens. The zero value is
// not usable: set Keys. It is safe for concurrent use; concurrent lookups of one URI
// share a single download.
type StatusClient struct {
	// Keys are the accepted status list signing keys (*ecdsa.PublicKey,
	// ed25519.PublicKey, or anything keys.Verify takes); see KeysFromCertificates.
	Keys []crypto.PublicKey
	// HTTP is the client used; nil means a client with Timeout and no redirects to
	// other schemes.
	HTTP *http.Client
	// Timeout bounds one download (default DefaultStatusTimeout).
	Timeout time.Duration
	// MaxBody bounds the downloaded token, MaxList the decompressed list.
	MaxBody, MaxList int64
	// DefaultTTL is the cache lifetime of a token without exp or ttl; MaxTTL caps it.
	DefaultTTL, MaxTTL time.Duration
	// RequireHTTPS refuses http:// URIs.
	RequireHTTPS bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	cache    map[string]*statusEntry
	inflight map[string]*statusCall
	hits     uint64
	fetches  uint64
}

type statusEntry struct {
	list  *StatusList
	until time.Time
}

type statusCall struct {
	done chan struct{}
	list *StatusList
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

func orDefault[T int64 | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// Stats returns how many lookups the cache answered and how many downloads were made.
func (c *StatusClient) Stats() (hits, fetches uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.fetches
}

// Status returns the status of ref.Idx in the list at ref.URI (profile.StatusChecker).
func (c *StatusClient) Status(ctx context.Context, ref messages.StatusListRef) (uint8, error) {
	l, err := c.Fetch(ctx, ref.URI)
	if err != nil {
		return 0, err
	}
	return l.Get(ref.Idx)
}

// Fetch returns the verified status list at uri, from the cache while it is fresh.
// A cached list is used until the earliest of its exp, fetch time + ttl (or
// DefaultTTL) and fetch time + MaxTTL. Failures are not cached.
func (c *StatusClient) Fetch(ctx context.Context, uri string) (*StatusList, error) {
	now := c.now()
	c.mu.Lock()
	if e, ok := c.cache[uri]; ok && now.Before(e.until) {
		c.hits++
		c.mu.Unlock()
		return e.list, nil
	}
	if call, ok := c.inflight[uri]; ok {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.list, call.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	call := &statusCall{done: make(chan struct{})}
	if c.inflight == nil {
		c.inflight = map[string]*statusCall{}
		c.cache = map[string]*statusEntry{}
	}
	c.inflight[uri] = call
	c.fetches++
	c.mu.Unlock()

	call.list, call.err = c.download(ctx, uri)
	c.mu.Lock()
	delete(c.inflight, uri)
	if call.err == nil {
		l := call.list
		fetched := c.now()
		until := fetched.Add(min(orDefault(l.TTL, orDefault(c.DefaultTTL, DefaultStatusTTL)), orDefault(c.MaxTTL, DefaultStatusMaxTTL)))
		if !l.Expires.IsZero() && l.Expires.Before(until) {
			until = l.Expires
		}
		c.cache[uri] = &statusEntry{list: l, until: until}
	}
	c.mu.Unlock()
	close(call.done)
	return call.list, call.err
}

func (c *StatusClient) download(ctx context.Context, uri string) (*StatusList, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("status list: uri %q is not an http(s) URL", uri)
	}
	if c.RequireHTTPS && u.Scheme != "https" {
		return nil, fmt.Errorf("status list: uri %q is not https", uri)
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(c.Timeout, DefaultStatusTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("status list: %w", err)
	}
	req.Header.Set("Accept", statusListMediaTypeJWT)
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) >= 3 || (r.URL.Scheme != "https" && r.URL.Scheme != "http") {
				return errors.New("redirect refused")
			}
			return nil
		}}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("status list: fetching %s: %w", uri, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status list: fetching %s: HTTP %d", uri, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt == statusListMediaTypeCWT {
			return nil, fmt.Errorf("status list: %s: CWT status list tokens are not supported", uri)
		}
	}
	maxBody := orDefault(c.MaxBody, DefaultStatusMaxBody)
	if resp.ContentLength > maxBody {
		return nil, fmt.Errorf("status list: %s: %w: %d bytes announced, limit %d", uri, ErrStatusTooLarge, resp.ContentLength, maxBody)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("status list: reading %s: %w", uri, err)
	}
	if int64(len(body)) > maxBody {
		return nil, fmt.Errorf("status list: %s: %w: body over %d bytes", uri, ErrStatusTooLarge, maxBody)
	}
	return c.ParseToken(strings.TrimSpace(string(body)), uri)
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
}

type statusClaims struct {
	Sub        string `json:"sub"`
	Iat        *int64 `json:"iat"`
	Exp        *int64 `json:"exp"`
	TTL        *int64 `json:"ttl"`
	StatusList *struct {
		Bits int    `json:"bits"`
		Lst  string `json:"lst"`
	} `json:"status_list"`
}

var jwsAlgs = map[string]struct {
	cose   int64
	sigLen int // raw r||s length for ECDSA; 0 for EdDSA
}{
	"ES256": {keys.AlgES256, 64}, "ES384": {keys.AlgES384, 96}, "ES512": {keys.AlgES512, 132}, "EdDSA": {keys.AlgEdDSA, 0},
}

// ParseToken verifies a status list JWT (typ statuslist+jwt, alg ES256/ES384/ES512/
// EdDSA) against c.Keys and decodes its list. The sub claim must equal uri, exp (when
// present) must not have passed, and the zlib-compressed list must decompress within
// MaxList.
func (c *StatusClient) ParseToken(token, uri string) (*StatusList, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("status list: %s: not a compact JWS", uri)
	}
	dec := base64.RawURLEncoding
	hb, err1 := dec.DecodeString(parts[0])
	pb, err2 := dec.DecodeString(parts[1])
	sig, err3 := dec.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("status list: %s: base64url: %w", uri, err)
	}
	var h jwtHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("status list: %s: JWT header: %w", uri, err)
	}
	if h.Typ != "statuslist+jwt" {
		return nil, fmt.Errorf("status list: %s: JWT typ %q, want statuslist+jwt", uri, h.Typ)
	}
	alg, ok := jwsAlgs[h.Alg]
	if !ok {
		return nil, fmt.Errorf("status list: %s: JWT alg %q not accepted (ES256, ES384, ES512, EdDSA)", uri, h.Alg)
	}
	if alg.sigLen != 0 && len(sig) != alg.sigLen {
		return nil, fmt.Errorf("status list: %s: %w: %s signature of %d bytes", uri, ErrStatusSignature, h.Alg, len(sig))
	}
	if len(c.Keys) == 0 {
		return nil, fmt.Errorf("status list: %s: no status list signing key configured", uri)
	}
	signingInput := []byte(parts[0] + "." + parts[1])
	verified := false
	for _, k := range c.Keys {
		if !keyFits(k, h.Alg) {
			continue
		}
		if keys.Verify(k, alg.cose, signingInput, sig) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, fmt.Errorf("status list: %s: %w with any configured key", uri, ErrStatusSignature)
	}
	var cl statusClaims
	if err := json.Unmarshal(pb, &cl); err != nil {
		return nil, fmt.Errorf("status list: %s: JWT claims: %w", uri, err)
	}
	if cl.Sub != uri {
		return nil, fmt.Errorf("status list: %s: sub %q does not match the referenced uri", uri, cl.Sub)
	}
	if cl.Iat == nil {
		return nil, fmt.Errorf("status list: %s: iat missing", uri)
	}
	l := &StatusList{URI: uri, IssuedAt: time.Unix(*cl.Iat, 0)}
	if cl.Exp != nil {
		l.Expires = time.Unix(*cl.Exp, 0)
		if !c.now().Before(l.Expires) {
			return nil, fmt.Errorf("status list: %s: %w at %s", uri, ErrStatusExpired, l.Expires.UTC().Format(time.RFC3339))
		}
	}
	if cl.TTL != nil {
		if *cl.TTL <= 0 {
			return nil, fmt.Errorf("status list: %s: ttl %d is not positive", uri, *cl.TTL)
		}
		l.TTL = time.Duration(min(*cl.TTL, int64(DefaultStatusMaxTTL/time.Second))) * time.Second
	}
	if cl.StatusList == nil {
		return nil, fmt.Errorf("status list: %s: status_list claim missing", uri)
	}
	switch l.Bits = cl.StatusList.Bits; l.Bits {
	case 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("status list: %s: bits %d is not 1, 2, 4 or 8", uri, l.Bits)
	}
	compressed, err := dec.DecodeString(cl.StatusList.Lst)
	if err != nil {
		return nil, fmt.Errorf("status list: %s: lst: %w", uri, err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf("status list: %s: lst: %w", uri, err)
	}
	maxList := orDefault(c.MaxList, DefaultStatusMaxList)
	if l.list, err = io.ReadAll(io.LimitReader(zr, maxList+1)); err != nil {
		return nil, fmt.Errorf("status list: %s: lst: %w", uri, err)
	}
	if int64(len(l.list)) > maxList {
		return nil, fmt.Errorf("status list: %s: %w: decompressed list over %d bytes", uri, ErrStatusTooLarge, maxList)
	}
	return l, nil
}

func keyFits(k crypto.PublicKey, alg string) bool {
	switch k.(type) {
	case *ecdsa.PublicKey:
		return alg != "EdDSA"
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return true // other key types: let keys.Verify decide
}

// SignStatusListJWT builds a status list token (for issuers, tools and tests): the list
// of statuses (one per index, each < 2^bits) packed with bits per entry, zlib-
// compressed, in a JWT {sub, iat, exp?, ttl?, status_list {bits, lst}} signed with key
// (ES256/ES384/ES512 by curve, or EdDSA). Zero exp or ttl leaves the claim out.
func SignStatusListJWT(key *keys.PrivateKey, uri string, bits int, statuses []uint8, iat, exp time.Time, ttl time.Duration) (string, error) {
	switch bits {
	case 1, 2, 4, 8:
	default:
		return "", fmt.Errorf("status list: bits %d is not 1, 2, 4 or 8", bits)
	}
	perByte := 8 / bits
	packed := make([]byte, (len(statuses)+perByte-1)/perByte)
	for i, s := range statuses {
		if int(s) >= 1<<bits {
			return "", fmt.Errorf("status list: status %d at %d does not fit in %d bits", s, i, bits)
		}
		packed[i/perByte] |= s << ((i % perByte) * bits)
	}
	var zb bytes.Buffer
	zw := zlib.NewWriter(&zb)
	zw.Write(packed)
	zw.Close()
	alg, name := keys.DefaultAlg(key.Curve()), ""
	for n, a := range jwsAlgs {
		if a.cose == alg {
			name = n
		}
	}
	if name == "" {
		return "", fmt.Errorf("status list: no JWS algorithm for curve %d", key.Curve())
	}
	claims := map[string]any{"sub": uri, "iat": iat.Unix(),
		"status_list": map[string]any{"bits": bits, "lst": base64.RawURLEncoding.EncodeToString(zb.Bytes())}}
	if !exp.IsZero() {
		claims["exp"] = exp.Unix()
	}
	if ttl > 0 {
		claims["ttl"] = int64(ttl / time.Second)
	}
	hb, _ := json.Marshal(map[string]string{"alg": name, "typ": "statuslist+jwt"})
	pb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(pb)
	sig, err := keys.Sign(key, alg, nil, []byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
