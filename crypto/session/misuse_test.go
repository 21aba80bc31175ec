package session_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/messages"
)

// pairFor establishes both sides of one session over its own transcript.
func pairFor(t *testing.T, transcriptContent string) (reader, device *session.Cipher) {
	t.Helper()
	rk, _ := keys.Generate(messages.CurveP256, nil)
	dk, _ := keys.Generate(messages.CurveP256, nil)
	content, _ := messages.Marshal(transcriptContent)
	stb := messages.NewEncodedCBOR(content).Raw()
	r, err := session.Establish(session.RoleReader, rk, dk.COSEKey(), stb)
	if err != nil {
		t.Fatal(err)
	}
	d, err := session.Establish(session.RoleDevice, dk, rk.COSEKey(), stb)
	if err != nil {
		t.Fatal(err)
	}
	return r, d
}

// Messages swapped between two sessions, or reflected back to their sender, never
// decrypt; a failure leaves the receiver able to take the right message.
func TestSwappedAndReflectedMessages(t *testing.T) {
	r1, d1 := pairFor(t, "session one")
	r2, d2 := pairFor(t, "session two")
	req1, _ := r1.Encrypt([]byte("request for session one"))
	req2, _ := r2.Encrypt([]byte("request for session two"))
	if _, err := d2.Decrypt(req1); !errors.Is(err, session.ErrDecrypt) {
		t.Fatalf("session two decrypted session one's request: %v", err)
	}
	if _, err := r1.Decrypt(req1); !errors.Is(err, session.ErrDecrypt) {
		t.Fatalf("reader decrypted its own request reflected back: %v", err)
	}
	got, err := d2.Decrypt(req2)
	if err != nil || !bytes.Equal(got, []byte("request for session two")) {
		t.Fatalf("after a refused message the right one failed: %v", err)
	}
	got, err = d1.Decrypt(req1)
	if err != nil || !bytes.Equal(got, []byte("request for session one")) {
		t.Fatal(err)
	}
	// the same plaintext never produces the same ciphertext twice in one direction
	a, _ := d1.Encrypt([]byte("same"))
	b, _ := d1.Encrypt([]byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("IV reused")
	}
}
