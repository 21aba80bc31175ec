package holdersession_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
)

type fixture struct {
	*testpki.PKI
	cred *issuer.Credential
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	p := testpki.New(t, testpki.Options{})
	now := time.Now()
	return &fixture{PKI: p, cred: p.Issue(t, issuer.IssueRequest{ValidFrom: now, ValidUntil: now.Add(24 * time.Hour)})}
}

// reader is a reader built by hand on top of the crypto packages, so the tests control
// every message the holder sees.
type reader struct {
	key        *keys.PrivateKey
	keyBytes   messages.EncodedCBOR
	transcript messages.SessionTranscript
	cipher     *session.Cipher
}

// engage makes the reader's key on the holder's curve and its session keys over handover.
func engage(t *testing.T, h *holdersession.Session, handover cbor.RawMessage) *reader {
	t.Helper()
	de, err := messages.DecodeEngagement(h.DeviceEngagement())
	if err != nil {
		t.Fatal(err)
	}
	dk, err := de.Security.Key()
	if err != nil {
		t.Fatal(err)
	}
	r := &reader{}
	if r.key, err = keys.Generate(dk.Crv, nil); err != nil {
		t.Fatal(err)
	}
	if r.keyBytes, err = messages.EncodeToCBOR(r.key.COSEKey()); err != nil {
		t.Fatal(err)
	}
	if handover == nil {
		handover = messages.QRHandover()
	}
	r.transcript = messages.NewProximityTranscript(messages.NewEncodedCBOR(h.DeviceEngagement()), r.keyBytes, handover)
	stb, err := r.transcript.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if r.cipher, err = session.Establish(session.RoleReader, r.key, dk, stb.Raw()); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *reader) request(t *testing.T, auth request.Signer, elements ...string) []byte {
	t.Helper()
	req, err := request.Build(testpki.MDLRequest(elements...), auth, r.transcript)
	if err != nil {
		t.Fatal(err)
	}
	b, err := messages.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *reader) encrypt(t *testing.T, plain []byte) []byte {
	t.Helper()
	ct, err := r.cipher.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func (r *reader) establishment(t *testing.T, plainRequest []byte) []byte {
	t.Helper()
	b, err := messages.Marshal(messages.SessionEstablishment{EReaderKey: r.keyBytes, Data: r.encrypt(t, plainRequest)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *reader) sessionData(t *testing.T, plain []byte, status *uint64) []byte {
	t.Helper()
	sd := messages.SessionData{Status: status}
	if plain != nil {
		sd.Data = r.encrypt(t, plain)
	}
	b, err := messages.Marshal(sd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// response decrypts and verifies the holder's answer.
func (r *reader) response(t *testing.T, f *fixture, msg []byte) (*messages.DeviceResponse, *verify.Result) {
	t.Helper()
	sd, err := messages.DecodeSessionData(msg)
	if err != nil {
		t.Fatalf("holder answer: %v", err)
	}
	if sd.Data == nil || sd.Status != nil {
		t.Fatalf("holder answer without data or with a status: %+v", sd)
	}
	plain, err := r.cipher.Decrypt(sd.Data)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	resp, err := messages.DecodeDeviceResponse(plain)
	if err != nil {
		t.Fatal(err)
	}
	return resp, verify.VerifyDecodedResponse(resp, verify.Options{Trust: verify.NewTrustStore(f.IACA.Certificate),
		Transcript: &r.transcript, ReaderKey: r.key})
}

func status(t *testing.T, code uint64) []byte {
	t.Helper()
	b, err := messages.Marshal(messages.NewSessionStatus(code))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func expectStatus(t *testing.T, msg []byte, code uint64) {
	t.Helper()
	sd, err := messages.DecodeSessionData(msg)
	if err != nil {
		t.Fatalf("not a SessionData: %v", err)
	}
	if sd.Data != nil || sd.Status == nil || *sd.Status != code {
		t.Fatalf("SessionData %x, want status %d only", msg, code)
	}
}

func newHolder(t *testing.T, cfg *holdersession.Config) *holdersession.Session {
	t.Helper()
	h, err := holdersession.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// expectIgnored checks a finished holder ignores msg.
func expectIgnored(t *testing.T, h *holdersession.Session, msgs ...[]byte) {
	t.Helper()
	for _, m := range msgs {
		if st := h.Receive(m); !st.Done || st.Send != nil || st.Err != nil {
			t.Fatalf("finished holder answered %x with %+v", m, st)
		}
	}
}

func elementIDs(res *verify.Result) map[string]bool {
	out := map[string]bool{}
	for _, d := range res.Documents {
		for id := range d.Elements[issuer.NamespaceMDL] {
			out[id] = true
		}
	}
	return out
}

func TestNewEngagement(t *testing.T) {
	for _, curve := range []int64{0, messages.CurveP384, messages.CurveX25519, messages.CurveBrainpoolP256r1} {
		h := newHolder(t, &holdersession.Config{Curve: curve})
		de, err := messages.DecodeEngagement(h.DeviceEngagement())
		if err != nil {
			t.Fatal(err)
		}
		k, err := de.Security.Key()
		if err != nil {
			t.Fatal(err)
		}
		want := curve
		if want == 0 {
			want = messages.CurveP256
		}
		if de.Security.CipherSuite != messages.CipherSuite1 || k.Crv != want {
			t.Fatalf("curve %d: suite %d, key curve %d", curve, de.Security.CipherSuite, k.Crv)
		}
		if len(k.D) != 0 {
			t.Fatal("engagement carries the private key")
		}
	}
	if _, err := holdersession.New(&holdersession.Config{Curve: 9999}); err == nil {
		t.Fatal("unknown curve accepted")
	}
}

func TestTwoRequestRounds(t *testing.T) {
	f := newFixture(t)
	for _, mac := range []bool{false, true} {
		h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{f.cred}, UseMAC: mac})
		r := engage(t, h, nil)
		st := h.Receive(r.establishment(t, r.request(t, nil, "family_name", "age_over_18")))
		if st.Done || st.Err != nil || st.Send == nil {
			t.Fatalf("first answer %+v", st)
		}
		_, res := r.response(t, f, st.Send)
		if !res.Valid || len(elementIDs(res)) != 2 {
			t.Fatalf("first response: valid %v, elements %v", res.Valid, elementIDs(res))
		}
		// Second round in the same session: SessionData carrying a new request.
		st = h.Receive(r.sessionData(t, r.request(t, nil, "portrait", "given_name", "age_over_21"), nil))
		if st.Done || st.Err != nil || st.Send == nil {
			t.Fatalf("second answer %+v", st)
		}
		_, res = r.response(t, f, st.Send)
		if ids := elementIDs(res); !res.Valid || len(ids) != 3 || !ids["portrait"] {
			t.Fatalf("second response: valid %v, elements %v", res.Valid, ids)
		}
		// A last request carrying status 20 is answered and ends the session.
		twenty := uint64(messages.StatusSessionTermination)
		st = h.Receive(r.sessionData(t, r.request(t, nil, "birth_date"), &twenty))
		if !st.Done || st.Err != nil || st.Send == nil {
			t.Fatalf("answer with termination %+v", st)
		}
		if _, res = r.response(t, f, st.Send); !res.Valid || !elementIDs(res)["birth_date"] {
			t.Fatalf("third response: %+v", res)
		}
		expectIgnored(t, h, status(t, 20), r.sessionData(t, r.request(t, nil, "family_name"), nil), []byte{0xff})
	}
}

func TestTermination(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		code   uint64
		hasErr bool
	}{{messages.StatusSessionTermination, false}, {messages.StatusSessionEncryptionError, true}, {messages.StatusCBORDecodingError, true}} {
		h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{f.cred}})
		r := engage(t, h, nil)
		if st := h.Receive(r.establishment(t, r.request(t, nil, "family_name"))); st.Send == nil || st.Done {
			t.Fatalf("answer %+v", st)
		}
		st := h.Receive(status(t, c.code))
		if !st.Done || st.Send != nil || (st.Err != nil) != c.hasErr {
			t.Fatalf("status %d: %+v", c.code, st)
		}
		expectIgnored(t, h, status(t, 20), []byte{0xa0})
	}
}

func TestFirstMessageErrors(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name   string
		msg    func(t *testing.T, h *holdersession.Session) []byte
		status uint64
	}{
		{"not CBOR", func(*testing.T, *holdersession.Session) []byte { return []byte{0xff, 0x01} }, messages.StatusCBORDecodingError},
		{"empty", func(*testing.T, *holdersession.Session) []byte { return nil }, messages.StatusCBORDecodingError},
		{"a SessionData", func(t *testing.T, _ *holdersession.Session) []byte { return status(t, 20) }, messages.StatusCBORDecodingError},
		{"eReaderKey not a key", func(t *testing.T, _ *holdersession.Session) []byte {
			b, _ := messages.Marshal(messages.SessionEstablishment{EReaderKey: messages.NewEncodedCBOR([]byte{0x01}), Data: []byte{1}})
			return b
		}, messages.StatusCBORDecodingError},
		{"encrypted for another device key", func(t *testing.T, h *holdersession.Session) []byte {
			other := newHolder(t, &holdersession.Config{})
			r := engage(t, other, nil)
			return r.establishment(t, r.request(t, nil, "family_name"))
		}, messages.StatusSessionEncryptionError},
		{"another handover", func(t *testing.T, h *holdersession.Session) []byte {
			r := engage(t, h, messages.NFCHandover([]byte{1}, nil))
			return r.establishment(t, r.request(t, nil, "family_name"))
		}, messages.StatusSessionEncryptionError},
		{"reader key on another curve", func(t *testing.T, h *holdersession.Session) []byte {
			k, _ := keys.Generate(messages.CurveP384, nil)
			kb, _ := messages.EncodeToCBOR(k.COSEKey())
			b, _ := messages.Marshal(messages.SessionEstablishment{EReaderKey: kb, Data: []byte{1, 2, 3}})
			return b
		}, messages.StatusSessionEncryptionError},
		{"tampered ciphertext", func(t *testing.T, h *holdersession.Session) []byte {
			r := engage(t, h, nil)
			ct := r.encrypt(t, r.request(t, nil, "family_name"))
			ct[0] ^= 1
			b, _ := messages.Marshal(messages.SessionEstablishment{EReaderKey: r.keyBytes, Data: ct})
			return b
		}, messages.StatusSessionEncryptionError},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{f.cred}})
			st := h.Receive(c.msg(t, h))
			if !st.Done || st.Err == nil {
				t.Fatalf("step %+v", st)
			}
			expectStatus(t, st.Send, c.status)
			expectIgnored(t, h, status(t, 20))
		})
	}
}

