package readersession_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

func curveName(c int64) string {
	info, ok := messages.LookupCurve(c)
	if !ok {
		return fmt.Sprint(c)
	}
	return info.Name
}

// Every ephemeral curve of the cipher suite, with deviceSignature (P-256 device key) and
// deviceMac (device key on the ephemeral curve, as EMacKey needs), with and without
// reader authentication.
func TestHappyPaths(t *testing.T) {
	p := defaultPKI(t)
	curves := []int64{messages.CurveP256, messages.CurveP384, messages.CurveP521, messages.CurveX25519, messages.CurveBrainpoolP256r1}
	for _, curve := range curves {
		for _, mac := range []bool{false, true} {
			for _, auth := range []bool{false, true} {
				name := fmt.Sprintf("%s/mac=%v/readerAuth=%v", curveName(curve), mac, auth)
				t.Run(name, func(t *testing.T) {
					deviceCurve := int64(messages.CurveP256)
					if mac {
						deviceCurve = curve
					}
					cred := p.IssueOn(t, deviceCurve, issuer.IssueRequest{})
					hcfg := &holdersession.Config{Credentials: []*issuer.Credential{cred}, Curve: curve, UseMAC: mac}
					if auth {
						hcfg.ReaderTrust = verify.NewTrustStore(p.ReaderRoot.Certificate)
					}
					r := readersession.New(p.readerConfig(auth))
					h := newHolder(t, hcfg)
					x := run(t, r, h, nil)
					v := expectVerdict(t, r, readersession.Accepted, "")
					expectDisclosed(t, v)
					checkMdocAuth(t, v, mac)
					if len(x.readerSent) != 2 || len(x.holderSent) != 1 || x.verifyRuns != 1 {
						t.Fatalf("reader sent %d, holder sent %d, verified %d times", len(x.readerSent), len(x.holderSent), x.verifyRuns)
					}
					expectStatus(t, last(x.readerSent), messages.StatusSessionTermination)
					if !x.holderLast.Done || x.holderLast.Err != nil || x.holderLast.Send != nil {
						t.Fatalf("holder after termination: %+v", x.holderLast)
					}
					// The transcript carries the reader's key on the holder's curve.
					tr := r.Transcript()
					var rk messages.COSEKey
					if err := tr.EReaderKeyBytes.Decode(&rk); err != nil || rk.Crv != curve {
						t.Fatalf("EReaderKey curve %d (%v), want %d", rk.Crv, err, curve)
					}
				})
			}
		}
	}
}

func checkMdocAuth(t *testing.T, v *readersession.Verdict, mac bool) {
	t.Helper()
	want, other := verify.CheckDeviceSignature, verify.CheckDeviceMac
	if mac {
		want, other = other, want
	}
	d := v.Result.Documents[0]
	if c, ok := d.Check(want); !ok || !c.OK {
		t.Fatalf("check %s: %+v %v", want, c, ok)
	}
	if c, ok := d.Check(other); ok && c.OK {
		t.Fatalf("check %s passed too", other)
	}
}

// Other issuer and device key curves: a P-384 and an Ed25519 PKI, an Ed25519 device key.
func TestHappyPathIssuerCurves(t *testing.T) {
	for _, c := range []struct{ pki, device int64 }{
		{messages.CurveP384, messages.CurveP384},
		{messages.CurveEd25519, messages.CurveEd25519},
		{messages.CurveP256, messages.CurveBrainpoolP256r1},
	} {
		t.Run(curveName(c.pki)+"/device="+curveName(c.device), func(t *testing.T) {
			p := newPKI(t, c.pki)
			cred := p.IssueOn(t, c.device, issuer.IssueRequest{})
			r := readersession.New(p.readerConfig(true))
			h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred},
				ReaderTrust: verify.NewTrustStore(p.ReaderRoot.Certificate)})
			run(t, r, h, nil)
			expectDisclosed(t, expectVerdict(t, r, readersession.Accepted, ""))
		})
	}
}

