package hpke

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

const annexC = "jmandel-shc-android-annexc"

// The real wallet's Annex C response opens with the published recipient key, info =
// the CBOR SessionTranscript and empty aad, to the very DeviceResponse it carried.
func TestRealWalletAnnexC(t *testing.T) {
	var jwk struct{ D, X, Y string }
	if err := json.Unmarshal(testvectors.File(t, "wallets", annexC, "hpke_recipient_private.jwk.json"), &jwk); err != nil {
		t.Fatal(err)
	}
	d, _ := base64.RawURLEncoding.DecodeString(jwk.D)
	k, err := ParsePrivateKey(d)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := base64.RawURLEncoding.DecodeString(jwk.X)
	if !bytes.Equal(k.PublicKey()[1:33], x) {
		t.Fatal("public key does not match the JWK")
	}
	r, err := messages.DecodeDCAPIResponse(testvectors.Hex(t, "wallets", annexC, "dcapi_response.hex"))
	if err != nil {
		t.Fatal(err)
	}
	info := testvectors.Hex(t, "wallets", annexC, "session_transcript.hex")
	pt, err := k.Open(r.Enc, info, nil, r.CipherText)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pt, testvectors.Hex(t, "wallets", annexC, "device_response.hex")) {
		t.Fatal("plaintext is not the sample's DeviceResponse")
	}
	// another info (transcript), a flipped bit anywhere, or another key: ErrOpen
	bad := func(what string, enc, info, ct []byte, k *PrivateKey) {
		if _, err := k.Open(enc, info, nil, ct); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v", what, err)
		}
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	bad("other info", r.Enc, flip(info, len(info)-1), r.CipherText, k)
	bad("tampered ciphertext", r.Enc, info, flip(r.CipherText, 100), k)
	bad("tampered tag", r.Enc, info, flip(r.CipherText, len(r.CipherText)-1), k)
	bad("tampered enc", flip(r.Enc, 10), info, r.CipherText, k)
	bad("short enc", r.Enc[:64], info, r.CipherText, k)
	bad("short ciphertext", r.Enc, info, r.CipherText[:15], k)
	other, _ := GenerateKey(nil)
	bad("other key", r.Enc, info, r.CipherText, other)
}

func TestSealOpen(t *testing.T) {
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ck := k.COSEKey()
	p, err := PointOf(&ck)
	if err != nil || !bytes.Equal(p, k.PublicKey()) {
		t.Fatalf("PointOf: %v", err)
	}
	enc, ct, err := Seal(p, []byte("info"), nil, []byte("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) != EncLen || len(ct) != 5+16 {
		t.Fatalf("enc %d ct %d", len(enc), len(ct))
	}
	pt, err := k.Open(enc, []byte("info"), nil, ct)
	if err != nil || string(pt) != "hello" {
		t.Fatalf("%q %v", pt, err)
	}
	short := messages.COSEKey{Kty: messages.KtyEC2, Crv: messages.CurveP256, X: ck.X[1:], Y: ck.Y}
	if ck.X[0] == 0 {
		if p2, err := PointOf(&short); err != nil || !bytes.Equal(p2, p) {
			t.Fatal("short X not padded")
		}
	}
	for _, bad := range []messages.COSEKey{{Kty: messages.KtyOKP, Crv: messages.CurveX25519, X: ck.X},
		{Kty: messages.KtyEC2, Crv: messages.CurveP384, X: ck.X, Y: ck.Y}, {Kty: messages.KtyEC2, Crv: messages.CurveP256, X: ck.X}} {
		if _, err := PointOf(&bad); !errors.Is(err, ErrKey) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if _, _, err := Seal([]byte{4, 1, 2}, nil, nil, nil, nil); !errors.Is(err, ErrKey) {
		t.Errorf("bad recipient: %v", err)
	}
	if _, err := ParsePrivateKey([]byte{1}); !errors.Is(err, ErrKey) {
		t.Errorf("bad scalar: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	k, _ := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	enc, ct, _ := Seal(k.PublicKey(), []byte("i"), nil, []byte("plaintext"), nil)
	f.Add(enc, ct)
	f.Add(make([]byte, EncLen), []byte{})
	f.Fuzz(func(t *testing.T, enc, ct []byte) {
		if pt, err := k.Open(enc, []byte("i"), nil, ct); err == nil && string(pt) != "plaintext" {
			t.Fatalf("opened forged input to %q", pt)
		}
	})
}