func TestLaterMessageErrors(t *testing.T) {
	f := newFixture(t)
	setup := func(t *testing.T) (*holdersession.Session, *reader) {
		h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{f.cred}})
		r := engage(t, h, nil)
		st := h.Receive(r.establishment(t, r.request(t, nil, "family_name")))
		if st.Send == nil {
			t.Fatalf("answer %+v", st)
		}
		r.response(t, f, st.Send) // keeps the reader's counter in step
		return h, r
	}
	t.Run("not CBOR", func(t *testing.T) {
		h, _ := setup(t)
		st := h.Receive([]byte{0xff})
		if !st.Done || st.Err == nil {
			t.Fatalf("step %+v", st)
		}
		expectStatus(t, st.Send, messages.StatusCBORDecodingError)
	})
	t.Run("replayed SessionEstablishment", func(t *testing.T) {
		h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{f.cred}})
		r := engage(t, h, nil)
		se := r.establishment(t, r.request(t, nil, "family_name"))
		h.Receive(se)
		// It reads as a SessionData whose data reuses counter 1.
		st := h.Receive(se)
		if !st.Done || st.Err == nil {
			t.Fatalf("step %+v", st)
		}
		expectStatus(t, st.Send, messages.StatusSessionEncryptionError)
	})
	t.Run("replayed counter", func(t *testing.T) {
		h, r := setup(t)
		msg := r.sessionData(t, r.request(t, nil, "given_name"), nil)
		if st := h.Receive(msg); st.Send == nil || st.Done {
			t.Fatalf("step %+v", st)
		}
		st := h.Receive(msg) // same counter again
		if !st.Done || st.Err == nil {
			t.Fatalf("step %+v", st)
		}
		expectStatus(t, st.Send, messages.StatusSessionEncryptionError)
	})
	t.Run("request that does not decode", func(t *testing.T) {
		h, r := setup(t)
		st := h.Receive(r.sessionData(t, []byte{0xa0}, nil))
		if st.Done || st.Send == nil {
			t.Fatalf("step %+v", st)
		}
		resp, _ := r.response(t, f, st.Send)
		if resp.Status != messages.ResponseCBORDecodingError || len(resp.Documents) != 0 {
			t.Fatalf("response status %d with %d documents", resp.Status, len(resp.Documents))
		}
	})
}

