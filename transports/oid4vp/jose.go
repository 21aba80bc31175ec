package oid4vp

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Media and header types.
const (
	TypeRequestObject = "oauth-authz-req+jwt"
	MediaRequestJWT   = "application/oauth-authz-req+jwt"
)

// MaxJWTSize bounds a compact JWS or JWE handled here.
const MaxJWTSize = 1 << 20

var (
	// ErrMalformed: a JWS, JWE, JSON or CBOR input does not parse.
	ErrMalformed = errors.New("oid4vp: malformed input")
	// ErrSignature: a signature or certificate chain does not verify.
	ErrSignature = errors.New("oid4vp: signature or certificate check failed")
	// ErrDecrypt: a JWE does not decrypt with the transaction's key.
	ErrDecrypt = errors.New("oid4vp: decryption failed")
)

var signatureAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// JWSAlg returns the JWS algorithm for a signing key's curve.
func JWSAlg(k *keys.PrivateKey) (jose.SignatureAlgorithm, error) {
	switch k.Curve() {
	case messages.CurveP256:
		return jose.ES256, nil
	case messages.CurveP384:
		return jose.ES384, nil
	case messages.CurveP521:
		return jose.ES512, nil
	case messages.CurveEd25519:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("oid4vp: no JWS algorithm for curve %d (use P-256, P-384, P-521 or Ed25519)", k.Curve())
}

// SignJWT signs claims (marshalled to JSON) as a compact JWS with header typ and x5c
// (chain, DER, leaf first; omitted when empty). It is written here on crypto/ecdsa
// and crypto/ed25519 (ECDSA signatures as r ‖ s, RFC 7518 §3.4) rather than with
// go-jose, which verifies (VerifyX5CJWT): the tests cross-check the two.
func SignJWT(k *keys.PrivateKey, chain [][]byte, typ string, claims any) (string, error) {
	s, err := newJWSSigner(k, chain, typ)
	if err != nil {
		return "", err
	}
	return s.sign(claims)
}

// jwsSigner signs compact JWSs with one key and one protected header.
type jwsSigner struct {
	key    crypto.Signer
	hash   crypto.Hash // 0 for EdDSA
	size   int         // bytes of r and of s
	header string      // the protected header, base64url
}

func newJWSSigner(k *keys.PrivateKey, chain [][]byte, typ string) (*jwsSigner, error) {
	alg, err := JWSAlg(k)
	if err != nil {
		return nil, err
	}
	s := &jwsSigner{key: k.Signer()}
	switch alg {
	case jose.ES256:
		s.hash, s.size = crypto.SHA256, 32
	case jose.ES384:
		s.hash, s.size = crypto.SHA384, 48
	case jose.ES512:
		s.hash, s.size = crypto.SHA512, 66
	}
	if _, ok := s.key.(*ecdsa.PrivateKey); !ok && s.hash != 0 {
		return nil, fmt.Errorf("oid4vp: key type %T cannot sign %s", s.key, alg)
	}
	if _, ok := s.key.(ed25519.PrivateKey); !ok && s.hash == 0 {
		return nil, fmt.Errorf("oid4vp: key type %T cannot sign %s", s.key, alg)
	}
	h := JWSHeader{Alg: string(alg), Typ: typ}
	for _, c := range chain {
		h.X5C = append(h.X5C, base64.StdEncoding.EncodeToString(c))
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	s.header = base64.RawURLEncoding.EncodeToString(hb)
	return s, nil
}

func (s *jwsSigner) sign(claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("oid4vp: JWT claims: %w", err)
	}
	input := make([]byte, 0, len(s.header)+1+base64.RawURLEncoding.EncodedLen(len(payload)))
	input = append(input, s.header...)
	input = append(input, '.')
	input = base64.RawURLEncoding.AppendEncode(input, payload)
	var sig []byte
	if s.hash == 0 {
		sig = ed25519.Sign(s.key.(ed25519.PrivateKey), input)
	} else {
		hh := s.hash.New()
		hh.Write(input)
		r, ss, err := ecdsa.Sign(rand.Reader, s.key.(*ecdsa.PrivateKey), hh.Sum(nil))
		if err != nil {
			return "", fmt.Errorf("oid4vp: JWS sign: %w", err)
		}
		sig = make([]byte, 2*s.size)
		r.FillBytes(sig[:s.size])
		ss.FillBytes(sig[s.size:])
	}
	out := append(input, '.')
	return string(base64.RawURLEncoding.AppendEncode(out, sig)), nil
}

// JWSHeader is the part of a JWS protected header checked here.
type JWSHeader struct {
	Alg string   `json:"alg"`
	Typ string   `json:"typ,omitempty"`
	Kid string   `json:"kid,omitempty"`
	X5C []string `json:"x5c,omitempty"`
}

// VerifiedJWT is a JWS whose signature verified with its x5c leaf.
type VerifiedJWT struct {
	Header  JWSHeader
	Payload []byte
	Chain   []*x509.Certificate // x5c, leaf first
	Anchor  *x509.Certificate   // the trust anchor the chain ends at (nil when not checked)
}

// VerifyX5CJWT checks a compact JWS signed with the key of its x5c leaf: the header
// parses, alg is ES256/384/512 or EdDSA, x5c holds at least one certificate, the
// signature verifies with the leaf's key and, when trust is non-nil, the chain leads to
// one of its anchors at now. Errors wrap ErrMalformed or ErrSignature and name the check.
func VerifyX5CJWT(token string, trust *verify.TrustStore, now time.Time) (*VerifiedJWT, error) {
	if len(token) > MaxJWTSize {
		return nil, fmt.Errorf("%w: JWS of %d bytes exceeds the limit of %d", ErrMalformed, len(token), MaxJWTSize)
	}
	token = strings.TrimSpace(token)
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: JWS: compact serialization needs 3 parts, got %d", ErrMalformed, len(parts))
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: JWS header: %v", ErrMalformed, err)
	}
	var h JWSHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("%w: JWS header: %v", ErrMalformed, err)
	}
	if len(h.X5C) == 0 {
		return nil, fmt.Errorf("%w: JWS header: x5c missing", ErrSignature)
	}
	if len(h.X5C) > 10 {
		return nil, fmt.Errorf("%w: JWS header: x5c has %d certificates", ErrMalformed, len(h.X5C))
	}
	chain := make([]*x509.Certificate, len(h.X5C))
	for i, s := range h.X5C {
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: JWS x5c[%d]: %v", ErrMalformed, i, err)
		}
		if chain[i], err = x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("%w: JWS x5c[%d]: %v", ErrMalformed, i, err)
		}
	}
	jws, err := jose.ParseSignedCompact(token, signatureAlgs)
	if err != nil {
		return nil, fmt.Errorf("%w: JWS: %v", ErrMalformed, err)
	}
	payload, err := jws.Verify(chain[0].PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: JWS signature with the x5c leaf key: %v", ErrSignature, err)
	}
	out := &VerifiedJWT{Header: h, Payload: payload, Chain: chain}
	if trust != nil {
		anchor, err := verify.VerifyChain(chain, trust, now, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: JWS x5c chain: %v", ErrSignature, err)
		}
		out.Anchor = anchor
	}
	return out, nil
}

