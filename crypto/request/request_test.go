package request_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
)

func TestBuildErrors(t *testing.T) {
	bad := [][]request.Doc{
		nil,
		{{DocType: ""}},
		{{DocType: "d"}},
		{{DocType: "d", NameSpaces: []request.NameSpace{{Name: "n"}}}},
		{{DocType: "d", NameSpaces: []request.NameSpace{{Name: "n", Elements: []string{"a", "a"}}}}},
		{{DocType: "d", NameSpaces: []request.NameSpace{{Name: "n", Elements: []string{"a"}}, {Name: "n", Elements: []string{"b"}}}}},
	}
	for i, docs := range bad {
		if _, err := request.Build(docs, nil, messages.SessionTranscript{}); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
	// a signer without a chain fails the request, naming the document
	docs := []request.Doc{{DocType: "d", NameSpaces: []request.NameSpace{{Name: "n", Elements: []string{"a"}}}}}
	p := testpki.New(t, testpki.Options{})
	if _, err := request.Build(docs, &request.ReaderKey{Key: p.Reader.Key}, messages.SessionTranscript{}); err == nil {
		t.Error("readerAuth without a certificate chain")
	}
}

func TestEverything(t *testing.T) {
	d := request.Everything("d", map[string][]string{"b": {"y", "x"}, "a": {"z"}})
	if d.DocType != "d" || len(d.NameSpaces) != 2 || d.NameSpaces[0].Name != "a" || d.NameSpaces[1].Name != "b" ||
		!slices.Equal(d.NameSpaces[1].Elements, []string{"y", "x"}) || d.NameSpaces[0].IntentToRetain != nil {
		t.Fatalf("%+v", d)
	}
}

// The readerAuth and readerAuthAll signatures: detached COSE_Sign1 over the exact
// ReaderAuthentication(All)Bytes, the chain in x5chain (a bstr for one certificate, an
// array for more), on every curve a reader certificate may have.
func TestReaderAuth(t *testing.T) {
	for _, curve := range []int64{messages.CurveP256, messages.CurveP384, messages.CurveP521, messages.CurveEd25519} {
		info, _ := messages.LookupCurve(curve)
		t.Run(info.Name, func(t *testing.T) {
			p := testpki.New(t, testpki.Options{Curve: curve})
			rs, root := p.Reader, p.ReaderRoot
			ir, _ := messages.EncodeToCBOR(map[string]any{"docType": "org.iso.18013.5.1.mDL"})
			tr := messages.SessionTranscript{Handover: messages.OpenID4VPDCAPIHandover("https://example.com", "nonce", nil)}
			rk := &request.ReaderKey{Key: rs.Key, Chain: [][]byte{rs.Certificate.Raw}}
			ra, err := rk.SignReaderAuth(tr, ir)
			if err != nil {
				t.Fatal(err)
			}
			enc, _ := messages.Marshal(ra)
			var got messages.CoseSign1
			if err := messages.Unmarshal(enc, &got); err != nil {
				t.Fatal(err)
			}
			chain, asArray, _, err := got.X5Chain()
			if err != nil || asArray || !bytes.Equal(chain[0], rs.Certificate.Raw) || !got.Detached {
				t.Fatalf("x5chain %v array %v detached %v", err, asArray, got.Detached)
			}
			alg, _, _ := got.Alg()
			if alg != keys.DefaultAlg(curve) {
				t.Errorf("alg %d", alg)
			}
			rab, _ := messages.ReaderAuthenticationBytes(tr, ir)
			tbs, _ := messages.Marshal([]any{"Signature1", got.Protected, []byte{}, rab.Raw()})
			if err := keys.Verify(rs.Certificate.PublicKey, alg, tbs, got.Signature); err != nil {
				t.Fatalf("readerAuth: %v", err)
			}
			all, err := request.SignReaderAuthAll(rs.Key, [][]byte{rs.Certificate.Raw, root.Certificate.Raw}, tr, []messages.EncodedCBOR{ir}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if chain, asArray, _, _ := all.X5Chain(); !asArray || len(chain) != 2 {
				t.Error("readerAuthAll chain not an array of 2")
			}
			raa, _ := messages.ReaderAuthenticationAllBytes(tr, []messages.EncodedCBOR{ir}, nil)
			tbs, _ = messages.Marshal([]any{"Signature1", all.Protected, []byte{}, raa.Raw()})
			if err := keys.Verify(rs.Certificate.PublicKey, alg, tbs, all.Signature); err != nil {
				t.Fatalf("readerAuthAll: %v", err)
			}
			if _, err := request.SignReaderAuthAll(rs.Key, nil, tr, []messages.EncodedCBOR{ir}, nil, nil); err == nil {
				t.Error("readerAuthAll without a chain")
			}
		})
	}
}
