package trust

// Token status lists follow draft-ietf-oauth-status-list-20 (the latest revision, April
// 2026, approved and in the RFC Editor queue):
//
//   - CWT: a COSE_Sign1_Tagged (#6.18), not wrapped in the CWT tag 61; protected header
//     16 (typ) = "application/statuslist+cwt"; claims 2 sub, 6 iat, 4 exp, 65534 ttl,
//     65533 status_list {"bits": 1/2/4/8, "lst": bstr}; media type
//     application/statuslist+cwt.
//   - JWT: header typ "statuslist+jwt"; claims sub, iat, exp, ttl, status_list {bits,
//     lst (base64url)}; media type application/statuslist+jwt.
//   - lst is DEFLATE in ZLIB format (RFC 1950); entry i sits in byte i·bits/8, least
//     significant bits first.
//
// Issuers built on earlier drafts emit other forms; where the meaning is unambiguous
// they are accepted and reported (StatusList.Deviations): typ "statuslist+cwt" (before
// -08), an untagged COSE_Sign1 (before -15), a CWT tag 61 wrapper, and the status_list
// claim under key 65535 (-03) or 65534 (-02, where it is a map rather than the ttl's
// unsigned integer). Tokens are always emitted in the -20 form.

import (
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Token status values (draft-ietf-oauth-status-list §7.1).
const (
	StatusValid     = verify.StatusValid
	StatusInvalid   = verify.StatusInvalid
	StatusSuspended = verify.StatusSuspended
)

// Media types and the CWT typ of status list tokens.
const (
	MediaTypeStatusListJWT = "application/statuslist+jwt"
	MediaTypeStatusListCWT = "application/statuslist+cwt"
)

// CWT claim keys and COSE header labels of the status list token (-20).
const (
	cwtSub            = 2
	cwtExp            = 4
	cwtIat            = 6
	cwtTTL            = 65534
	cwtStatusList     = 65533
	cwtStatusList03   = 65535 // draft -03
	cwtStatusList02   = 65534 // draft -02 (the ttl key since -03)
	coseHeaderTyp     = 16
	cwtTag            = 61
	typJWT            = "statuslist+jwt"
	typCWTBeforeDraft = "statuslist+cwt" // drafts before -08
)

// Limits of the token decoder.
const (
	DefaultStatusMaxList = 16 << 20 // bytes of a decompressed list
	MaxStatusSignerChain = 8        // certificates in a token's x5chain / x5c
)

// Errors of status list tokens, for errors.Is.
var (
	ErrStatusSignature = errors.New("status list token signature does not verify")
	ErrStatusExpired   = errors.New("status list token has expired")
	ErrStatusTooLarge  = errors.New("status list too large")
)

// StatusList is a decoded, signature-checked token status list.
type StatusList struct {
	URI      string // the token's sub
	Format   string // "cwt" or "jwt"
	Bits     int    // 1, 2, 4 or 8
	list     []byte
	IssuedAt time.Time
	Expires  time.Time     // zero when the token has no exp
	TTL      time.Duration // zero when the token has no ttl
	// Signer is the x5chain (CWT) or x5c (JWT) the signature was verified with, leaf
	// first; nil when a configured key verified a token that carries none.
	Signer []*x509.Certificate
	// Deviations lists the older-draft forms the token was accepted in.
	Deviations []string
}

// Len returns the number of entries the list holds.
func (l *StatusList) Len() uint64 { return uint64(len(l.list)) * uint64(8/l.Bits) }

// Get returns the status at idx; an index beyond the list is an error (the draft: no
// statement can be made, the referenced token must be rejected).
func (l *StatusList) Get(idx uint64) (uint8, error) {
	perByte := uint64(8 / l.Bits)
	i := idx / perByte
	if i >= uint64(len(l.list)) {
		return 0, fmt.Errorf("status list %s: index %d is out of range (%d entries)", l.URI, idx, l.Len())
	}
	shift := (idx % perByte) * uint64(l.Bits)
	return (l.list[i] >> shift) & (1<<l.Bits - 1), nil
}

// size is what the list costs in memory, for the client's bounds.
func (l *StatusList) size() int64 {
	n := int64(len(l.list))
	for _, c := range l.Signer {
		n += int64(len(c.Raw))
	}
	return n
}

// DecodeStatusListToken decodes a status list token, JWT (a compact JWS: text starting
// "ey") or CWT (anything else), and verifies its signature: with the leaf of the
// x5chain (CWT header 33) or x5c (JWT) it carries, else with one of keys. It checks the
// typ, the required claims and bits, and decompresses the list within maxList bytes
// (0: DefaultStatusMaxList). It does not check sub, exp or whom the signer belongs to:
// StatusClient does that per lookup. Input is bounded by messages.MaxMessageSize.
func DecodeStatusListToken(body []byte, ks []crypto.PublicKey, maxList int64) (*StatusList, error) {
	if len(body) > messages.MaxMessageSize {
		return nil, fmt.Errorf("%w: token of %d bytes", ErrStatusTooLarge, len(body))
	}
	if maxList <= 0 {
		maxList = DefaultStatusMaxList
	}
	if t := bytes.TrimSpace(body); bytes.HasPrefix(t, []byte("ey")) {
		return decodeStatusJWT(string(t), ks, maxList)
	}
	return decodeStatusCWT(body, ks, maxList)
}

type jwtHeader struct {
	Alg string   `json:"alg"`
	Typ string   `json:"typ"`
	X5c []string `json:"x5c"`
}

type statusClaims struct {
	Sub        string   `json:"sub"`
	Iat        *float64 `json:"iat"`
	Exp        *float64 `json:"exp"`
	TTL        *float64 `json:"ttl"`
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

func decodeStatusJWT(token string, ks []crypto.PublicKey, maxList int64) (*StatusList, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("status list JWT: not a compact JWS")
	}
	dec := base64.RawURLEncoding
	hb, err1 := dec.DecodeString(parts[0])
	pb, err2 := dec.DecodeString(parts[1])
	sig, err3 := dec.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("status list JWT: base64url: %w", err)
	}
	var h jwtHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("status list JWT: header: %w", err)
	}
	// RFC 7515 §4.1.9: the "application/" prefix may be left out, and usually is
	if h.Typ != typJWT && h.Typ != MediaTypeStatusListJWT {
		return nil, fmt.Errorf("status list JWT: typ %q, want %s", h.Typ, typJWT)
	}
	alg, ok := jwsAlgs[h.Alg]
	if !ok {
		return nil, fmt.Errorf("status list JWT: alg %q not accepted (ES256, ES384, ES512, EdDSA)", h.Alg)
	}
	if alg.sigLen != 0 && len(sig) != alg.sigLen {
		return nil, fmt.Errorf("status list JWT: %w: %s signature of %d bytes", ErrStatusSignature, h.Alg, len(sig))
	}
	l := &StatusList{Format: "jwt"}
	var chain [][]byte
	if len(h.X5c) > 0 {
		if len(h.X5c) > MaxStatusSignerChain {
			return nil, fmt.Errorf("status list JWT: x5c of %d certificates (limit %d)", len(h.X5c), MaxStatusSignerChain)
		}
		for i, c := range h.X5c {
			der, err := base64.StdEncoding.DecodeString(c)
			if err != nil {
				return nil, fmt.Errorf("status list JWT: x5c[%d]: %w", i, err)
			}
			chain = append(chain, der)
		}
	}
	if err := l.verify(alg.cose, []byte(parts[0]+"."+parts[1]), sig, chain, ks); err != nil {
		return nil, fmt.Errorf("status list JWT: %w", err)
	}
	var cl statusClaims
	if err := json.Unmarshal(pb, &cl); err != nil {
		return nil, fmt.Errorf("status list JWT: claims: %w", err)
	}
	if cl.StatusList == nil {
		return nil, errors.New("status list JWT: status_list claim missing")
	}
	lst, err := dec.DecodeString(cl.StatusList.Lst)
	if err != nil {
		return nil, fmt.Errorf("status list JWT: lst: %w", err)
	}
	if err := l.claims(cl.Sub, cl.Iat, cl.Exp, cl.TTL, cl.StatusList.Bits, lst, maxList); err != nil {
		return nil, fmt.Errorf("status list JWT: %w", err)
	}
	return l, nil
}