func TestReaderAuthentication(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	for _, c := range []struct {
		name   string
		auth   request.Signer
		now    func() time.Time
		status uint64
	}{
		{"trusted reader", f.Reader, nil, messages.ResponseOK},
		{"no reader auth", nil, nil, messages.ResponseGeneralError},
		{"reader from another root", other.Reader, nil, messages.ResponseGeneralError},
		{"reader certificate expired", f.Reader, func() time.Time { return time.Now().AddDate(2, 0, 0) }, messages.ResponseGeneralError},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{f.cred},
				ReaderTrust: verify.NewTrustStore(f.ReaderRoot.Certificate), Now: c.now})
			r := engage(t, h, nil)
			st := h.Receive(r.establishment(t, r.request(t, c.auth, "family_name", "age_over_18")))
			if st.Done || st.Err != nil || st.Send == nil {
				t.Fatalf("step %+v", st)
			}
			resp, res := r.response(t, f, st.Send)
			if resp.Status != c.status {
				t.Fatalf("response status %d, want %d", resp.Status, c.status)
			}
			if c.status == messages.ResponseOK {
				if !res.Valid || len(elementIDs(res)) != 2 {
					t.Fatalf("result %+v", res)
				}
			} else if len(resp.Documents) != 0 || res.Valid {
				t.Fatal("an unauthenticated reader got documents")
			}
		})
	}
}

