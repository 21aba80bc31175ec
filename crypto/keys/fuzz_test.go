package keys

import (
	"bytes"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

func FuzzParsePrivateKey(f *testing.F) {
	for _, id := range allCurves {
		k := mustGenerate(f, id)
		b, err := messages.Marshal(k.COSEKeyWithPrivate())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if p, err := MarshalPrivateKeyPEM(k); err == nil {
			f.Add(p)
		}
	}
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"","y":"","d":""}`))
	f.Add(testvectors.File(f, "iso18013-5", "oid4vp_verifier_jwk.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePrivateKey(data)
		if err != nil {
			return
		}
		// whatever parses is a consistent key
		c := k.COSEKeyWithPrivate()
		k2, err := PrivateKeyFromCOSE(c)
		if err != nil {
			t.Fatalf("parsed key does not survive COSE round trip: %v", err)
		}
		if !k2.COSEKey().Equal(k.COSEKey()) {
			t.Fatal("round trip changed the key")
		}
		if _, err := PublicKeyFromCOSE(k.COSEKey()); err != nil {
			t.Fatalf("parsed key has an invalid public key: %v", err)
		}
	})
}

func FuzzPublicKeyFromCOSE(f *testing.F) {
	for _, name := range []string{"edevice_key_cose.hex", "ereader_key_cose.hex", "sdevice_key_cose.hex"} {
		f.Add(testvectors.AnnexD(f, name))
	}
	for _, id := range allCurves {
		b, err := messages.Marshal(mustGenerate(f, id).COSEKey())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	peers := map[int64]*PrivateKey{}
	for _, id := range allCurves {
		if info, _ := messages.LookupCurve(id); info.Agreement {
			peers[id] = mustGenerate(f, id)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := messages.DecodeCOSEKey(data)
		if err != nil {
			return
		}
		pub, err := PublicKeyFromCOSE(c)
		if err != nil {
			return
		}
		back, err := COSEKeyFromPublic(pub)
		if err != nil {
			t.Fatalf("accepted key does not convert back: %v", err)
		}
		if c.Y != nil && !back.Equal(c) || !bytes.Equal(back.X, c.X) {
			t.Fatal("accepted key converts back to another key")
		}
		if p, ok := peers[c.Crv]; ok {
			z, err := ECDH(p, c)
			if err == nil && isZero(z) {
				t.Fatal("ECDH returned an all-zero secret")
			}
		}
		_ = Verify(pub, DefaultAlg(c.Crv), []byte("m"), make([]byte, 64))
	})
}
