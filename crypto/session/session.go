// Package session derives the ISO/IEC 18013-5 session keys (§9.1.1.5, also used by
// ISO/IEC TS 23220-4 and 18013-7) and performs the AES-256-GCM session encryption of
// SessionEstablishment and SessionData.
//
// Keys come from HKDF-SHA-256 over the ECDH secret Zab with salt SHA-256 of the tag-24
// wrapped SessionTranscriptBytes. Each message is sealed with the sender's key under the
// 12-byte IV identifier (8 bytes) || counter (4 bytes, big endian, starting at 1), 16-byte
// tag appended, no additional data.
package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

var (
	// ErrDecrypt: a message did not authenticate under the peer's key and the expected
	// counter. The session must end with SessionData status 10 (StatusSessionEncryption).
	ErrDecrypt = errors.New("session: decryption failed")
	// ErrCounterExhausted: this side has sent 2^32-2 messages; the session must end.
	ErrCounterExhausted = errors.New("session: message counter exhausted")
)

// StatusSessionEncryption is the SessionData status (18013-5 Table 20) to send after
// ErrDecrypt.
const StatusSessionEncryption = 10

// KeySize is the length of SKReader, SKDevice and EMacKey.
const KeySize = 32

// SessionTranscriptSalt returns the HKDF salt SHA-256(SessionTranscriptBytes).
// sessionTranscriptBytes must be the tag-24 item (starting d8 18) exactly as both sides
// encode it; a hash over the untagged array gives other keys.
func SessionTranscriptSalt(sessionTranscriptBytes []byte) []byte {
	s := sha256.Sum256(sessionTranscriptBytes)
	return s[:]
}

// checkTranscript rejects a transcript that is not a tag-24 item, the most common mistake.
func checkTranscript(b []byte) error {
	if _, err := messages.ParseEncodedCBOR(b); err != nil {
		return fmt.Errorf("session: SessionTranscriptBytes must be #6.24(bstr): %w", err)
	}
	return nil
}

func derive(zab, salt []byte, info string, n int) ([]byte, error) {
	if len(zab) == 0 {
		return nil, errors.New("session: empty shared secret")
	}
	k, err := hkdf.Key(sha256.New, zab, salt, info, n)
	if err != nil {
		return nil, fmt.Errorf("session: HKDF %q: %w", info, err)
	}
	return k, nil
}

