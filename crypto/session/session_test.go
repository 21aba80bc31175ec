package session

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// sessionMessage covers SessionEstablishment and SessionData for these tests.
type sessionMessage struct {
	EReaderKey messages.EncodedCBOR `cbor:"eReaderKey,omitempty"`
	Data       []byte               `cbor:"data,omitempty"`
	Status     *uint                `cbor:"status,omitempty"`
}

func decodeSession(t testing.TB, name string) sessionMessage {
	t.Helper()
	var m sessionMessage
	if err := messages.Unmarshal(testvectors.AnnexD(t, name), &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func annexDKeys(t testing.TB) (skr, skd []byte) {
	t.Helper()
	skr, skd, err := DeriveSessionKeys(testvectors.AnnexD(t, "session_ecdh_zab.hex"), testvectors.AnnexD(t, "session_transcript_bytes.hex"))
	if err != nil {
		t.Fatal(err)
	}
	return skr, skd
}

func TestSessionKeysAnnexD(t *testing.T) {
	skr, skd := annexDKeys(t)
	if want := testvectors.AnnexD(t, "sk_reader.hex"); !bytes.Equal(skr, want) {
		t.Errorf("SKReader = %x, want %x", skr, want)
	}
	if want := testvectors.AnnexD(t, "sk_device.hex"); !bytes.Equal(skd, want) {
		t.Errorf("SKDevice = %x, want %x", skd, want)
	}
	salt := SessionTranscriptSalt(testvectors.AnnexD(t, "session_transcript_bytes.hex"))
	if got := hex.EncodeToString(salt); got != "f823ac566e22b2106c9b7c02fadc7482e559a1de8a809b56c828779e6d67570e" {
		t.Errorf("salt = %s", got)
	}
	emac, err := DeriveEMacKey(testvectors.AnnexD(t, "emac_zab.hex"), testvectors.AnnexD(t, "session_transcript_bytes.hex"))
	if err != nil {
		t.Fatal(err)
	}
	if want := testvectors.AnnexD(t, "emac_key.hex"); !bytes.Equal(emac, want) {
		t.Errorf("EMacKey = %x, want %x", emac, want)
	}
}

func TestSessionKeysUntaggedTranscript(t *testing.T) {
	zab, untagged := testvectors.AnnexD(t, "session_ecdh_zab.hex"), testvectors.AnnexD(t, "session_transcript.hex")
	// the API refuses the untagged array outright ...
	if _, _, err := DeriveSessionKeys(zab, untagged); err == nil {
		t.Fatal("DeriveSessionKeys accepted an untagged SessionTranscript")
	}
	if _, err := DeriveEMacKey(zab, untagged); err == nil {
		t.Fatal("DeriveEMacKey accepted an untagged SessionTranscript")
	}
	// ... and a salt over it would give other keys
	salt := SessionTranscriptSalt(untagged)
	k, err := derive(zab, salt, "SKReader", KeySize)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k, testvectors.AnnexD(t, "sk_reader.hex")) {
		t.Fatal("untagged salt gave SKReader")
	}
	if _, _, err := DeriveSessionKeys(nil, testvectors.AnnexD(t, "session_transcript_bytes.hex")); err == nil {
		t.Fatal("empty Zab accepted")
	}
}

func TestEncryptionAnnexD(t *testing.T) {
	skr, skd := annexDKeys(t)
	est := decodeSession(t, "session_establishment.hex")
	if !bytes.Equal(est.EReaderKey.Raw(), testvectors.AnnexD(t, "ereader_key_bytes.hex")) {
		t.Fatal("eReaderKey differs from EReaderKeyBytes")
	}
	resp := decodeSession(t, "session_data_response.hex")
	request, response := testvectors.AnnexD(t, "device_request.hex"), testvectors.AnnexD(t, "device_response.hex")

	reader, err := NewCipher(RoleReader, skr, skd)
	if err != nil {
		t.Fatal(err)
	}
	device, err := NewCipher(RoleDevice, skr, skd)
	if err != nil {
		t.Fatal(err)
	}
	// mdoc side: decrypt the reader's request, encrypt the response
	got, err := device.Decrypt(est.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, request) {
		t.Fatal("SessionEstablishment.data does not decrypt to device_request")
	}
	ct, err := device.Encrypt(response)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ct, resp.Data) {
		t.Fatal("re-encrypted device_response differs from SessionData.data")
	}
	// reader side: encrypt the request, decrypt the response
	ct, err = reader.Encrypt(request)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ct, est.Data) {
		t.Fatal("re-encrypted device_request differs from SessionEstablishment.data")
	}
	got, err = reader.Decrypt(resp.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, response) {
		t.Fatal("SessionData.data does not decrypt to device_response")
	}
	// the termination message is {"status": 20}
	term := decodeSession(t, "session_termination.hex")
	if term.Status == nil || *term.Status != 20 || term.Data != nil {
		t.Fatalf("session_termination = %+v", term)
	}
}