// EncryptionKey is a verifier's ephemeral response-encryption key (ECDH-ES on P-256,
// P-384 or P-521).
type EncryptionKey struct {
	Private *ecdsa.PrivateKey
	KeyID   string

	once       sync.Once
	priv       *ecdh.PrivateKey
	privErr    error
	thumbprint []byte
}

// ecdh is the key as crypto/ecdh's, converted once.
func (e *EncryptionKey) ecdh() (*ecdh.PrivateKey, error) {
	e.once.Do(func() { e.priv, e.privErr = e.Private.ECDH() })
	return e.priv, e.privErr
}

// NewEncryptionKey makes a fresh P-256 encryption key with a random kid.
func NewEncryptionKey() (*EncryptionKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	e := &EncryptionKey{Private: k, KeyID: randomString(12)}
	e.thumbprint = e.Thumbprint() // the handover needs it at every turn
	return e, nil
}

// PublicJWK is the key as published in client_metadata.jwks: with kid, use "enc" and
// alg "ECDH-ES".
func (e *EncryptionKey) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &e.Private.PublicKey, KeyID: e.KeyID, Use: "enc", Algorithm: string(jose.ECDH_ES)}
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of the public key (32 bytes): the
// jwkThumbprint of the handover.
func (e *EncryptionKey) Thumbprint() []byte {
	if e.thumbprint != nil {
		return e.thumbprint
	}
	t, err := (&jose.JSONWebKey{Key: &e.Private.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		panic(err) // an ECDSA public key on a NIST curve always has a thumbprint
	}
	return t
}

// DecryptJWE decrypts a compact JWE addressed to key: alg must be ECDH-ES (direct key
// agreement), enc A128GCM or A256GCM; apu and apv are read from the header whatever
// they hold; a kid in the header, when present, must equal key.KeyID. Errors wrap
// ErrMalformed or ErrDecrypt.
func DecryptJWE(token string, key *EncryptionKey) ([]byte, error) {
	pt, _, err := decryptJWE(token, key)
	return pt, err
}

// jweHeader is what is read of a decrypted JWE's header besides the key agreement.
type jweHeader struct {
	apu []byte // PartyUInfo (an 18013-7:2024 Annex B wallet's mdocGeneratedNonce)
}

// jweProtected is the protected header of a JWE this package decrypts.
type jweProtected struct {
	Alg string          `json:"alg"`
	Enc string          `json:"enc"`
	Kid string          `json:"kid"`
	Zip string          `json:"zip"`
	Apu string          `json:"apu"`
	Apv string          `json:"apv"`
	Epk json.RawMessage `json:"epk"`
}

// maxInflated bounds a "zip": "DEF" plaintext: the JWE's own size limit, and at most
// ten times the compressed size (never less than 250 kB).
func maxInflated(n int) int64 { return min(max(250_000, 10*int64(n)), MaxJWTSize) }

// decryptJWE is DecryptJWE, written here on crypto/ecdh and crypto/cipher (ECDH-ES
// direct key agreement, the Concat KDF, AES-GCM; RFC 7516 compact serialization, RFC
// 7518 §4.6) rather than with go-jose, whose encryption the tests cross-check it with.
func decryptJWE(token string, key *EncryptionKey) ([]byte, jweHeader, error) {
	var h jweHeader
	if len(token) > MaxJWTSize {
		return nil, h, fmt.Errorf("%w: JWE of %d bytes exceeds the limit of %d", ErrMalformed, len(token), MaxJWTSize)
	}
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 5 {
		return nil, h, fmt.Errorf("%w: JWE: compact serialization needs 5 parts, got %d", ErrMalformed, len(parts))
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, h, fmt.Errorf("%w: JWE header: %v", ErrMalformed, err)
	}
	var p jweProtected
	if err := json.Unmarshal(hb, &p); err != nil {
		return nil, h, fmt.Errorf("%w: JWE header: %v", ErrMalformed, err)
	}
	var keyLen int
	switch p.Enc {
	case string(jose.A128GCM):
		keyLen = 16
	case string(jose.A256GCM):
		keyLen = 32
	default:
		return nil, h, fmt.Errorf("%w: JWE: enc %q is not supported (A128GCM, A256GCM)", ErrMalformed, p.Enc)
	}
	switch {
	case p.Alg != string(jose.ECDH_ES):
		return nil, h, fmt.Errorf("%w: JWE: alg %q is not supported (ECDH-ES)", ErrMalformed, p.Alg)
	case parts[1] != "":
		return nil, h, fmt.Errorf("%w: JWE: ECDH-ES carries no encrypted key", ErrMalformed)
	case p.Zip != "" && p.Zip != "DEF":
		return nil, h, fmt.Errorf("%w: JWE: zip %q is not supported (DEF)", ErrMalformed, p.Zip)
	case p.Kid != "" && key.KeyID != "" && p.Kid != key.KeyID:
		return nil, h, fmt.Errorf("%w: JWE kid %q is not the transaction's encryption key %q", ErrDecrypt, p.Kid, key.KeyID)
	}
	epk, err := ecdhPublicJWK(p.Epk, key.Private.Curve)
	if err != nil {
		return nil, h, fmt.Errorf("%w: JWE epk: %v", ErrMalformed, err)
	}
	apu, err1 := base64.RawURLEncoding.DecodeString(p.Apu)
	apv, err2 := base64.RawURLEncoding.DecodeString(p.Apv)
	iv, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	ct, err4 := base64.RawURLEncoding.DecodeString(parts[3])
	tag, err5 := base64.RawURLEncoding.DecodeString(parts[4])
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return nil, h, fmt.Errorf("%w: JWE: %v", ErrMalformed, err)
	}
	priv, err := key.ecdh()
	if err != nil {
		return nil, h, fmt.Errorf("%w: JWE: %v", ErrDecrypt, err)
	}
	z, err := priv.ECDH(epk)
	if err != nil {
		return nil, h, fmt.Errorf("%w: JWE: ECDH: %v", ErrDecrypt, err)
	}
	block, err := aes.NewCipher(concatKDF(z, p.Enc, apu, apv, keyLen))
	if err != nil {
		return nil, h, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, h, err
	}
	if len(iv) != gcm.NonceSize() || len(tag) != gcm.Overhead() {
		return nil, h, fmt.Errorf("%w: JWE: iv of %d or tag of %d bytes", ErrMalformed, len(iv), len(tag))
	}
	pt, err := gcm.Open(nil, iv, append(ct, tag...), []byte(parts[0]))
	if err != nil {
		return nil, h, fmt.Errorf("%w: JWE: %v", ErrDecrypt, err)
	}
	if p.Zip == "DEF" {
		r := flate.NewReader(bytes.NewReader(pt))
		defer r.Close()
		limit := maxInflated(len(pt))
		if pt, err = io.ReadAll(io.LimitReader(r, limit+1)); err != nil {
			return nil, h, fmt.Errorf("%w: JWE zip: %v", ErrMalformed, err)
		}
		if int64(len(pt)) > limit {
			return nil, h, fmt.Errorf("%w: JWE zip: more than %d bytes inflated", ErrTooLarge, limit)
		}
	}
	h.apu = apu
	return pt, h, nil
}