// NFC static and negotiated handover: both sides put the same handover in the transcript.
func TestNFCHandover(t *testing.T) {
	p := defaultPKI(t)
	hs := []byte{0xd1, 0x02, 0x0a, 'H', 's', 0x15}
	for _, ho := range [][]byte{messages.NFCHandover(hs, nil), messages.NFCHandover(hs, []byte{0x91, 0x02, 0x01, 'H', 'r'})} {
		for _, mac := range []bool{false, true} {
			cred := p.IssueOn(t, 0, issuer.IssueRequest{})
			r := readersession.New(p.readerConfig(true))
			h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}, UseMAC: mac,
				ReaderTrust: verify.NewTrustStore(p.ReaderRoot.Certificate)})
			h.SetHandover(ho)
			run(t, r, h, ho)
			expectDisclosed(t, expectVerdict(t, r, readersession.Accepted, ""))
			if string(r.Transcript().Handover) != string(ho) {
				t.Fatal("handover not in the transcript")
			}
		}
	}
}

// A handover the holder does not share breaks the session keys: the holder cannot
// decrypt the SessionEstablishment and answers status 10, which the reader reports.
func TestHandoverMismatch(t *testing.T) {
	p := defaultPKI(t)
	cred := p.IssueOn(t, 0, issuer.IssueRequest{})
	r := readersession.New(p.readerConfig(false))
	h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}})
	x := run(t, r, h, messages.NFCHandover([]byte{1, 2, 3}, nil))
	expectStatus(t, x.holderSent[0], messages.StatusSessionEncryptionError)
	if !x.holderLast.Done || x.holderLast.Err == nil {
		t.Fatalf("holder step %+v", x.holderLast)
	}
	v := expectVerdict(t, r, readersession.Error, readersession.ReasonPeerStatus)
	if !strings.Contains(v.Detail, "10") {
		t.Fatalf("detail %q", v.Detail)
	}
}

func TestHolderMisbehaviour(t *testing.T) {
	p := defaultPKI(t)
	for _, c := range []struct {
		mis     holdersession.Misbehaviour
		mac     bool
		outcome readersession.Outcome
		reason  string
		status  int // status the reader's last message carries; -1: none sent
	}{
		{holdersession.TamperElement, false, readersession.Rejected, verify.CheckValueDigests, messages.StatusSessionTermination},
		{holdersession.TamperElement, true, readersession.Rejected, verify.CheckValueDigests, messages.StatusSessionTermination},
		{holdersession.WrongDeviceKey, false, readersession.Rejected, verify.CheckDeviceSignature, messages.StatusSessionTermination},
		{holdersession.WrongDeviceKey, true, readersession.Rejected, verify.CheckDeviceMac, messages.StatusSessionTermination},
		{holdersession.CorruptSession, false, readersession.Error, readersession.ReasonSessionEncryption, messages.StatusSessionEncryptionError},
		{holdersession.GarbageResponse, false, readersession.Error, readersession.ReasonCBORDecoding, messages.StatusCBORDecodingError},
		{holdersession.TerminateEarly, false, readersession.Error, readersession.ReasonPeerTerminated, -1},
		{holdersession.SkipCounter, false, readersession.Error, readersession.ReasonSessionEncryption, messages.StatusSessionEncryptionError},
	} {
		t.Run(fmt.Sprintf("%s/mac=%v", c.mis, c.mac), func(t *testing.T) {
			cred := p.IssueOn(t, 0, issuer.IssueRequest{})
			r := readersession.New(p.readerConfig(false))
			h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}, UseMAC: c.mac, Misbehave: c.mis})
			x := run(t, r, h, nil)
			v := expectVerdict(t, r, c.outcome, c.reason)
			if c.status < 0 {
				if len(x.readerSent) != 1 {
					t.Fatalf("reader sent %d messages, want only the SessionEstablishment", len(x.readerSent))
				}
			} else {
				if len(x.readerSent) != 2 {
					t.Fatalf("reader sent %d messages", len(x.readerSent))
				}
				expectStatus(t, last(x.readerSent), uint64(c.status))
			}
			if c.outcome == readersession.Rejected {
				if v.Result == nil || v.Result.Valid {
					t.Fatalf("rejected without an invalid result: %+v", v.Result)
				}
				if c.mis == holdersession.TamperElement {
					// The tampered element is left out, the others are there.
					if n := len(v.Result.Documents[0].Elements[issuer.NamespaceMDL]); n != len(requested)-1 {
						t.Fatalf("%d elements established, want %d", n, len(requested)-1)
					}
				}
			} else if v.Result != nil {
				t.Fatal("an error verdict with a verification result")
			}
			if x.verifyRuns != map[bool]int{true: 1, false: 0}[c.outcome == readersession.Rejected] {
				t.Fatalf("verification ran %d times", x.verifyRuns)
			}
			// The holder ends too, whatever it did.
			if !x.holderLast.Done {
				t.Fatalf("holder not done: %+v", x.holderLast)
			}
		})
	}
}

