package messages

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

// annexCSample is the real Chrome-on-Android org-iso-mdoc presentation of the wallet
// samples: its EncryptionInfo, origin, transcript and encrypted response.
const annexCSample = "jmandel-shc-android-annexc"

func annexCHandover(t testing.TB) (eiB64, origin string) {
	t.Helper()
	var ho struct {
		EI     string `json:"encryption_info_b64u"`
		Origin string `json:"origin"`
	}
	if err := json.Unmarshal(testvectors.File(t, "wallets", annexCSample, "handover.json"), &ho); err != nil {
		t.Fatal(err)
	}
	return ho.EI, ho.Origin
}

// The Annex C handover and transcript rebuilt from the sample's EncryptionInfo and origin
// equal the transcript the wallet signed; the EncryptionInfo and the encrypted response
// decode, and re-encode to the bytes received.
func TestAnnexCSample(t *testing.T) {
	eiB64, origin := annexCHandover(t)
	tr := SessionTranscript{Handover: DCAPIHandover(eiB64, origin)}
	enc, err := Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	if want := testvectors.Hex(t, "wallets", annexCSample, "session_transcript.hex"); !bytes.Equal(enc, want) {
		t.Fatalf("transcript %x\nwant       %x", enc, want)
	}
	raw, err := base64.RawURLEncoding.DecodeString(eiB64)
	if err != nil {
		t.Fatal(err)
	}
	ei, err := DecodeEncryptionInfo(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(ei.Nonce) != 32 || ei.RecipientPublicKey.Crv != CurveP256 || len(ei.RecipientPublicKey.X) != 32 {
		t.Fatalf("EncryptionInfo %+v", ei)
	}
	if back, err := Marshal(ei); err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("EncryptionInfo re-encodes to %x (%v)\nreceived %x", back, err, raw)
	}
	resp := testvectors.Hex(t, "wallets", annexCSample, "dcapi_response.hex")
	r, err := DecodeDCAPIResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Enc) != 65 || r.Enc[0] != 4 || len(r.CipherText) < 1000 {
		t.Fatalf("enc %d bytes, cipherText %d bytes", len(r.Enc), len(r.CipherText))
	}
	if back, err := Marshal(r); err != nil || !bytes.Equal(back, resp) {
		t.Fatalf("response does not re-encode to the bytes received (%v)", err)
	}
}

func TestAnnexCHostile(t *testing.T) {
	key := COSEKey{Kty: KtyEC2, Crv: CurveP256, X: bytes.Repeat([]byte{1}, 32), Y: bytes.Repeat([]byte{2}, 32)}
	good, err := Marshal(EncryptionInfo{Nonce: bytes.Repeat([]byte{9}, 16), RecipientPublicKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeEncryptionInfo(good); err != nil {
		t.Fatal(err)
	}
	priv := key
	priv.D = bytes.Repeat([]byte{3}, 32)
	withD, _ := Marshal(EncryptionInfo{Nonce: bytes.Repeat([]byte{9}, 16), RecipientPublicKey: priv})
	shortNonce, _ := Marshal(EncryptionInfo{Nonce: []byte{1, 2, 3}, RecipientPublicKey: key})
	h := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"private key":   {withD, "private key"},
		"short nonce":   {shortNonce, "nonce of 3 bytes"},
		"other name":    {h("82 65 64 63 61 70 78 a0"), `"dcapx"`},
		"not a map":     {h("82 65 64 63 61 70 69 80"), "not a map"},
		"not an array":  {h("a0"), "EncryptionInfo"},
		"three items":   {h("83 65 64 63 61 70 69 a0 a0"), "EncryptionInfo"},
		"no key":        {h("82 65 64 63 61 70 69 a1 65 6e6f6e6365 50 00000000000000000000000000000000"), "COSE_Key"},
		"trailing data": {append(append([]byte{}, good...), 0), "EncryptionInfo"},
	} {
		if _, err := DecodeEncryptionInfo(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, c.want)
		}
	}
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"empty":       {h("82 65 64 63 61 70 69 a0"), "enc of 0 bytes"},
		"no cipher":   {h("82 65 64 63 61 70 69 a1 63 656e63 41 04"), "cipherText"},
		"enc too big": {mustMarshal([]any{"dcapi", map[string][]byte{"enc": make([]byte, 257), "cipherText": {1}}}), "enc of 257 bytes"},
		"wrong types": {mustMarshal([]any{"dcapi", map[string]int{"enc": 1, "cipherText": 2}}), "DCAPIResponse"},
	} {
		if _, err := DecodeDCAPIResponse(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, c.want)
		}
	}
}

func FuzzDecodeEncryptionInfo(f *testing.F) {
	eiB64, _ := annexCHandover(f)
	raw, _ := base64.RawURLEncoding.DecodeString(eiB64)
	f.Add(raw)
	f.Add([]byte{0x82, 0x65, 'd', 'c', 'a', 'p', 'i', 0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		ei, err := DecodeEncryptionInfo(data)
		if err != nil {
			return
		}
		if len(ei.Nonce) < 16 || ei.RecipientPublicKey.D != nil {
			t.Fatalf("accepted %+v", ei)
		}
		reencode(t, ei, DecodeEncryptionInfo)
	})
}

func FuzzDecodeDCAPIResponse(f *testing.F) {
	f.Add(testvectors.Hex(f, "wallets", annexCSample, "dcapi_response.hex"))
	f.Add(mustMarshal([]any{"dcapi", map[string][]byte{"enc": {4}, "cipherText": {1}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeDCAPIResponse(data)
		if err != nil {
			return
		}
		if len(r.Enc) == 0 || len(r.Enc) > MaxDCAPIEnc || len(r.CipherText) == 0 {
			t.Fatalf("accepted enc %d, cipherText %d bytes", len(r.Enc), len(r.CipherText))
		}
		reencode(t, r, DecodeDCAPIResponse)
	})
}
