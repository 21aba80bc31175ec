package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// The draft's appendix vectors: 2^20 entries at 1, 2, 4 and 8 bits, every set entry read
// back and a sample of the others VALID.
func TestStatusListDraftVectors(t *testing.T) {
	var expected map[string]struct {
		Entries uint64           `json:"entries"`
		Set     map[string]uint8 `json:"set"`
	}
	if err := json.Unmarshal(testvectors.File(t, "status-list", "lists_expected.json"), &expected); err != nil {
		t.Fatal(err)
	}
	for _, bits := range []int{1, 2, 4, 8} {
		t.Run(strconv.Itoa(bits), func(t *testing.T) {
			var sl cwtStatusListClaim
			if err := messages.Unmarshal(testvectors.Hex(t, "status-list", "list_"+strconv.Itoa(bits)+"bit.hex"), &sl); err != nil {
				t.Fatal(err)
			}
			l := &StatusList{}
			iat := 1.0
			if err := l.claims("u", &iat, nil, nil, sl.Bits, sl.Lst, DefaultStatusMaxList); err != nil {
				t.Fatal(err)
			}
			want := expected[strconv.Itoa(bits)]
			if l.Bits != bits || l.Len() != want.Entries {
				t.Fatalf("bits %d, %d entries; want %d, %d", l.Bits, l.Len(), bits, want.Entries)
			}
			for idx, v := range want.Set {
				i, _ := strconv.ParseUint(idx, 10, 64)
				if got, err := l.Get(i); err != nil || got != v {
					t.Errorf("status[%d] = %d, %v; want %d", i, got, err, v)
				}
			}
			for i := uint64(1); i < want.Entries; i += 7919 {
				if _, set := want.Set[strconv.FormatUint(i, 10)]; set {
					continue
				}
				if got, _ := l.Get(i); got != StatusValid {
					t.Errorf("status[%d] = %d, want 0", i, got)
				}
			}
			if _, err := l.Get(want.Entries); err == nil || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("index past the end: %v", err)
			}
		})
	}
}