func TestSilentHolderTimesOut(t *testing.T) {
	p := defaultPKI(t)
	cred := p.IssueOn(t, 0, issuer.IssueRequest{})
	r := readersession.New(p.readerConfig(false))
	h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}, Misbehave: holdersession.Silent})
	x := run(t, r, h, nil)
	if !x.waiting || len(x.holderSent) != 0 {
		t.Fatalf("waiting %v, holder sent %d", x.waiting, len(x.holderSent))
	}
	if _, ok := r.Verdict(); ok {
		t.Fatal("verdict while waiting")
	}
	st := r.Fail(readersession.Timeout, "inactivity", "no response within 5s")
	if !st.Done || st.Verify != nil {
		t.Fatalf("Fail step %+v", st)
	}
	expectStatus(t, st.Send, messages.StatusSessionTermination)
	v := expectVerdict(t, r, readersession.Timeout, "inactivity")
	if v.Detail != "no response within 5s" {
		t.Fatalf("detail %q", v.Detail)
	}
	hs := h.Receive(st.Send)
	if !hs.Done || hs.Err != nil || hs.Send != nil {
		t.Fatalf("holder on termination: %+v", hs)
	}
}

func TestCredentialFailures(t *testing.T) {
	p := defaultPKI(t)
	now := time.Now()
	t.Run("expired MSO", func(t *testing.T) {
		cred := p.IssueOn(t, 0, issuer.IssueRequest{Signed: now.Add(-50 * time.Minute),
			ValidFrom: now.Add(-50 * time.Minute), ValidUntil: now.Add(-10 * time.Minute)})
		r := readersession.New(p.readerConfig(false))
		run(t, r, newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}}), nil)
		expectVerdict(t, r, readersession.Rejected, verify.CheckMSOValidity)
	})
	t.Run("reader clock after validUntil", func(t *testing.T) {
		cred := p.IssueOn(t, 0, issuer.IssueRequest{ValidUntil: now.Add(24 * time.Hour)})
		cfg := p.readerConfig(false)
		cfg.Now = fixedNow(now.Add(48 * time.Hour))
		r := readersession.New(cfg)
		run(t, r, newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}}), nil)
		expectVerdict(t, r, readersession.Rejected, verify.CheckMSOValidity)
	})
	t.Run("MSO not yet valid", func(t *testing.T) {
		cred := p.IssueOn(t, 0, issuer.IssueRequest{ValidFrom: now.Add(time.Hour)})
		r := readersession.New(p.readerConfig(false))
		run(t, r, newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}}), nil)
		expectVerdict(t, r, readersession.Rejected, verify.CheckMSOValidity)
	})
	t.Run("untrusted issuer", func(t *testing.T) {
		cred := p.IssueOn(t, 0, issuer.IssueRequest{})
		r := readersession.New(otherPKI(t).readerConfig(false))
		run(t, r, newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}}), nil)
		expectVerdict(t, r, readersession.Rejected, verify.CheckIssuerAuthChain)
	})
	t.Run("document not held", func(t *testing.T) {
		cred := p.IssueOn(t, 0, issuer.IssueRequest{})
		cred.DocType = "org.example.other" // the holder has no mDL to answer with
		r := readersession.New(p.readerConfig(false))
		run(t, r, newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}}), nil)
		v := expectVerdict(t, r, readersession.Rejected, readersession.ReasonNotValid)
		if v.Result.Status != messages.ResponseOK || len(v.Result.Documents) != 0 {
			t.Fatalf("result %+v", v.Result)
		}
	})
}