// cwtStatusListClaim is the CBOR StatusList structure.
type cwtStatusListClaim struct {
	Bits           int    `cbor:"bits"`
	Lst            []byte `cbor:"lst"`
	AggregationURI string `cbor:"aggregation_uri,omitempty"`
}

func decodeStatusCWT(body []byte, ks []crypto.PublicKey, maxList int64) (*StatusList, error) {
	l := &StatusList{Format: "cwt"}
	data := body
	if len(data) > 2 && data[0] == 0xd8 && data[1] == cwtTag {
		data = data[2:]
		l.Deviations = append(l.Deviations, "status list CWT wrapped in the CWT tag 61 (the draft forbids it)")
	}
	var s messages.CoseSign1
	if err := messages.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("status list CWT: %w", err)
	}
	if !s.Tagged {
		l.Deviations = append(l.Deviations, "status list CWT is an untagged COSE_Sign1 (drafts before -15)")
	}
	if s.Detached {
		return nil, errors.New("status list CWT: detached payload")
	}
	ph, err := s.ProtectedHeader()
	if err != nil {
		return nil, fmt.Errorf("status list CWT: protected header: %w", err)
	}
	var typ string
	if raw, ok := intKey(ph, coseHeaderTyp); !ok {
		return nil, errors.New("status list CWT: typ (16) missing from the protected header")
	} else if messages.Unmarshal(raw, &typ) != nil {
		return nil, errors.New("status list CWT: typ (16) is not text")
	}
	switch typ {
	case MediaTypeStatusListCWT:
	case typCWTBeforeDraft:
		l.Deviations = append(l.Deviations, `status list CWT typ "statuslist+cwt" (drafts before -08)`)
	default:
		return nil, fmt.Errorf("status list CWT: typ %q, want %s", typ, MediaTypeStatusListCWT)
	}
	alg, inProtected, err := s.Alg()
	if err != nil || !inProtected {
		return nil, fmt.Errorf("status list CWT: alg must be in the protected header (%v)", err)
	}
	var chain [][]byte
	if der, _, _, err := s.X5Chain(); err == nil {
		if len(der) > MaxStatusSignerChain {
			return nil, fmt.Errorf("status list CWT: x5chain of %d certificates (limit %d)", len(der), MaxStatusSignerChain)
		}
		chain = der
	} else if raw, ok := intKey(ph, messages.HeaderX5Chain); ok || len(raw) > 0 {
		return nil, fmt.Errorf("status list CWT: x5chain: %w", err)
	}
	if err := l.verify(alg, messages.SigStructure(s.Protected, s.Payload), s.Signature, chain, ks); err != nil {
		return nil, fmt.Errorf("status list CWT: %w", err)
	}
	var claims map[any]cbor.RawMessage
	if err := messages.Unmarshal(s.Payload, &claims); err != nil {
		return nil, fmt.Errorf("status list CWT: claims: %w", err)
	}
	var sub string
	if raw, ok := intKey(claims, cwtSub); ok && messages.Unmarshal(raw, &sub) != nil {
		return nil, errors.New("status list CWT: sub (2) is not text")
	}
	iat, err := cwtNumber(claims, cwtIat)
	if err != nil {
		return nil, err
	}
	exp, err := cwtNumber(claims, cwtExp)
	if err != nil {
		return nil, err
	}
	var sl cwtStatusListClaim
	var ttl *float64
	raw, ok := intKey(claims, cwtStatusList)
	switch {
	case ok:
		if ttl, err = cwtNumber(claims, cwtTTL); err != nil {
			return nil, err
		}
	case isMap(claims, cwtStatusList03):
		raw, _ = intKey(claims, cwtStatusList03)
		l.Deviations = append(l.Deviations, "status_list under CWT claim 65535 (draft -03)")
		if ttl, err = cwtNumber(claims, cwtTTL); err != nil {
			return nil, err
		}
	case isMap(claims, cwtStatusList02):
		raw, _ = intKey(claims, cwtStatusList02)
		l.Deviations = append(l.Deviations, "status_list under CWT claim 65534 (draft -02)")
	default:
		return nil, errors.New("status list CWT: status_list (65533) missing")
	}
	if err := messages.Unmarshal(raw, &sl); err != nil {
		return nil, fmt.Errorf("status list CWT: status_list: %w", err)
	}
	if err := l.claims(sub, iat, exp, ttl, sl.Bits, sl.Lst, maxList); err != nil {
		return nil, fmt.Errorf("status list CWT: %w", err)
	}
	return l, nil
}