// TestEncryptToAnnexD: encrypting the Annex D response straight after a SessionData head
// gives the Annex D SessionData byte for byte, and consumes the counter as Encrypt does.
func TestEncryptToAnnexD(t *testing.T) {
	skr, skd := annexDKeys(t)
	response := testvectors.AnnexD(t, "device_response.hex")
	device, err := NewCipher(RoleDevice, skr, skd)
	if err != nil {
		t.Fatal(err)
	}
	n := len(response) + Overhead
	msg, err := device.EncryptTo(messages.AppendSessionDataHead(nil, n), response)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, testvectors.AnnexD(t, "session_data_response.hex")) {
		t.Fatal("SessionData built with EncryptTo differs from session_data_response")
	}
	again, err := device.EncryptTo(nil, response)
	if err != nil || bytes.Equal(again, msg[len(msg)-n:]) {
		t.Fatalf("EncryptTo did not move to the next counter (err %v)", err)
	}
}

func TestEstablishAnnexD(t *testing.T) {
	load := func(prefix string) *keys.PrivateKey {
		k, err := keys.PrivateKeyFromCOSE(&messages.COSEKey{Kty: messages.KtyEC2, Crv: messages.CurveP256,
			X: testvectors.AnnexD(t, prefix+"_x.hex"), Y: testvectors.AnnexD(t, prefix+"_y.hex"), D: testvectors.AnnexD(t, prefix+"_d.hex")})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	eDevice, eReader := load("edevice_key"), load("ereader_key")
	st := testvectors.AnnexD(t, "session_transcript_bytes.hex")
	device, err := Establish(RoleDevice, eDevice, eReader.COSEKey(), st)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := Establish(RoleReader, eReader, eDevice.COSEKey(), st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := device.Decrypt(decodeSession(t, "session_establishment.hex").Data)
	if err != nil || !bytes.Equal(got, testvectors.AnnexD(t, "device_request.hex")) {
		t.Fatalf("Establish(mdoc) cannot read the Annex D request: %v", err)
	}
	got, err = reader.Decrypt(decodeSession(t, "session_data_response.hex").Data)
	if err != nil || !bytes.Equal(got, testvectors.AnnexD(t, "device_response.hex")) {
		t.Fatalf("Establish(reader) cannot read the Annex D response: %v", err)
	}
	if _, err := Establish(RoleReader, eReader, eDevice.COSEKey(), testvectors.AnnexD(t, "session_transcript.hex")); err == nil {
		t.Fatal("Establish accepted an untagged transcript")
	}
}

func TestDecryptNegative(t *testing.T) {
	skr, skd := annexDKeys(t)
	est := decodeSession(t, "session_establishment.hex").Data
	fresh := func() *Cipher {
		c, err := NewCipher(RoleDevice, skr, skd)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	flipped := bytes.Clone(est)
	flipped[10] ^= 1
	tagFlipped := bytes.Clone(est)
	tagFlipped[len(tagFlipped)-1] ^= 1
	tests := map[string][]byte{
		"flipped ciphertext": flipped,
		"flipped tag":        tagFlipped,
		"truncated":          est[:len(est)-1],
		"tag only":           est[len(est)-16:],
		"shorter than tag":   est[:15],
		"empty":              nil,
	}
	for name, ct := range tests {
		t.Run(name, func(t *testing.T) {
			c := fresh()
			if _, err := c.Decrypt(ct); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("got %v", err)
			}
			// a failure does not advance the counter: the genuine message still opens
			if _, err := c.Decrypt(est); err != nil {
				t.Fatalf("genuine message after failure: %v", err)
			}
		})
	}
	t.Run("wrong identifier", func(t *testing.T) {
		// the reader decrypts with SKDevice and the mdoc identifier: the reader's own
		// message must not open there, and a message sealed with SKReader under the mdoc
		// identifier must not open at the mdoc either
		reader, _ := NewCipher(RoleReader, skr, skd)
		if _, err := reader.Decrypt(est); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("reader opened its own message: %v", err)
		}
		block, _ := aes.NewCipher(skr)
		gcm, _ := cipher.NewGCM(block)
		iv := []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1}
		ct := gcm.Seal(nil, iv, []byte("request"), nil)
		if _, err := fresh().Decrypt(ct); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("mdoc identifier accepted: %v", err)
		}
	})
	t.Run("counter 0", func(t *testing.T) {
		block, _ := aes.NewCipher(skr)
		gcm, _ := cipher.NewGCM(block)
		ct := gcm.Seal(nil, make([]byte, 12), []byte("request"), nil)
		if _, err := fresh().Decrypt(ct); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("counter 0 accepted: %v", err)
		}
	})
	t.Run("replay", func(t *testing.T) {
		c := fresh()
		if _, err := c.Decrypt(est); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decrypt(est); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("replay accepted: %v", err)
		}
	})
	t.Run("skipped and reordered", func(t *testing.T) {
		reader, _ := NewCipher(RoleReader, skr, skd)
		m1, _ := reader.Encrypt([]byte("one"))
		m2, _ := reader.Encrypt([]byte("two"))
		m3, _ := reader.Encrypt([]byte("three"))
		c := fresh()
		if _, err := c.Decrypt(m2); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("skipped message accepted: %v", err)
		}
		for i, m := range [][]byte{m1, m2, m3} {
			if pt, err := c.Decrypt(m); err != nil || len(pt) == 0 {
				t.Fatalf("message %d in order: %v", i+1, err)
			}
		}
	})
}