// A holder that checks reader authentication answers DeviceResponse status 10 to a reader
// it cannot authenticate; the reader rejects with "response_status".
func TestHolderRefusesReader(t *testing.T) {
	p := defaultPKI(t)
	for _, c := range []struct {
		name string
		auth *issuer.ReaderSigner
	}{
		{"no reader auth", nil},
		{"reader cert from another root", otherPKI(t).Reader},
	} {
		t.Run(c.name, func(t *testing.T) {
			cred := p.IssueOn(t, 0, issuer.IssueRequest{})
			cfg := p.readerConfig(false)
			if c.auth != nil {
				cfg.ReaderAuth = c.auth
			}
			r := readersession.New(cfg)
			h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred},
				ReaderTrust: verify.NewTrustStore(p.ReaderRoot.Certificate)})
			x := run(t, r, h, nil)
			v := expectVerdict(t, r, readersession.Rejected, readersession.ReasonResponseStatus)
			if v.Result.Status != messages.ResponseGeneralError || len(v.Result.Documents) != 0 {
				t.Fatalf("result status %d with %d documents", v.Result.Status, len(v.Result.Documents))
			}
			expectStatus(t, last(x.readerSent), messages.StatusSessionTermination)
		})
	}
}

func TestCustomDecide(t *testing.T) {
	p := defaultPKI(t)
	cred := p.IssueOn(t, 0, issuer.IssueRequest{})
	cfg := p.readerConfig(false)
	cfg.Decide = func(readersession.Verification) readersession.Decision {
		return readersession.Decision{Outcome: readersession.Rejected, Reason: "policy.age"}
	}
	r := readersession.New(cfg)
	run(t, r, newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}}), nil)
	v := expectVerdict(t, r, readersession.Rejected, "policy.age")
	if v.Result == nil || !v.Result.Valid {
		t.Fatal("Decide did not see the valid result")
	}
}

// With DecideMayWait the decision leaves the session as a Step.Decide: Verified does not
// call Decide, and Decided ends the session as an inline decision would have.
func TestDecideMayWait(t *testing.T) {
	p := defaultPKI(t)
	cred := p.IssueOn(t, 0, issuer.IssueRequest{})
	for _, tc := range []struct {
		outcome readersession.Outcome
		reason  string
	}{{readersession.Accepted, ""}, {readersession.Rejected, "holder_verification.no_match"}} {
		cfg := p.readerConfig(false)
		calls := 0
		cfg.Decide = func(v readersession.Verification) readersession.Decision {
			calls++
			if !v.Result.Valid {
				t.Error("Decide did not get the valid result")
			}
			return readersession.Decision{Outcome: tc.outcome, Reason: tc.reason}
		}
		cfg.DecideMayWait = true

		// by hand: the step, then the answer
		r := readersession.New(cfg)
		h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}})
		step := r.Start(h.DeviceEngagement(), messages.QRHandover())
		for step.Verify == nil {
			if step.Send == nil {
				t.Fatalf("no verification step: %+v", step)
			}
			step = r.Receive(h.Receive(step.Send).Send)
		}
		step = r.Verified(step.Verify.Run())
		if step.Decide == nil || step.Send != nil || step.Done || calls != 0 {
			t.Fatalf("Verified gave %+v after %d Decide calls; want a Decide step and no call", step, calls)
		}
		if _, done := r.Verdict(); done {
			t.Fatal("a verdict before the decision")
		}
		if st := r.Verified(step.Decide.Verification); !st.Done {
			t.Fatalf("a second Verified while deciding gave %+v, want a protocol error", st)
		}
		expectVerdict(t, r, readersession.Error, readersession.ReasonProtocol)

		// through the exchange helper, which runs the job
		r = readersession.New(cfg)
		x := run(t, r, newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}}), nil)
		if x.decideRuns != 1 {
			t.Fatalf("decide ran %d times", x.decideRuns)
		}
		expectVerdict(t, r, tc.outcome, tc.reason)
		expectStatus(t, last(x.readerSent), messages.StatusSessionTermination)
	}
	// Decided before any verification is a protocol error
	r := readersession.New(p.readerConfig(false))
	if st := r.Decided(readersession.Decision{Outcome: readersession.Accepted}); !st.Done {
		t.Fatalf("Decided on a new session gave %+v", st)
	}
	expectVerdict(t, r, readersession.Error, readersession.ReasonProtocol)
}