// verify checks sig over msg with the leaf of chain (parsed into l.Signer) or, when the
// token carries no chain, with one of ks.
func (l *StatusList) verify(alg int64, msg, sig []byte, chain [][]byte, ks []crypto.PublicKey) error {
	if len(chain) > 0 {
		for i, der := range chain {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("signer certificate %d: %w", i, err)
			}
			l.Signer = append(l.Signer, c)
		}
		ks = []crypto.PublicKey{l.Signer[0].PublicKey}
	} else if len(ks) == 0 {
		return errors.New("the token carries no certificate and no status list signing key is configured")
	}
	for _, k := range ks {
		if !keyFits(k, alg) {
			continue
		}
		if der, err := keys.VerifyDetail(k, alg, msg, sig); err == nil {
			if der {
				l.Deviations = append(l.Deviations, "status list token ECDSA signature in ASN.1 DER, not r||s")
			}
			return nil
		}
	}
	if len(chain) > 0 {
		return fmt.Errorf("%w with its signer certificate", ErrStatusSignature)
	}
	return fmt.Errorf("%w with any configured key", ErrStatusSignature)
}

// claims checks and stores the claims common to both forms and decompresses lst.
func (l *StatusList) claims(sub string, iat, exp, ttl *float64, bits int, lst []byte, maxList int64) error {
	if sub == "" {
		return errors.New("sub missing")
	}
	l.URI = sub
	if iat == nil {
		return errors.New("iat missing")
	}
	l.IssuedAt = unixTime(*iat)
	if exp != nil {
		l.Expires = unixTime(*exp)
	}
	if ttl != nil {
		if *ttl <= 0 || *ttl != math.Trunc(*ttl) {
			return fmt.Errorf("ttl %v is not a positive integer", *ttl)
		}
		l.TTL = time.Duration(min(*ttl, float64(DefaultStatusMaxTTL/time.Second))) * time.Second
	}
	switch l.Bits = bits; bits {
	case 1, 2, 4, 8:
	default:
		return fmt.Errorf("bits %d is not 1, 2, 4 or 8", bits)
	}
	zr, err := zlib.NewReader(bytes.NewReader(lst))
	if err != nil {
		return fmt.Errorf("lst: %w", err)
	}
	if l.list, err = io.ReadAll(io.LimitReader(zr, maxList+1)); err != nil {
		return fmt.Errorf("lst: %w", err)
	}
	if int64(len(l.list)) > maxList {
		return fmt.Errorf("%w: decompressed list over %d bytes", ErrStatusTooLarge, maxList)
	}
	return nil
}