// ecdhPublicJWK reads an EC public JWK {"kty": "EC", "crv", "x", "y"} on curve c (the
// recipient's: the point is checked to be on it).
func ecdhPublicJWK(raw json.RawMessage, c elliptic.Curve) (*ecdh.PublicKey, error) {
	var j struct{ Kty, Crv, X, Y string }
	if len(raw) == 0 {
		return nil, errors.New("missing")
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, err
	}
	var curve ecdh.Curve
	size := (c.Params().BitSize + 7) / 8
	switch {
	case j.Kty != "EC":
		return nil, fmt.Errorf("kty %q, want EC", j.Kty)
	case j.Crv == "P-256" && c == elliptic.P256():
		curve = ecdh.P256()
	case j.Crv == "P-384" && c == elliptic.P384():
		curve = ecdh.P384()
	case j.Crv == "P-521" && c == elliptic.P521():
		curve = ecdh.P521()
	default:
		return nil, fmt.Errorf("crv %q is not the recipient key's %s", j.Crv, c.Params().Name)
	}
	x, err1 := base64.RawURLEncoding.DecodeString(j.X)
	y, err2 := base64.RawURLEncoding.DecodeString(j.Y)
	if err := errors.Join(err1, err2); err != nil || len(x) != size || len(y) != size {
		return nil, fmt.Errorf("coordinates are not %d-byte base64url", size)
	}
	return curve.NewPublicKey(append(append([]byte{4}, x...), y...))
}