func TestCipherLifecycle(t *testing.T) {
	skr, skd := annexDKeys(t)
	if _, err := NewCipher(Role(7), skr, skd); err == nil {
		t.Fatal("unknown role accepted")
	}
	if _, err := NewCipher(RoleReader, skr[:16], skd); err == nil {
		t.Fatal("16-byte key accepted")
	}
	c, _ := NewCipher(RoleReader, skr, skd)
	// NewCipher copies the keys: callers may wipe theirs
	saved := bytes.Clone(skr)
	clear(skr)
	ct, err := c.Encrypt([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewCipher(RoleDevice, saved, skd)
	if _, err := d.Decrypt(ct); err != nil {
		t.Fatalf("cipher depended on the caller's key slice: %v", err)
	}
	// IVs never repeat: the same plaintext gives different ciphertexts
	ct2, _ := c.Encrypt([]byte("x"))
	if bytes.Equal(ct, ct2) {
		t.Fatal("two messages under the same IV")
	}
	c.out.counter = lastCounter
	if _, err := c.Encrypt([]byte("last")); err != nil {
		t.Fatalf("last counter: %v", err)
	}
	if _, err := c.Encrypt([]byte("over")); !errors.Is(err, ErrCounterExhausted) {
		t.Fatalf("counter past 2^32-2: %v", err)
	}
	c.Close()
	if !bytes.Equal(c.out.key, make([]byte, KeySize)) || !bytes.Equal(c.in.key, make([]byte, KeySize)) {
		t.Fatal("Close left key bytes")
	}
	if _, err := c.Encrypt(nil); err == nil {
		t.Fatal("Encrypt after Close")
	}
	if _, err := c.Decrypt(ct); err == nil {
		t.Fatal("Decrypt after Close")
	}
}

func TestEstablishEveryAgreementCurve(t *testing.T) {
	st := testvectors.AnnexD(t, "session_transcript_bytes.hex")
	for _, id := range []int64{messages.CurveP256, messages.CurveP384, messages.CurveP521, messages.CurveX25519,
		messages.CurveX448, messages.CurveBrainpoolP256r1, messages.CurveBrainpoolP320r1,
		messages.CurveBrainpoolP384r1, messages.CurveBrainpoolP512r1} {
		a, err := keys.Generate(id, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := keys.Generate(id, rand.Reader)
		r, err := Establish(RoleReader, a, b.COSEKey(), st)
		if err != nil {
			t.Fatalf("curve %d: %v", id, err)
		}
		d, err := Establish(RoleDevice, b, a.COSEKey(), st)
		if err != nil {
			t.Fatalf("curve %d: %v", id, err)
		}
		ct, _ := r.Encrypt([]byte("req"))
		if pt, err := d.Decrypt(ct); err != nil || string(pt) != "req" {
			t.Fatalf("curve %d: %v", id, err)
		}
	}
}

func TestEngagementValues(t *testing.T) {
	ek := testvectors.AnnexD(t, "edevice_key_bytes.hex")
	id := BLEIdent(ek)
	if len(id) != 16 {
		t.Fatalf("BLEIdent length %d", len(id))
	}
	name, pass := NANServiceName(ek), NANPassphrase(ek)
	if len(name) != 32 || name != hex.EncodeToString(engagementValue(ek, "NANService", 16)) {
		t.Fatalf("NANServiceName = %q", name)
	}
	if len(pass) != 43 {
		t.Fatalf("NANPassphrase = %q", pass)
	}
	if bytes.Equal(id, BLEIdent(ek[:len(ek)-1])) {
		t.Fatal("BLEIdent ignores its input")
	}
}