func TestStartErrors(t *testing.T) {
	p := defaultPKI(t)
	engagement := func(t *testing.T, curve int64, suite int64) []byte {
		k, err := keys.Generate(curve, nil)
		if err != nil {
			t.Fatal(err)
		}
		de, err := messages.NewEngagement(k.COSEKey())
		if err != nil {
			t.Fatal(err)
		}
		de.Security.CipherSuite = suite
		b, err := messages.Marshal(de)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name string
		de   func(t *testing.T) []byte
	}{
		{"garbage", func(*testing.T) []byte { return []byte{0xff, 0x00, 0x13} }},
		{"empty", func(*testing.T) []byte { return nil }},
		{"not an engagement", func(*testing.T) []byte { return []byte{0x82, 0x01, 0x02} }},
		{"cipher suite 2", func(t *testing.T) []byte { return engagement(t, messages.CurveP256, 2) }},
		{"Ed25519 ephemeral key", func(t *testing.T) []byte { return engagement(t, messages.CurveEd25519, messages.CipherSuite1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := readersession.New(p.readerConfig(true))
			st := r.Start(c.de(t), messages.QRHandover())
			if !st.Done || st.Send != nil || st.Verify != nil {
				t.Fatalf("step %+v", st)
			}
			expectVerdict(t, r, readersession.Error, readersession.ReasonEngagement)
		})
	}
	t.Run("cipher suite 2 detail", func(t *testing.T) {
		r := readersession.New(p.readerConfig(false))
		r.Start(engagement(t, messages.CurveP256, 2), messages.QRHandover())
		if v := verdict(t, r); !strings.Contains(v.Detail, "cipher suite 2") {
			t.Fatalf("detail %q", v.Detail)
		}
	})
	t.Run("no handover", func(t *testing.T) {
		r := readersession.New(p.readerConfig(false))
		r.Start(engagement(t, messages.CurveP256, 1), nil)
		expectVerdict(t, r, readersession.Error, readersession.ReasonEngagement)
	})
	t.Run("no request", func(t *testing.T) {
		r := readersession.New(&readersession.Config{})
		r.Start(engagement(t, messages.CurveP256, 1), messages.QRHandover())
		expectVerdict(t, r, readersession.Error, readersession.ReasonEngagement)
	})
}

// protocolError checks a call in the wrong state ends the session with a protocol error
// and no message.
func protocolError(t *testing.T, r *readersession.Session, st readersession.Step) {
	t.Helper()
	if !st.Done || st.Send != nil || st.Verify != nil {
		t.Fatalf("step %+v", st)
	}
	expectVerdict(t, r, readersession.Error, readersession.ReasonProtocol)
}

func TestWrongState(t *testing.T) {
	p := defaultPKI(t)
	cfg := p.readerConfig(false)
	t.Run("Receive before Start", func(t *testing.T) {
		r := readersession.New(cfg)
		protocolError(t, r, r.Receive(statusMsg(t, messages.StatusSessionTermination)))
	})
	t.Run("Verified before Start", func(t *testing.T) {
		r := readersession.New(cfg)
		protocolError(t, r, r.Verified(readersession.Verification{Result: &verify.Result{Valid: true}}))
	})
	t.Run("Verified while awaiting the response", func(t *testing.T) {
		r := readersession.New(cfg)
		h := newHolder(t, &holdersession.Config{})
		if st := r.Start(h.DeviceEngagement(), messages.QRHandover()); st.Send == nil || st.Done {
			t.Fatalf("Start step %+v", st)
		}
		protocolError(t, r, r.Verified(readersession.Verification{Result: &verify.Result{Valid: true}}))
	})
	t.Run("Start twice", func(t *testing.T) {
		r := readersession.New(cfg)
		h := newHolder(t, &holdersession.Config{})
		r.Start(h.DeviceEngagement(), messages.QRHandover())
		protocolError(t, r, r.Start(h.DeviceEngagement(), messages.QRHandover()))
	})
	t.Run("Receive while verifying", func(t *testing.T) {
		cred := p.IssueOn(t, 0, issuer.IssueRequest{})
		r := readersession.New(cfg)
		h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}})
		resp := h.Receive(r.Start(h.DeviceEngagement(), messages.QRHandover()).Send)
		st := r.Receive(resp.Send)
		if st.Verify == nil {
			t.Fatalf("step %+v", st)
		}
		protocolError(t, r, r.Receive(resp.Send))
		// The verification result arriving late is ignored.
		if st := r.Verified(st.Verify.Run()); !st.Done || st.Send != nil {
			t.Fatalf("late Verified: %+v", st)
		}
		expectVerdict(t, r, readersession.Error, readersession.ReasonProtocol)
	})
	t.Run("Verified without a result", func(t *testing.T) {
		cred := p.IssueOn(t, 0, issuer.IssueRequest{})
		r := readersession.New(cfg)
		h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}})
		resp := h.Receive(r.Start(h.DeviceEngagement(), messages.QRHandover()).Send)
		if st := r.Receive(resp.Send); st.Verify == nil {
			t.Fatalf("step %+v", st)
		}
		st := r.Verified(readersession.Verification{})
		if !st.Done || st.Send != nil {
			t.Fatalf("step %+v", st)
		}
		expectVerdict(t, r, readersession.Error, readersession.ReasonInternal)
	})
}

