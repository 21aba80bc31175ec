package holder_test

import (
	"bytes"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/messages"
)

// A shared Index changes nothing a reader can see: with deviceMac (deterministic) the
// responses are byte for byte those built without it, for every request shape, and a
// second presentation through the index (served from it) equals the first.
func TestIndexGivesIdenticalResponses(t *testing.T) {
	f := newFixture(t, messages.CurveP256)
	opts := holder.PresentOptions{MACReaderKey: f.readerPriv.COSEKey()}
	index := holder.NewIndex()
	requests := map[string]*messages.DeviceRequest{
		"subset":     subsetRequest(t, f, nil),
		"everything": nil,
		"nothing":    mustRequest(t, f),
	}
	for name, req := range requests {
		plain, err := f.presenter().BuildResponse(req, f.transcript, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := messages.Marshal(plain)
		if err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 2; round++ {
			p := f.presenter()
			p.Index = index
			resp, err := p.BuildResponse(req, f.transcript, opts)
			if err != nil {
				t.Fatalf("%s round %d: %v", name, round, err)
			}
			got, err := messages.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s round %d: response through the index differs", name, round)
			}
		}
	}
}

// The index keeps the presentation errors: no device key, a key that is not the MSO's,
// and an unreadable item in a requested name space. An unreadable item in a name space
// nobody asked for does not stop a presentation.
func TestIndexErrors(t *testing.T) {
	f := newFixture(t, messages.CurveP256)
	req := subsetRequest(t, f, nil)
	index := holder.NewIndex()
	present := func(c *issuer.Credential, req *messages.DeviceRequest) error {
		_, err := (&holder.Presenter{Credentials: []*issuer.Credential{c}, Index: index}).BuildResponse(req, f.transcript, holder.PresentOptions{})
		return err
	}
	noKey := *f.mdl
	noKey.DevicePrivateKey = nil
	if present(&noKey, req) == nil {
		t.Error("credential without device key accepted")
	}
	wrong := *f.mdl
	wrong.DevicePrivateKey = f.photo.DevicePrivateKey
	if present(&wrong, req) == nil {
		t.Error("mismatched device key accepted")
	}

	broken := *f.mdl
	var ns messages.Map[string, []messages.EncodedCBOR]
	for name, items := range f.mdl.IssuerSigned.NameSpaces.All() {
		ns.Set(name, items)
	}
	ns.Set("org.example.broken", []messages.EncodedCBOR{messages.NewEncodedCBOR([]byte{0xa0})})
	broken.IssuerSigned.NameSpaces = &ns
	if err := present(&broken, req); err != nil {
		t.Errorf("unreadable item in an unrequested name space stopped the presentation: %v", err)
	}
	if present(&broken, nil) == nil {
		t.Error("disclosing everything with an unreadable item succeeded")
	}
}