// EncryptOptions are the wallet's choices for a JWE response.
type EncryptOptions struct {
	Enc      string // A128GCM (default) or A256GCM
	KeyID    string // repeated in the header when non-empty
	APU, APV []byte // Concat KDF PartyUInfo/PartyVInfo; omitted from the header when empty
}

// EncryptJWE makes a compact JWE with alg ECDH-ES (direct key agreement, RFC 7518
// §4.6) to the recipient's EC public key. It is an independent implementation of the
// sender side (crypto/ecdh and the Concat KDF) so that tests cross-check go-jose.
func EncryptJWE(plaintext []byte, to *ecdsa.PublicKey, o EncryptOptions) (string, error) {
	if o.Enc == "" {
		o.Enc = string(jose.A128GCM)
	}
	var keyLen int
	switch o.Enc {
	case string(jose.A128GCM):
		keyLen = 16
	case string(jose.A256GCM):
		keyLen = 32
	default:
		return "", fmt.Errorf("oid4vp: JWE enc %q is not supported (A128GCM, A256GCM)", o.Enc)
	}
	pub, err := to.ECDH()
	if err != nil {
		return "", fmt.Errorf("oid4vp: JWE recipient key: %w", err)
	}
	eph, err := pub.Curve().GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	z, err := eph.ECDH(pub)
	if err != nil {
		return "", fmt.Errorf("oid4vp: JWE ECDH: %w", err)
	}
	ephECDSA, err := ecdsaPublic(eph.PublicKey())
	if err != nil {
		return "", err
	}
	epk, err := json.Marshal(jose.JSONWebKey{Key: ephECDSA})
	if err != nil {
		return "", err
	}
	hdr := map[string]any{"alg": string(jose.ECDH_ES), "enc": o.Enc, "epk": json.RawMessage(epk)}
	if o.KeyID != "" {
		hdr["kid"] = o.KeyID
	}
	if len(o.APU) > 0 {
		hdr["apu"] = base64.RawURLEncoding.EncodeToString(o.APU)
	}
	if len(o.APV) > 0 {
		hdr["apv"] = base64.RawURLEncoding.EncodeToString(o.APV)
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		return "", err
	}
	protected := base64.RawURLEncoding.EncodeToString(hb)
	cek := concatKDF(z, o.Enc, o.APU, o.APV, keyLen)
	block, err := aes.NewCipher(cek)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	iv := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	sealed := gcm.Seal(nil, iv, plaintext, []byte(protected))
	ct, tag := sealed[:len(sealed)-gcm.Overhead()], sealed[len(sealed)-gcm.Overhead():]
	enc := base64.RawURLEncoding.EncodeToString
	return protected + ".." + enc(iv) + "." + enc(ct) + "." + enc(tag), nil
}

