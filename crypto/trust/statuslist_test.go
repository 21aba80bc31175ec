package trust

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

func genKey(t *testing.T, curve int64) *keys.PrivateKey {
	t.Helper()
	k, err := keys.Generate(curve, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func token(t *testing.T, k *keys.PrivateKey, uri string, bits int, st []uint8, exp time.Time, ttl time.Duration) string {
	t.Helper()
	tok, err := StatusListToken{URI: uri, Bits: bits, Statuses: st, IssuedAt: time.Now().Add(-time.Minute), Expires: exp, TTL: ttl}.SignJWT(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestStatusList(t *testing.T) {
	srv := newRevServer(t)
	key := genKey(t, messages.CurveP256)
	uri := srv.URL + "/list/1"
	srv.setJWT("/list/1", token(t, key, uri, 1, []uint8{0, 1, 0, 0, 0, 0, 0, 0, 1, 0}, time.Now().Add(time.Hour), time.Minute))
	c := &StatusClient{Keys: []crypto.PublicKey{key.Public()}}
	ctx := context.Background()

	for idx, want := range map[uint64]uint8{0: StatusValid, 1: StatusInvalid, 8: StatusInvalid, 9: StatusValid} {
		got, err := c.Status(ctx, messages.StatusListRef{Idx: idx, URI: uri})
		if err != nil || got != want {
			t.Fatalf("idx %d: %d, %v; want %d", idx, got, err, want)
		}
	}
	if hits, fetches := c.Stats(); fetches != 1 || hits != 3 || srv.hits.Load() != 1 {
		t.Fatalf("cache: hits %d fetches %d server %d", hits, fetches, srv.hits.Load())
	}
	if _, err := c.Status(ctx, messages.StatusListRef{Idx: 16, URI: uri}); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("out of range: %v", err)
	}

	// the ttl ends the cache entry
	now := time.Now()
	c.Now = func() time.Time { return now.Add(2 * time.Minute) }
	if _, err := c.Status(ctx, messages.StatusListRef{Idx: 0, URI: uri}); err != nil || srv.hits.Load() != 2 {
		t.Fatalf("after ttl: %v, server hits %d", err, srv.hits.Load())
	}
}

func TestStatusList2Bits(t *testing.T) {
	srv := newRevServer(t)
	key := genKey(t, messages.CurveEd25519)
	uri := srv.URL + "/l"
	srv.setJWT("/l", token(t, key, uri, 2, []uint8{0, 2, 1, 3, 0}, time.Time{}, 0))
	c := &StatusClient{Keys: []crypto.PublicKey{key.Public()}}
	for idx, want := range []uint8{0, 2, 1, 3, 0} {
		got, err := c.Status(context.Background(), messages.StatusListRef{Idx: uint64(idx), URI: uri})
		if err != nil || got != want {
			t.Fatalf("idx %d: %d %v", idx, got, err)
		}
	}
}

func TestStatusListFailures(t *testing.T) {
	srv := newRevServer(t)
	key := genKey(t, messages.CurveP256)
	other := genKey(t, messages.CurveP256)
	ctx := context.Background()
	client := func() *StatusClient { return &StatusClient{Keys: []crypto.PublicKey{key.Public()}, MaxBody: 64 << 10} }

	expired := srv.URL + "/expired"
	srv.setJWT("/expired", token(t, key, expired, 1, []uint8{0}, time.Now().Add(-time.Second), 0))
	badSig := srv.URL + "/badsig"
	srv.setJWT("/badsig", token(t, other, badSig, 1, []uint8{0}, time.Time{}, 0))
	big := srv.URL + "/big"
	srv.setJWT("/big", strings.Repeat("a", 100<<10))
	wrongSub := srv.URL + "/wrongsub"
	srv.setJWT("/wrongsub", token(t, key, srv.URL+"/other", 1, []uint8{0}, time.Time{}, 0))
	bomb := srv.URL + "/bomb"
	srv.setJWT("/bomb", token(t, key, bomb, 8, make([]uint8, 2<<20), time.Time{}, 0))
	tok := token(t, key, srv.URL+"/typ", 1, []uint8{0}, time.Time{}, 0)
	parts := strings.Split(tok, ".")
	srv.setJWT("/typ", "eyJhbGciOiJub25lIn0."+parts[1]+".") // alg none

	for _, tc := range []struct {
		uri  string
		mod  func(*StatusClient)
		want string
		is   error
	}{
		{expired, nil, "expired", ErrStatusExpired},
		{badSig, nil, "signature", ErrStatusSignature},
		{big, nil, "body over", ErrStatusTooLarge},
		{wrongSub, nil, "does not match the referenced uri", nil},
		{bomb, func(c *StatusClient) { c.MaxList = 1 << 20 }, "decompressed list over", ErrStatusTooLarge},
		{srv.URL + "/typ", nil, "typ", nil},
		{srv.URL + "/missing", nil, "HTTP 404", nil},
		{"file:///etc/passwd", nil, "not an http(s) URL", nil},
		{badSig, func(c *StatusClient) { c.RequireHTTPS = true }, "not https", nil},
		{badSig, func(c *StatusClient) { c.Keys = nil }, "no status list signing key", nil},
	} {
		c := client()
		if tc.mod != nil {
			tc.mod(c)
		}
		_, err := c.Status(ctx, messages.StatusListRef{URI: tc.uri})
		if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: error %v, want %q", tc.uri, err, tc.want)
		}
	}
	// failures are not cached
	c := client()
	c.Status(ctx, messages.StatusListRef{URI: badSig})
	srv.setJWT("/badsig", token(t, key, badSig, 1, []uint8{0}, time.Time{}, 0))
	if st, err := c.Status(ctx, messages.StatusListRef{URI: badSig}); err != nil || st != 0 {
		t.Fatalf("after fix: %d %v", st, err)
	}

	// a JWT served as a CWT is refused clearly (CWT tokens themselves: TestStatusListCWT)
	srv.set("/expired", MediaTypeStatusListCWT, srv.body["/expired"])
	if _, err := client().Status(ctx, messages.StatusListRef{URI: expired}); err == nil || !strings.Contains(err.Error(), "CWT") {
		t.Fatalf("cwt: %v", err)
	}
}

func TestStatusListTimeoutAndSharedFetch(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int64
	key := genKey(t, messages.CurveP256)
	var uri string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write([]byte(token(t, key, uri, 1, []uint8{1}, time.Time{}, 0)))
	}))
	defer srv.Close()
	uri = srv.URL + "/slow"

	c := &StatusClient{Keys: []crypto.PublicKey{key.Public()}, Timeout: 50 * time.Millisecond}
	if _, err := c.Status(context.Background(), messages.StatusListRef{URI: uri}); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("timeout: %v", err)
	}

	c = &StatusClient{Keys: []crypto.PublicKey{key.Public()}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			st, err := c.Status(context.Background(), messages.StatusListRef{URI: uri})
			if err == nil && st != 1 {
				err = errors.New("wrong status")
			}
			errs <- err
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, fetches := c.Stats(); fetches != 1 {
		t.Fatalf("%d downloads for concurrent lookups", fetches)
	}
}