// unixTime converts a NumericDate, clamped to what time.Time holds sensibly.
func unixTime(v float64) time.Time {
	v = max(min(v, 1<<40), -(1 << 40))
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// intKey finds an integer key in a decoded CBOR map whatever integer type it came as.
func intKey(m map[any]cbor.RawMessage, k int64) (cbor.RawMessage, bool) {
	for key, v := range m {
		switch kk := key.(type) {
		case int64:
			if kk == k {
				return v, true
			}
		case uint64:
			if k >= 0 && kk == uint64(k) {
				return v, true
			}
		}
	}
	return nil, false
}

func isMap(m map[any]cbor.RawMessage, k int64) bool {
	raw, ok := intKey(m, k)
	return ok && len(raw) > 0 && raw[0]>>5 == 5
}

// cwtNumber reads an optional NumericDate or unsigned claim (integer or float).
func cwtNumber(m map[any]cbor.RawMessage, k int64) (*float64, error) {
	raw, ok := intKey(m, k)
	if !ok {
		return nil, nil
	}
	var i int64
	if messages.Unmarshal(raw, &i) == nil {
		f := float64(i)
		return &f, nil
	}
	var f float64
	if err := messages.Unmarshal(raw, &f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("status list CWT: claim %d is not a number", k)
	}
	return &f, nil
}

func keyFits(k crypto.PublicKey, alg int64) bool {
	switch k.(type) {
	case *ecdsa.PublicKey:
		return alg != keys.AlgEdDSA
	case ed25519.PublicKey:
		return alg == keys.AlgEdDSA
	}
	return true // other key types: let keys.Verify decide
}

// StatusListToken is the content of a status list token to sign (for issuers, tools and
// tests): Statuses[i] is the status of index i, each below 2^Bits.
type StatusListToken struct {
	URI      string
	Bits     int
	Statuses []uint8
	IssuedAt time.Time
	Expires  time.Time     // zero leaves exp out
	TTL      time.Duration // zero leaves ttl out
}

// lst packs and zlib-compresses the statuses.
func (t StatusListToken) lst() ([]byte, error) {
	switch t.Bits {
	case 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("status list: bits %d is not 1, 2, 4 or 8", t.Bits)
	}
	perByte := 8 / t.Bits
	packed := make([]byte, (len(t.Statuses)+perByte-1)/perByte)
	for i, s := range t.Statuses {
		if int(s) >= 1<<t.Bits {
			return nil, fmt.Errorf("status list: status %d at %d does not fit in %d bits", s, i, t.Bits)
		}
		packed[i/perByte] |= s << ((i % perByte) * t.Bits)
	}
	var zb bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&zb, zlib.BestCompression)
	zw.Write(packed)
	zw.Close()
	return zb.Bytes(), nil
}

