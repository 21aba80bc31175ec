package verify

import (
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// A readerAuth signed with a Document Signer certificate (right chain, wrong purpose) is
// refused; the same request signed with a reader certificate passes.
func TestReaderAuthWithCertificateForAnotherPurpose(t *testing.T) {
	p := testpki.New(t, testpki.Options{})
	iaca, ds, rroot, rcert := p.IACA, p.DS, p.ReaderRoot, p.Reader
	st, _ := messages.DecodeSessionTranscript(testvectors.AnnexD(t, "session_transcript"))
	items := messages.NewEncodedCBOR([]byte{0xa0})
	now := time.Now()

	wrong, err := request.SignReaderAuth(ds.Key, [][]byte{ds.Certificate.Raw}, *st, items, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := VerifyReaderAuth(wrong, *st, items, NewTrustStore(iaca.Certificate), now, Policy{})
	if res.Valid {
		t.Fatal("readerAuth with a Document Signer certificate accepted")
	}
	if c := findCheck(res.Checks, CheckReaderAuthPurpose); c.OK {
		t.Fatalf("purpose check passed: %+v", c)
	}
	if c := findCheck(res.Checks, CheckReaderAuthSignature); !c.OK {
		t.Fatal("the signature itself is fine; only the purpose is wrong")
	}

	right, err := rcert.SignReaderAuth(*st, items)
	if err != nil {
		t.Fatal(err)
	}
	if res := VerifyReaderAuth(right, *st, items, NewTrustStore(rroot.Certificate), now, Policy{}); !res.Valid {
		t.Fatalf("reader certificate refused: %+v", res.Checks)
	}
}

func findCheck(cs []Check, name string) Check {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return Check{Name: name}
}