func draftKey(t testing.TB) crypto.PublicKey {
	t.Helper()
	var jwk struct{ X, Y string }
	if err := json.Unmarshal(testvectors.File(t, "status-list", "example_key.json"), &jwk); err != nil {
		t.Fatal(err)
	}
	x, _ := base64.RawURLEncoding.DecodeString(jwk.X)
	y, _ := base64.RawURLEncoding.DecodeString(jwk.Y)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// The draft's example tokens, CWT and JWT, decode to the same list with the draft's key.
func TestStatusListDraftTokens(t *testing.T) {
	key := draftKey(t)
	for name, body := range map[string][]byte{
		"cwt": testvectors.Hex(t, "status-list", "token_cwt.hex"),
		"jwt": testvectors.File(t, "status-list", "token_jwt.txt"),
	} {
		l, err := DecodeStatusListToken(body, []crypto.PublicKey{key}, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if l.Format != name || l.URI != "https://example.com/statuslists/1" || l.IssuedAt.Unix() != 1686920170 ||
			l.Expires.Unix() != 2291720170 || l.TTL != 43200*time.Second || l.Bits != 1 || len(l.Deviations) != 0 || l.Signer != nil {
			t.Fatalf("%s: %+v", name, l)
		}
		for idx, want := range []uint8{1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1} { // 0xb9, 0xa3
			if got, _ := l.Get(uint64(idx)); got != want {
				t.Errorf("%s: status[%d] = %d, want %d", name, idx, got, want)
			}
		}
		other := genKey(t, messages.CurveP256)
		if _, err := DecodeStatusListToken(body, []crypto.PublicKey{other.Public()}, 0); !errors.Is(err, ErrStatusSignature) {
			t.Errorf("%s with another key: %v", name, err)
		}
	}
}

// Tokens we sign round-trip in both forms, with every bit width, and carry the -20 form.
func TestStatusListSignRoundTrip(t *testing.T) {
	for _, curve := range []int64{messages.CurveP256, messages.CurveP384, messages.CurveEd25519} {
		key := genKey(t, curve)
		for _, bits := range []int{1, 2, 4, 8} {
			st := make([]uint8, 37)
			for i := range st {
				st[i] = uint8((i * 7) % (1 << bits))
			}
			tok := StatusListToken{URI: "https://s.example/1", Bits: bits, Statuses: st, IssuedAt: time.Unix(1700000000, 0),
				Expires: time.Unix(1800000000, 0), TTL: time.Hour}
			cwt, err := tok.SignCWT(key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if cwt[0] != 0xd2 {
				t.Fatalf("CWT not tagged 18: %x", cwt[:4])
			}
			jwt, err := tok.SignJWT(key, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, body := range [][]byte{cwt, []byte(jwt)} {
				l, err := DecodeStatusListToken(body, []crypto.PublicKey{key.Public()}, 0)
				if err != nil {
					t.Fatalf("curve %d bits %d: %v", curve, bits, err)
				}
				if l.URI != tok.URI || !l.IssuedAt.Equal(tok.IssuedAt) || !l.Expires.Equal(tok.Expires) || l.TTL != time.Hour || len(l.Deviations) != 0 {
					t.Fatalf("%+v", l)
				}
				for i, want := range st {
					if got, err := l.Get(uint64(i)); err != nil || got != want {
						t.Fatalf("bits %d status[%d] = %d %v, want %d", bits, i, got, err, want)
					}
				}
			}
		}
	}
	if _, err := (StatusListToken{Bits: 3}).SignCWT(genKey(t, messages.CurveP256), nil); err == nil {
		t.Fatal("bits 3 signed")
	}
	if _, err := (StatusListToken{Bits: 1, Statuses: []uint8{2}}).SignCWT(genKey(t, messages.CurveP256), nil); err == nil {
		t.Fatal("status 2 in 1 bit signed")
	}
}

// cwtParts builds a status list CWT by hand, for the forms our signer never emits.
type cwtParts struct {
	tagged, tag61 bool
	typ           any    // nil leaves typ out
	sub           string // default https://s.example/1
	listKey       int64
	ttl           any
	claims        map[int64]any // extra or replacing claims
}

func (p cwtParts) sign(t *testing.T, key *keys.PrivateKey) []byte {
	t.Helper()
	var ph messages.Map[int64, any]
	ph.Set(messages.HeaderAlg, keys.DefaultAlg(key.Curve()))
	if p.typ != nil {
		ph.Set(coseHeaderTyp, p.typ)
	}
	protected, _ := ph.MarshalCBOR()
	lst, _ := StatusListToken{Bits: 1, Statuses: []uint8{0, 1}}.lst()
	if p.sub == "" {
		p.sub = "https://s.example/1"
	}
	cl := map[int64]any{cwtSub: p.sub, cwtIat: time.Now().Unix() - 60}
	if p.listKey == 0 {
		p.listKey = cwtStatusList
	}
	cl[p.listKey] = map[string]any{"bits": 1, "lst": lst}
	if p.ttl != nil {
		cl[cwtTTL] = p.ttl
	}
	for k, v := range p.claims {
		if v == nil {
			delete(cl, k)
		} else {
			cl[k] = v
		}
	}
	payload, err := cbor.Marshal(cl)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := keys.Sign(key, keys.DefaultAlg(key.Curve()), nil, messages.SigStructure(protected, payload))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := messages.CoseSign1{Protected: protected, Payload: payload, Signature: sig}.MarshalCBOR()
	if p.tagged {
		b = append([]byte{0xd2}, b...)
	}
	if p.tag61 {
		b = append([]byte{0xd8, 0x3d}, b...)
	}
	return b
}

// Older drafts' forms are accepted with a deviation naming them; what the -20 form
// requires and cannot be guessed is refused.
func TestStatusListCWTForms(t *testing.T) {
	key := genKey(t, messages.CurveP256)
	ks := []crypto.PublicKey{key.Public()}
	for _, tc := range []struct {
		name      string
		parts     cwtParts
		deviation string // "" means none
		err       string // non-empty: refused with this
	}{
		{"draft -20", cwtParts{tagged: true, typ: MediaTypeStatusListCWT, ttl: 60}, "", ""},
		{"untagged (before -15)", cwtParts{typ: MediaTypeStatusListCWT}, "untagged", ""},
		{"CWT tag 61", cwtParts{tag61: true, tagged: true, typ: MediaTypeStatusListCWT}, "tag 61", ""},
		{"typ without application/ (before -08)", cwtParts{tagged: true, typ: "statuslist+cwt"}, "before -08", ""},
		{"status_list at 65535 (-03)", cwtParts{tagged: true, typ: MediaTypeStatusListCWT, listKey: cwtStatusList03, ttl: 60}, "65535", ""},
		{"status_list at 65534 (-02)", cwtParts{tagged: true, typ: MediaTypeStatusListCWT, listKey: cwtStatusList02}, "65534", ""},
		{"no typ", cwtParts{tagged: true}, "", "typ (16) missing"},
		{"other typ", cwtParts{tagged: true, typ: "application/cwt"}, "", "typ"},
		{"typ as a number", cwtParts{tagged: true, typ: 12345}, "", "not text"},
		{"no status_list", cwtParts{tagged: true, typ: MediaTypeStatusListCWT, claims: map[int64]any{cwtStatusList: nil}}, "", "status_list (65533) missing"},
		{"no sub", cwtParts{tagged: true, typ: MediaTypeStatusListCWT, claims: map[int64]any{cwtSub: nil}}, "", "sub missing"},
		{"no iat", cwtParts{tagged: true, typ: MediaTypeStatusListCWT, claims: map[int64]any{cwtIat: nil}}, "", "iat missing"},
		{"ttl zero", cwtParts{tagged: true, typ: MediaTypeStatusListCWT, ttl: 0}, "", "ttl"},
		{"ttl text", cwtParts{tagged: true, typ: MediaTypeStatusListCWT, ttl: "60"}, "", "not a number"},
		{"bits 3", cwtParts{tagged: true, typ: MediaTypeStatusListCWT, claims: map[int64]any{cwtStatusList: map[string]any{"bits": 3, "lst": []byte{1}}}}, "", "bits 3"},
		{"lst not zlib", cwtParts{tagged: true, typ: MediaTypeStatusListCWT, claims: map[int64]any{cwtStatusList: map[string]any{"bits": 1, "lst": []byte{1, 2, 3}}}}, "", "lst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := DecodeStatusListToken(tc.parts.sign(t, key), ks, 0)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(l.Deviations, "; ")
			if (tc.deviation == "") != (got == "") || !strings.Contains(got, tc.deviation) {
				t.Fatalf("deviations %q, want %q", got, tc.deviation)
			}
			if st, _ := l.Get(1); st != StatusInvalid || l.URI != "https://s.example/1" {
				t.Fatalf("%+v", l)
			}
		})
	}
}

// The decoder's limits: decompressed size, token size, signer chain length.
func TestStatusListDecoderLimits(t *testing.T) {
	key := genKey(t, messages.CurveP256)
	ks := []crypto.PublicKey{key.Public()}
	big := StatusListToken{URI: "u", Bits: 8, Statuses: make([]uint8, 3<<20), IssuedAt: time.Now()}
	cwt, err := big.SignCWT(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cwt) > 16<<10 {
		t.Fatalf("3 MiB of zeros compressed to %d bytes", len(cwt))
	}
	if _, err := DecodeStatusListToken(cwt, ks, 1<<20); !errors.Is(err, ErrStatusTooLarge) {
		t.Fatalf("bomb: %v", err)
	}
	if _, err := DecodeStatusListToken(make([]byte, messages.MaxMessageSize+1), ks, 0); !errors.Is(err, ErrStatusTooLarge) {
		t.Fatalf("huge token: %v", err)
	}
	chain := make([][]byte, MaxStatusSignerChain+1)
	for i := range chain {
		chain[i] = []byte{0x30}
	}
	cwt, _ = StatusListToken{URI: "u", Bits: 1, IssuedAt: time.Now()}.SignCWT(key, chain)
	if _, err := DecodeStatusListToken(cwt, ks, 0); err == nil || !strings.Contains(err.Error(), "x5chain of 9") {
		t.Fatalf("long chain: %v", err)
	}
	jwt, _ := StatusListToken{URI: "u", Bits: 1, IssuedAt: time.Now()}.SignJWT(key, chain)
	if _, err := DecodeStatusListToken([]byte(jwt), ks, 0); err == nil || !strings.Contains(err.Error(), "x5c of 9") {
		t.Fatalf("long x5c: %v", err)
	}
}
