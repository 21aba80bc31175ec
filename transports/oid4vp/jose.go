package oid4vp

import (
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
	"strings"
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
// (chain, DER, leaf first; omitted when empty).
func SignJWT(k *keys.PrivateKey, chain [][]byte, typ string, claims any) (string, error) {
	alg, err := JWSAlg(k)
	if err != nil {
		return "", err
	}
	var sk any
	switch s := k.Signer().(type) {
	case *ecdsa.PrivateKey:
		sk = s
	case ed25519.PrivateKey:
		sk = s
	default:
		return "", fmt.Errorf("oid4vp: key type %T cannot sign a JWS", s)
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	if len(chain) > 0 {
		x5c := make([]string, len(chain))
		for i, c := range chain {
			x5c[i] = base64.StdEncoding.EncodeToString(c)
		}
		opts = opts.WithHeader("x5c", x5c)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: sk}, opts)
	if err != nil {
		return "", fmt.Errorf("oid4vp: JWS signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("oid4vp: JWT claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("oid4vp: JWS sign: %w", err)
	}
	return jws.CompactSerialize()
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
}

// NewEncryptionKey makes a fresh P-256 encryption key with a random kid.
func NewEncryptionKey() (*EncryptionKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &EncryptionKey{Private: k, KeyID: randomString(12)}, nil
}

// PublicJWK is the key as published in client_metadata.jwks: with kid, use "enc" and
// alg "ECDH-ES".
func (e *EncryptionKey) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &e.Private.PublicKey, KeyID: e.KeyID, Use: "enc", Algorithm: string(jose.ECDH_ES)}
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of the public key (32 bytes): the
// jwkThumbprint of the handover.
func (e *EncryptionKey) Thumbprint() []byte {
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

func decryptJWE(token string, key *EncryptionKey) ([]byte, jweHeader, error) {
	var h jweHeader
	if len(token) > MaxJWTSize {
		return nil, h, fmt.Errorf("%w: JWE of %d bytes exceeds the limit of %d", ErrMalformed, len(token), MaxJWTSize)
	}
	jwe, err := jose.ParseEncryptedCompact(strings.TrimSpace(token), []jose.KeyAlgorithm{jose.ECDH_ES},
		[]jose.ContentEncryption{jose.A128GCM, jose.A256GCM})
	if err != nil {
		return nil, h, fmt.Errorf("%w: JWE: %v", ErrMalformed, err)
	}
	if kid := jwe.Header.KeyID; kid != "" && key.KeyID != "" && kid != key.KeyID {
		return nil, h, fmt.Errorf("%w: JWE kid %q is not the transaction's encryption key %q", ErrDecrypt, kid, key.KeyID)
	}
	pt, err := jwe.Decrypt(key.Private)
	if err != nil {
		return nil, h, fmt.Errorf("%w: JWE: %v", ErrDecrypt, err)
	}
	if apu, ok := jwe.Header.ExtraHeaders["apu"].(string); ok {
		h.apu, _ = base64.RawURLEncoding.DecodeString(apu)
	}
	return pt, h, nil
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
