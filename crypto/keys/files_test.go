package keys

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// Every key is written in a form its curve allows and reads back as the same key.
func TestMarshalPrivateKeyRoundTrip(t *testing.T) {
	for _, id := range allCurves {
		k := mustGenerate(t, id)
		b, err := MarshalPrivateKey(k)
		if err != nil {
			t.Fatalf("%s: %v", curveName(id), err)
		}
		_, pemErr := MarshalPrivateKeyPEM(k)
		if isPEM := bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----")); isPEM != (pemErr == nil) {
			t.Fatalf("%s: PEM %v, but MarshalPrivateKeyPEM says %v", curveName(id), isPEM, pemErr)
		}
		k2, err := ParsePrivateKey(b)
		if err != nil || !k2.COSEKeyWithPrivate().Equal(k.COSEKeyWithPrivate()) {
			t.Fatalf("%s: read back %v", curveName(id), err)
		}
	}
}

func TestParsePublicKey(t *testing.T) {
	k := mustGenerate(t, messages.CurveP256)
	want := k.COSEKey()
	pemKey, err := MarshalPrivateKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	cose, err := messages.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := messages.Marshal(messages.NewEncodedCBOR(cose))
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"private PEM": pemKey, "COSE_Key": cose, "COSE_Key hex": []byte(hex.EncodeToString(cose) + "\n"),
		"COSE_KeyBytes": tagged, "COSE_KeyBytes hex": []byte(hex.EncodeToString(tagged)),
	} {
		got, err := ParsePublicKey(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
	jwk := testvectors.File(t, "iso18013-5", "oid4vp_verifier_jwk.json")
	fromJWK, err := ParsePublicKeyJWK(jwk)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParsePublicKey(jwk); err != nil || !got.Equal(fromJWK) {
		t.Errorf("JWK: %+v, %v", got, err)
	}
	for name, in := range map[string][]byte{"empty": nil, "text": []byte("not a key"), "huge": make([]byte, MaxKeyFileSize+1)} {
		if _, err := ParsePublicKey(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzParsePublicKey(f *testing.F) {
	for _, name := range []string{"edevice_key_cose.hex", "ereader_key_cose.hex"} {
		f.Add(testvectors.AnnexD(f, name))
		f.Add(testvectors.File(f, "iso18013-5", name))
	}
	f.Add(testvectors.File(f, "iso18013-5", "oid4vp_verifier_jwk.json"))
	f.Add([]byte{0xd8, 0x18, 0x41, 0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePublicKey(data)
		if err == nil && k == nil {
			t.Fatal("no key and no error")
		}
	})
}