// A holder given the reader root's CRL refuses a reader whose certificate is on it.
func TestReaderAuthenticationRevoked(t *testing.T) {
	f := newFixture(t)
	crl, err := f.ReaderRoot.SignCRL([]issuer.RevokedCertificate{{SerialNumber: f.Reader.Certificate.SerialNumber, RevokedAt: time.Now()}},
		1, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, revoked := range []bool{false, true} {
		rev := &trust.StatusClient{Offline: true}
		if revoked {
			if err := rev.SetOffline(nil, []trust.OfflineFile{{Name: "reader-root.crl", Data: crl}}); err != nil {
				t.Fatal(err)
			}
		}
		h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{f.cred},
			ReaderTrust: verify.NewTrustStore(f.ReaderRoot.Certificate), ReaderRevocation: rev})
		r := engage(t, h, nil)
		st := h.Receive(r.establishment(t, r.request(t, f.Reader, "family_name")))
		if st.Send == nil {
			t.Fatalf("step %+v", st)
		}
		resp, _ := r.response(t, f, st.Send)
		if want := map[bool]uint64{false: messages.ResponseOK, true: messages.ResponseGeneralError}[revoked]; resp.Status != want {
			t.Fatalf("revoked %v: status %d, want %d", revoked, resp.Status, want)
		}
	}
}