// DeriveSessionKeys returns SKReader and SKDevice: HKDF-SHA-256(Zab, salt =
// SHA-256(SessionTranscriptBytes), info "SKReader"/"SKDevice", 32 bytes).
func DeriveSessionKeys(zab, sessionTranscriptBytes []byte) (skReader, skDevice []byte, err error) {
	if err := checkTranscript(sessionTranscriptBytes); err != nil {
		return nil, nil, err
	}
	if len(zab) == 0 {
		return nil, nil, errors.New("session: empty shared secret")
	}
	// one extraction serves both keys: HKDF's PRK depends on Zab and the salt only
	prk, err := hkdf.Extract(sha256.New, zab, SessionTranscriptSalt(sessionTranscriptBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("session: HKDF extract: %w", err)
	}
	if skReader, err = hkdf.Expand(sha256.New, prk, "SKReader", KeySize); err != nil {
		return nil, nil, fmt.Errorf("session: HKDF %q: %w", "SKReader", err)
	}
	if skDevice, err = hkdf.Expand(sha256.New, prk, "SKDevice", KeySize); err != nil {
		return nil, nil, fmt.Errorf("session: HKDF %q: %w", "SKDevice", err)
	}
	return skReader, skDevice, nil
}

// DeriveEMacKey returns the deviceMac key: HKDF-SHA-256(Zab, SHA-256(SessionTranscriptBytes),
// "EMacKey", 32), where Zab = ECDH(SDeviceKey, EReaderKey).
func DeriveEMacKey(zab, sessionTranscriptBytes []byte) ([]byte, error) {
	if err := checkTranscript(sessionTranscriptBytes); err != nil {
		return nil, err
	}
	return derive(zab, SessionTranscriptSalt(sessionTranscriptBytes), "EMacKey", KeySize)
}

// engagementValue is HKDF-SHA-256(EDeviceKeyBytes, empty salt, info, n); it cannot fail.
func engagementValue(eDeviceKeyBytes []byte, info string, n int) []byte {
	k, err := hkdf.Key(sha256.New, eDeviceKeyBytes, nil, info, n)
	if err != nil {
		panic(err) // only for n > 255*32
	}
	return k
}

// BLEIdent returns the 16-byte BLE Ident characteristic value for EDeviceKeyBytes (the
// tag-24 wrapped COSE_Key of the DeviceEngagement).
func BLEIdent(eDeviceKeyBytes []byte) []byte {
	return engagementValue(eDeviceKeyBytes, "BLEIdent", 16)
}

// NANServiceName returns the Wi-Fi Aware service name: HKDF info "NANService", 16 bytes as
// lowercase hex.
func NANServiceName(eDeviceKeyBytes []byte) string {
	return hex.EncodeToString(engagementValue(eDeviceKeyBytes, "NANService", 16))
}

// NANPassphrase returns the Wi-Fi Aware passphrase used when none is given: HKDF info
// "NANPassphrase", 32 bytes as base64url without padding.
func NANPassphrase(eDeviceKeyBytes []byte) string {
	return base64.RawURLEncoding.EncodeToString(engagementValue(eDeviceKeyBytes, "NANPassphrase", 32))
}

// Role is the side of the session a Cipher acts for.
type Role int

const (
	RoleReader Role = iota + 1 // encrypts with SKReader, decrypts with SKDevice
	RoleDevice                 // the mdoc: encrypts with SKDevice, decrypts with SKReader
)

func (r Role) String() string {
	switch r {
	case RoleReader:
		return "reader"
	case RoleDevice:
		return "mdoc"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// IV identifiers (18013-5 §9.1.1.5).
var (
	readerIdentifier = [8]byte{0, 0, 0, 0, 0, 0, 0, 0}
	deviceIdentifier = [8]byte{0, 0, 0, 0, 0, 0, 0, 1}
)

// lastCounter is the highest counter used: one below 2^32-1 so a counter never wraps.
const lastCounter = math.MaxUint32 - 1

type direction struct {
	key     []byte
	aead    cipher.AEAD
	id      [8]byte
	counter uint32 // next counter to use or expect
}

func newDirection(key []byte, id [8]byte) (direction, error) {
	if len(key) != KeySize {
		return direction{}, fmt.Errorf("session: key must be %d bytes, got %d", KeySize, len(key))
	}
	k := append([]byte(nil), key...)
	block, err := aes.NewCipher(k)
	if err != nil {
		return direction{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return direction{}, err
	}
	return direction{key: k, aead: aead, id: id, counter: 1}, nil
}

func (d *direction) iv() []byte {
	var iv [12]byte
	copy(iv[:8], d.id[:])
	binary.BigEndian.PutUint32(iv[8:], d.counter)
	return iv[:]
}

// Cipher encrypts this side's messages and decrypts the peer's for one session. It is not
// safe for concurrent use: the counters are its state, and one Cipher belongs to one side
// of one session.
type Cipher struct {
	role    Role
	out, in direction
	closed  bool
}

// NewCipher makes the Cipher of role from the two session keys. Both counters start at 1.
func NewCipher(role Role, skReader, skDevice []byte) (*Cipher, error) {
	var ownKey, peerKey []byte
	var ownID, peerID [8]byte
	switch role {
	case RoleReader:
		ownKey, ownID, peerKey, peerID = skReader, readerIdentifier, skDevice, deviceIdentifier
	case RoleDevice:
		ownKey, ownID, peerKey, peerID = skDevice, deviceIdentifier, skReader, readerIdentifier
	default:
		return nil, fmt.Errorf("session: unknown role %d", int(role))
	}
	out, err := newDirection(ownKey, ownID)
	if err != nil {
		return nil, fmt.Errorf("session: own key: %w", err)
	}
	in, err := newDirection(peerKey, peerID)
	if err != nil {
		return nil, fmt.Errorf("session: peer key: %w", err)
	}
	return &Cipher{role: role, out: out, in: in}, nil
}

// Establish runs ECDH between own and the peer's ephemeral key, derives the session keys
// from sessionTranscriptBytes and returns the Cipher for role. Zab is wiped afterwards.
func Establish(role Role, own *keys.PrivateKey, peer *messages.COSEKey, sessionTranscriptBytes []byte) (*Cipher, error) {
	zab, err := keys.ECDH(own, peer)
	if err != nil {
		return nil, fmt.Errorf("session: key agreement: %w", err)
	}
	defer clear(zab)
	skr, skd, err := DeriveSessionKeys(zab, sessionTranscriptBytes)
	if err != nil {
		return nil, err
	}
	defer clear(skr)
	defer clear(skd)
	return NewCipher(role, skr, skd)
}

// Role returns the side this Cipher acts for.
func (c *Cipher) Role() Role { return c.role }

// Encrypt seals plaintext with this side's key and next counter, which it then consumes:
// an IV is never used twice. After 2^32-2 messages it returns ErrCounterExhausted.
func (c *Cipher) Encrypt(plaintext []byte) ([]byte, error) {
	return c.EncryptTo(nil, plaintext)
}

// Overhead is what Encrypt adds to a plaintext's length (the GCM tag).
const Overhead = 16

// EncryptTo is Encrypt appending the ciphertext to dst, whose storage must not overlap
// plaintext's; it returns the extended slice.
func (c *Cipher) EncryptTo(dst, plaintext []byte) ([]byte, error) {
	if c.closed {
		return nil, errors.New("session: cipher closed")
	}
	if c.out.counter > lastCounter {
		return nil, ErrCounterExhausted
	}
	dst = c.out.aead.Seal(dst, c.out.iv(), plaintext, nil)
	c.out.counter++
	return dst, nil
}

// Decrypt opens a peer message under the peer's key and the one counter expected next.
// Replayed, reordered or skipped messages fail with ErrDecrypt, as does any tampering;
// a failure leaves the expected counter unchanged.
func (c *Cipher) Decrypt(ciphertext []byte) ([]byte, error) {
	if c.closed {
		return nil, errors.New("session: cipher closed")
	}
	if c.in.counter > lastCounter {
		return nil, ErrCounterExhausted
	}
	if len(ciphertext) < c.in.aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the GCM tag", ErrDecrypt, len(ciphertext))
	}
	pt, err := c.in.aead.Open(nil, c.in.iv(), ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s message %d does not authenticate", ErrDecrypt, c.peerName(), c.in.counter)
	}
	c.in.counter++
	return pt, nil
}

func (c *Cipher) peerName() string {
	if c.role == RoleReader {
		return "mdoc"
	}
	return "reader"
}

// Close wipes both session keys; the Cipher cannot be used afterwards. The AES key
// schedule inside crypto/cipher cannot be reached and is left to the garbage collector.
func (c *Cipher) Close() {
	clear(c.out.key)
	clear(c.in.key)
	c.out.aead, c.in.aead = nil, nil
	c.closed = true
}