// concatKDF is the single-step KDF of NIST SP 800-56A with SHA-256 as JWA uses it.
func concatKDF(z []byte, algID string, apu, apv []byte, keyLen int) []byte {
	var other []byte
	lp := func(b []byte) {
		other = binary.BigEndian.AppendUint32(other, uint32(len(b)))
		other = append(other, b...)
	}
	lp([]byte(algID))
	lp(apu)
	lp(apv)
	other = binary.BigEndian.AppendUint32(other, uint32(keyLen*8))
	var out []byte
	for counter := uint32(1); len(out) < keyLen; counter++ {
		h := sha256.New()
		_ = binary.Write(h, binary.BigEndian, counter)
		h.Write(z)
		h.Write(other)
		out = h.Sum(out)
	}
	return out[:keyLen]
}

func ecdsaPublic(p *ecdh.PublicKey) (*ecdsa.PublicKey, error) {
	var c elliptic.Curve
	switch p.Curve() {
	case ecdh.P256():
		c = elliptic.P256()
	case ecdh.P384():
		c = elliptic.P384()
	case ecdh.P521():
		c = elliptic.P521()
	default:
		return nil, errors.New("oid4vp: unsupported ECDH curve")
	}
	return ecdsa.ParseUncompressedPublicKey(c, p.Bytes())
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