func TestMisbehaviours(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		mis   holdersession.Misbehaviour
		check func(t *testing.T, r *reader, st holdersession.Step)
	}{
		{holdersession.Silent, func(t *testing.T, _ *reader, st holdersession.Step) {
			if st.Send != nil || st.Done || st.Err != nil {
				t.Fatalf("silent holder: %+v", st)
			}
		}},
		{holdersession.TerminateEarly, func(t *testing.T, _ *reader, st holdersession.Step) {
			if !st.Done || st.Err == nil {
				t.Fatalf("step %+v", st)
			}
			expectStatus(t, st.Send, messages.StatusSessionTermination)
		}},
		{holdersession.GarbageResponse, func(t *testing.T, _ *reader, st holdersession.Step) {
			if st.Done {
				t.Fatalf("step %+v", st)
			}
			if _, err := messages.DecodeSessionData(st.Send); err == nil {
				t.Fatal("garbage decodes")
			}
		}},
		{holdersession.CorruptSession, func(t *testing.T, r *reader, st holdersession.Step) {
			sd, err := messages.DecodeSessionData(st.Send)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.cipher.Decrypt(sd.Data); err == nil {
				t.Fatal("corrupted ciphertext decrypts")
			}
		}},
		{holdersession.SkipCounter, func(t *testing.T, r *reader, st holdersession.Step) {
			sd, err := messages.DecodeSessionData(st.Send)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.cipher.Decrypt(sd.Data); err == nil {
				t.Fatal("ciphertext with a skipped counter decrypts")
			}
		}},
		{holdersession.TamperElement, func(t *testing.T, r *reader, st holdersession.Step) {
			_, res := r.response(t, f, st.Send)
			failed := res.Documents[0].Failed()
			if res.Valid || len(failed) == 0 || failed[0].Name != verify.CheckValueDigests {
				t.Fatalf("tampered response: valid %v, failed %+v", res.Valid, failed)
			}
		}},
		{holdersession.WrongDeviceKey, func(t *testing.T, r *reader, st holdersession.Step) {
			_, res := r.response(t, f, st.Send)
			if c, ok := res.Documents[0].Check(verify.CheckDeviceSignature); res.Valid || !ok || c.OK {
				t.Fatalf("wrong device key: valid %v, %+v", res.Valid, c)
			}
		}},
	} {
		t.Run(string(c.mis), func(t *testing.T) {
			h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{f.cred}, Misbehave: c.mis})
			r := engage(t, h, nil)
			st := h.Receive(r.establishment(t, r.request(t, nil, "family_name", "given_name")))
			c.check(t, r, st)
		})
	}
	// WrongDeviceKey leaves the configured credential alone.
	h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{f.cred}, Misbehave: holdersession.WrongDeviceKey})
	dk := f.cred.DevicePrivateKey
	r := engage(t, h, nil)
	h.Receive(r.establishment(t, r.request(t, nil, "family_name")))
	if f.cred.DevicePrivateKey != dk {
		t.Fatal("WrongDeviceKey modified the shared credential")
	}
}

// The response names only what was asked for and reports elements the credential lacks.
func TestSelection(t *testing.T) {
	f := newFixture(t)
	h := newHolder(t, &holdersession.Config{Credentials: []*issuer.Credential{f.cred}})
	r := engage(t, h, nil)
	st := h.Receive(r.establishment(t, r.request(t, nil, "family_name", "no_such_element")))
	resp, res := r.response(t, f, st.Send)
	if ids := elementIDs(res); len(ids) != 1 || !ids["family_name"] {
		t.Fatalf("disclosed %v", ids)
	}
	if len(resp.Documents) != 1 || resp.Documents[0].Errors == nil {
		t.Fatal("missing element not reported")
	}
}

// A holder with Canned answers every request with exactly those DeviceResponse bytes,
// encrypted for its session.
func TestCannedResponse(t *testing.T) {
	canned, err := messages.Marshal(&messages.DeviceResponse{Version: "1.0", Status: messages.ResponseGeneralError})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // two sessions, each its own keys
		h := newHolder(t, &holdersession.Config{Canned: canned})
		r := engage(t, h, nil)
		st := h.Receive(r.establishment(t, r.request(t, nil, "family_name")))
		if st.Send == nil || st.Err != nil {
			t.Fatalf("answer %+v", st)
		}
		sd, err := messages.DecodeSessionData(st.Send)
		if err != nil || sd.Data == nil {
			t.Fatalf("answer %v %+v", err, sd)
		}
		plain, err := r.cipher.Decrypt(sd.Data)
		if err != nil || !bytes.Equal(plain, canned) {
			t.Fatalf("decrypted %x (%v), want the canned %x", plain, err, canned)
		}
	}
}
