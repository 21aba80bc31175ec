package readersession_test

import (
	"testing"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// readerEngagement builds a website ReaderEngagement around a fresh key.
func readerEngagement(t *testing.T) (*keys.PrivateKey, []byte) {
	t.Helper()
	k, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	re, err := messages.NewEngagement(k.COSEKey(), messages.NewHTTPMethod("https://gate.example/session/1"))
	if err != nil {
		t.Fatal(err)
	}
	re.Version = "1.1"
	re.OriginInfos = []messages.OriginInfo{messages.NewWebsiteOriginInfo(messages.OriginCatDelivery, "https://gate.example")}
	b, err := messages.Marshal(re)
	if err != nil {
		t.Fatal(err)
	}
	return k, b
}

func TestReverseEngagement(t *testing.T) {
	p := defaultPKI(t)
	cred := p.IssueOn(t, messages.CurveP256, issuer.IssueRequest{})
	for _, via := range []string{"StartReverse"} {
		t.Run(via, func(t *testing.T) {
			key, re := readerEngagement(t)
			h, err := holdersession.NewReverse(&holdersession.Config{Credentials: []*issuer.Credential{cred}}, re, "https://gate.example")
			if err != nil {
				t.Fatal(err)
			}
			var md messages.MessageData
			if err := messages.Unmarshal(h.FirstMessage(), &md); err != nil {
				t.Fatal(err)
			}
			de := md.DeviceEngagementBytes.Content()
			r := readersession.New(p.readerConfig(true))
			step := r.StartReverse(key, re, de)
			x := &exchange{r: r, h: h}
			x.drive(t, step)
			v := expectVerdict(t, r, readersession.Accepted, "")
			expectDisclosed(t, v)
			if got, want := r.Transcript().Handover, messages.ReaderEngagementHandover(messages.NewEncodedCBOR(re)); string(got) != string(want) {
				t.Fatal("transcript handover is not ReaderEngagementBytes")
			}
		})
	}
}

func TestReverseEngagementErrors(t *testing.T) {
	p := defaultPKI(t)
	cred := p.IssueOn(t, messages.CurveP256, issuer.IssueRequest{})
	key, re := readerEngagement(t)
	h, err := holdersession.NewReverse(&holdersession.Config{Credentials: []*issuer.Credential{cred}}, re, "")
	if err != nil {
		t.Fatal(err)
	}
	var md messages.MessageData
	if err := messages.Unmarshal(h.FirstMessage(), &md); err != nil {
		t.Fatal(err)
	}
	de := md.DeviceEngagementBytes.Content()
	handover := messages.ReaderEngagementHandover(messages.NewEncodedCBOR(re))

	// a reverse handover without the reader key: engagement error, nothing sent
	r := readersession.New(p.readerConfig(false))
	if st := r.Start(de, handover); st.Send != nil || !st.Done {
		t.Fatalf("unknown engagement: step %+v", st)
	}
	expectVerdict(t, r, readersession.Error, readersession.ReasonEngagement)

	// a key that is not the engagement's
	other, _ := readerEngagement(t)
	r = readersession.New(p.readerConfig(false))
	r.StartReverse(other, re, de)
	expectVerdict(t, r, readersession.Error, readersession.ReasonEngagement)

	// the right key starts the session
	r1 := readersession.New(p.readerConfig(false))
	if st := r1.StartReverse(key, re, de); st.Send == nil {
		t.Fatal("start with the engagement's key sent nothing")
	}

	// a holder answering another reader engagement (foreign transcript) fails to decrypt
	key3, re3 := readerEngagement(t)
	r3 := readersession.New(p.readerConfig(false))
	st := r3.StartReverse(key3, re3, de)
	x := &exchange{r: r3, h: h}
	x.drive(t, st)
	v := verdict(t, r3)
	if v.Outcome != readersession.Error {
		t.Fatalf("foreign transcript: verdict %+v", v)
	}
}