// Fail in each state: before Start (no message), while awaiting the response and while
// verifying (termination sent), after the verdict (no-op).
func TestFail(t *testing.T) {
	p := defaultPKI(t)
	cfg := p.readerConfig(false)
	t.Run("new", func(t *testing.T) {
		r := readersession.New(cfg)
		st := r.Fail(readersession.Error, "link", "no connection")
		if !st.Done || st.Send != nil {
			t.Fatalf("step %+v", st)
		}
		expectVerdict(t, r, readersession.Error, "link")
	})
	t.Run("awaiting response", func(t *testing.T) {
		r := readersession.New(cfg)
		h := newHolder(t, &holdersession.Config{})
		r.Start(h.DeviceEngagement(), messages.QRHandover())
		st := r.Fail(readersession.Error, "link", "gone")
		expectStatus(t, st.Send, messages.StatusSessionTermination)
		expectVerdict(t, r, readersession.Error, "link")
	})
	t.Run("verifying", func(t *testing.T) {
		cred := p.IssueOn(t, 0, issuer.IssueRequest{})
		r := readersession.New(cfg)
		h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}})
		resp := h.Receive(r.Start(h.DeviceEngagement(), messages.QRHandover()).Send)
		job := r.Receive(resp.Send).Verify
		if job == nil {
			t.Fatal("no verify job")
		}
		st := r.Fail(readersession.Timeout, "verify_deadline", "crypto pool saturated")
		expectStatus(t, st.Send, messages.StatusSessionTermination)
		// The job still runs to completion on its own (it holds what it needs).
		if res := job.Run(); !res.Result.Valid {
			t.Fatalf("detached job: %+v", res.Result)
		}
		if st := r.Verified(job.Run()); !st.Done || st.Send != nil {
			t.Fatalf("late Verified: %+v", st)
		}
		expectVerdict(t, r, readersession.Timeout, "verify_deadline")
	})
	t.Run("after verdict", func(t *testing.T) {
		cred := p.IssueOn(t, 0, issuer.IssueRequest{})
		r := readersession.New(cfg)
		run(t, r, newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}}), nil)
		expectVerdict(t, r, readersession.Accepted, "")
		st := r.Fail(readersession.Timeout, "inactivity", "")
		if !st.Done || st.Send != nil {
			t.Fatalf("step %+v", st)
		}
		expectVerdict(t, r, readersession.Accepted, "")
	})
}

// fakeHolder is a holder built by hand, to send the reader messages no holdersession
// would.
type fakeHolder struct {
	key        *keys.PrivateKey
	engagement []byte
	cipher     *session.Cipher
	request    []byte
}

func newFakeHolder(t *testing.T) *fakeHolder {
	t.Helper()
	k, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	de, err := messages.NewEngagement(k.COSEKey())
	if err != nil {
		t.Fatal(err)
	}
	b, err := messages.Marshal(de)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeHolder{key: k, engagement: b}
}

// engage starts r with the fake holder and sets up the holder's session keys.
func (f *fakeHolder) engage(t *testing.T, r *readersession.Session) {
	t.Helper()
	st := r.Start(f.engagement, messages.QRHandover())
	if st.Send == nil {
		v, _ := r.Verdict()
		t.Fatalf("Start: %+v", v)
	}
	se, err := messages.DecodeSessionEstablishment(st.Send)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := se.ReaderKey()
	if err != nil {
		t.Fatal(err)
	}
	tr := r.Transcript()
	stb, err := tr.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if f.cipher, err = session.Establish(session.RoleDevice, f.key, rk, stb.Raw()); err != nil {
		t.Fatal(err)
	}
	if f.request, err = f.cipher.Decrypt(se.Data); err != nil {
		t.Fatalf("holder cannot decrypt the request: %v", err)
	}
}