func signAlg(key *keys.PrivateKey) (int64, error) {
	alg := keys.DefaultAlg(key.Curve())
	for _, a := range jwsAlgs {
		if a.cose == alg {
			return alg, nil
		}
	}
	return 0, fmt.Errorf("status list: no JWS/COSE algorithm for curve %d", key.Curve())
}

// SignCWT signs the token as a -20 CWT: #6.18 COSE_Sign1 with protected {1: alg, 16:
// "application/statuslist+cwt"}, chain (leaf first; may be nil) as x5chain in the
// unprotected header, ES256/ES384/ES512 by curve or EdDSA.
func (t StatusListToken) SignCWT(key *keys.PrivateKey, chain [][]byte) ([]byte, error) {
	lst, err := t.lst()
	if err != nil {
		return nil, err
	}
	alg, err := signAlg(key)
	if err != nil {
		return nil, err
	}
	var ph messages.Map[int64, any]
	ph.Set(messages.HeaderAlg, alg)
	ph.Set(coseHeaderTyp, MediaTypeStatusListCWT)
	protected, err := ph.MarshalCBOR()
	if err != nil {
		return nil, err
	}
	var sl messages.Map[string, any]
	sl.Set("bits", t.Bits)
	sl.Set("lst", lst)
	var cl messages.Map[int64, any]
	cl.Set(cwtSub, t.URI)
	cl.Set(cwtIat, t.IssuedAt.Unix())
	if !t.Expires.IsZero() {
		cl.Set(cwtExp, t.Expires.Unix())
	}
	if t.TTL > 0 {
		cl.Set(cwtTTL, int64(t.TTL/time.Second))
	}
	cl.Set(cwtStatusList, &sl)
	payload, err := cl.MarshalCBOR()
	if err != nil {
		return nil, err
	}
	sig, err := keys.Sign(key, alg, nil, messages.SigStructure(protected, payload))
	if err != nil {
		return nil, err
	}
	var unprotected cbor.RawMessage
	if len(chain) > 0 {
		unprotected = messages.EncodeX5ChainHeader(chain)
	}
	b, err := messages.CoseSign1{Protected: protected, Unprotected: unprotected, Payload: payload, Signature: sig}.MarshalCBOR()
	if err != nil {
		return nil, err
	}
	return append([]byte{0xd2}, b...), nil // tag 18
}

// SignJWT signs the token as a JWT (typ statuslist+jwt) with chain (leaf first; may be
// nil) as x5c, ES256/ES384/ES512 by curve or EdDSA.
func (t StatusListToken) SignJWT(key *keys.PrivateKey, chain [][]byte) (string, error) {
	lst, err := t.lst()
	if err != nil {
		return "", err
	}
	alg, err := signAlg(key)
	if err != nil {
		return "", err
	}
	name := ""
	for n, a := range jwsAlgs {
		if a.cose == alg {
			name = n
		}
	}
	claims := map[string]any{"sub": t.URI, "iat": t.IssuedAt.Unix(),
		"status_list": map[string]any{"bits": t.Bits, "lst": base64.RawURLEncoding.EncodeToString(lst)}}
	if !t.Expires.IsZero() {
		claims["exp"] = t.Expires.Unix()
	}
	if t.TTL > 0 {
		claims["ttl"] = int64(t.TTL / time.Second)
	}
	h := map[string]any{"alg": name, "typ": typJWT}
	if len(chain) > 0 {
		x5c := make([]string, len(chain))
		for i, c := range chain {
			x5c[i] = base64.StdEncoding.EncodeToString(c)
		}
		h["x5c"] = x5c
	}
	hb, _ := json.Marshal(h)
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