func (f *fakeHolder) sessionData(t *testing.T, plain []byte, status *uint64) []byte {
	t.Helper()
	sd := messages.SessionData{Status: status}
	if plain != nil {
		ct, err := f.cipher.Encrypt(plain)
		if err != nil {
			t.Fatal(err)
		}
		sd.Data = ct
	}
	b, err := messages.Marshal(sd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReceiveErrors(t *testing.T) {
	p := defaultPKI(t)
	cfg := p.readerConfig(false)
	for _, c := range []struct {
		name    string
		msg     func(t *testing.T, f *fakeHolder) []byte
		outcome readersession.Outcome
		reason  string
		status  int // status the reader answers with; -1 none
	}{
		{"status 10", func(t *testing.T, _ *fakeHolder) []byte { return statusMsg(t, 10) }, readersession.Error, readersession.ReasonPeerStatus, -1},
		{"status 11", func(t *testing.T, _ *fakeHolder) []byte { return statusMsg(t, 11) }, readersession.Error, readersession.ReasonPeerStatus, -1},
		{"status 20", func(t *testing.T, _ *fakeHolder) []byte { return statusMsg(t, 20) }, readersession.Error, readersession.ReasonPeerTerminated, -1},
		{"unknown status", func(t *testing.T, _ *fakeHolder) []byte { return statusMsg(t, 99) }, readersession.Error, readersession.ReasonPeerStatus, -1},
		{"empty map", func(*testing.T, *fakeHolder) []byte { return []byte{0xa0} }, readersession.Error, readersession.ReasonCBORDecoding, messages.StatusCBORDecodingError},
		{"not CBOR", func(*testing.T, *fakeHolder) []byte { return []byte{0xff} }, readersession.Error, readersession.ReasonCBORDecoding, messages.StatusCBORDecodingError},
		{"empty message", func(*testing.T, *fakeHolder) []byte { return nil }, readersession.Error, readersession.ReasonCBORDecoding, messages.StatusCBORDecodingError},
		{"data not a DeviceResponse", func(t *testing.T, f *fakeHolder) []byte { return f.sessionData(t, []byte{0x01}, nil) },
			readersession.Error, readersession.ReasonResponseDecoding, messages.StatusCBORDecodingError},
		{"empty data", func(t *testing.T, f *fakeHolder) []byte {
			return []byte{0xa1, 0x64, 'd', 'a', 't', 'a', 0x40} // {"data": h''}
		}, readersession.Error, readersession.ReasonSessionEncryption, messages.StatusSessionEncryptionError},
		{"response and status 20", func(t *testing.T, f *fakeHolder) []byte {
			b, _ := messages.Marshal(&messages.DeviceResponse{Version: "1.0", Status: messages.ResponseGeneralError})
			st := uint64(20)
			return f.sessionData(t, b, &st)
		}, readersession.Rejected, readersession.ReasonResponseStatus, messages.StatusSessionTermination},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := readersession.New(cfg)
			f := newFakeHolder(t)
			f.engage(t, r)
			st := r.Receive(c.msg(t, f))
			if st.Verify != nil {
				st = r.Verified(st.Verify.Run())
			}
			if !st.Done {
				t.Fatalf("step %+v", st)
			}
			if c.status < 0 {
				if st.Send != nil {
					t.Fatalf("reader answered a terminating status with %x", st.Send)
				}
			} else {
				expectStatus(t, st.Send, uint64(c.status))
			}
			expectVerdict(t, r, c.outcome, c.reason)
		})
	}
}

// Exactly one verdict across many sessions sharing one Config, with every entry point
// poked after the end (expectVerdict does the poking).
func TestOneVerdictPerSession(t *testing.T) {
	p := defaultPKI(t)
	cred := p.IssueOn(t, 0, issuer.IssueRequest{})
	cfg := p.readerConfig(true)
	for i, mis := range []holdersession.Misbehaviour{holdersession.Honest, holdersession.TamperElement,
		holdersession.GarbageResponse, holdersession.TerminateEarly, holdersession.Honest} {
		r := readersession.New(cfg)
		if _, ok := r.Verdict(); ok {
			t.Fatal("verdict before Start")
		}
		run(t, r, newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{cred}, Misbehave: mis}), nil)
		checkVerdictStable(t, r)
		if v := verdict(t, r); (mis == holdersession.Honest) != (v.Outcome == readersession.Accepted) {
			t.Fatalf("session %d (%q): %+v", i, mis, v)
		}
	}
}
