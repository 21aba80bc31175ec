package verify

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

type walletSample struct {
	dir        string
	response   []byte
	transcript *messages.SessionTranscript
	trust      *TrustStore
	at         time.Time
}

func loadWallet(t *testing.T, name string) walletSample {
	t.Helper()
	dir := testvectors.Path("wallets", name)
	s := walletSample{dir: dir, trust: NewTrustStore()}
	var meta struct {
		At string `json:"at"`
	}
	if err := json.Unmarshal(testvectors.File(t, "wallets", name, "meta.json"), &meta); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.at, err = time.Parse(time.RFC3339, meta.At); err != nil {
		t.Fatal(err)
	}
	// a sample may come without a transcript
	readHex := func(f string) []byte {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil
		}
		return testvectors.Hex(t, "wallets", name, f)
	}
	s.response = readHex("device_response.hex")
	if tb := readHex("session_transcript.hex"); tb != nil {
		if s.transcript, err = messages.DecodeSessionTranscript(tb); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if (strings.HasPrefix(n, "iaca_") || strings.HasPrefix(n, "trust_ds_")) && strings.HasSuffix(n, ".pem") {
			certs, err := ParseCertificates(testvectors.File(t, "wallets", name, n))
			if err != nil {
				t.Fatalf("%s: %v", n, err)
			}
			s.trust.Add(certs...)
		}
	}
	return s
}

func (s walletSample) verify(policy Policy) *Result {
	return VerifyDeviceResponse(s.response, Options{Trust: s.trust, Transcript: s.transcript, Now: s.at, Policy: policy})
}

// The samples a reader must accept with their own trust files at their own time; their
// quirks come out as warnings (shared/testdata/wallets/README.md). The auth0 samples,
// accepted until issue 14, are signed by their CA certificate itself: see
// TestRealWalletsSignedByTheirCA.
func TestRealWalletsAccepted(t *testing.T) {
	for _, name := range []string{
		"kokukuma-apple-wallet-passkit", "mdoc-ts-animo-paradym", "mdoc-ts-france-playground",
		"mdoc-ts-google-cm-wallet", "mdoc-ts-ubique",
		"simpledigicreds-google-cm-wallet-dcapi-a", "simpledigicreds-google-cm-wallet-dcapi-b",
		"simpledigicreds-google-cm-wallet-dcapi-encrypted-mvrc",
	} {
		t.Run(name, func(t *testing.T) {
			s := loadWallet(t, name)
			res := s.verify(Policy{})
			if !res.Valid {
				for _, d := range res.Documents {
					t.Logf("%s: %+v", d.DocType, d.Failed())
				}
				t.Fatalf("rejected: %v", res.Errors)
			}
			for _, d := range res.Documents {
				if len(d.Elements) == 0 {
					t.Fatal("no disclosed elements")
				}
			}
		})
	}
}

// The auth0 samples (@auth0/mdl test output, 2023) are signed with a self-signed CA
// certificate (basicConstraints CA=true, no key usage, no EKU) that is also their
// published trust anchor: the IACA signing MSOs itself, which issue 14 makes an error.
// Everything else about them is authentic, and it is the only error.
func TestRealWalletsSignedByTheirCA(t *testing.T) {
	for _, name := range []string{"auth0-mdl-example1", "auth0-mdl-example2", "auth0-mdl-example4"} {
		t.Run(name, func(t *testing.T) {
			s := loadWallet(t, name)
			for _, strict := range []bool{false, true} {
				res := s.verify(Policy{Strict: strict})
				if res.Valid || len(res.Documents) != 1 {
					t.Fatalf("strict=%v: valid=%v documents=%d", strict, res.Valid, len(res.Documents))
				}
				d := res.Documents[0]
				for _, c := range d.Failed() {
					if c.Kind == Authenticity && c.Name != CheckIssuerAuthPurpose {
						t.Fatalf("strict=%v: %s failed: %s", strict, c.Name, c.Reason)
					}
				}
				if c, _ := d.Check(CheckIssuerAuthPurpose); c.OK || c.Severity != "error" || !strings.Contains(c.Reason, "CA certificate") {
					t.Fatalf("purpose check: %+v", c)
				}
				for _, name := range []string{CheckIssuerAuthChain, CheckIssuerAuthSignature, CheckValueDigests, CheckMSOValidity, CheckDeviceSignature} {
					if c, _ := d.Check(name); !c.OK {
						t.Fatalf("strict=%v: %s: %+v", strict, name, c)
					}
				}
			}
		})
	}
}

// Quirky samples fail under the strict policy: their deviations are real.
func TestRealWalletQuirksFailStrict(t *testing.T) {
	for _, name := range []string{"mdoc-ts-google-cm-wallet", "mdoc-ts-ubique"} {
		t.Run(name, func(t *testing.T) {
			s := loadWallet(t, name)
			res := s.verify(Policy{Strict: true})
			if res.Valid {
				t.Fatal("strict policy accepted a sample with known deviations")
			}
			for _, d := range res.Documents {
				for _, c := range d.Failed() {
					if c.Kind != Conformance {
						t.Fatalf("strict failure %s is not a conformance check: %s", c.Name, c.Reason)
					}
				}
			}
		})
	}
}

func TestRealWalletsRejected(t *testing.T) {
	t.Run("tampered digest", func(t *testing.T) {
		s := loadWallet(t, "auth0-mdl-example3-tampered")
		res := s.verify(Policy{})
		if res.Valid {
			t.Fatal("tampered sample accepted")
		}
		c, _ := res.Documents[0].Check(CheckValueDigests)
		if c.OK || !strings.Contains(c.Reason, "family_name") {
			t.Fatalf("digest check: %+v", c)
		}
		if _, ok := res.Documents[0].Elements["org.iso.18013.5.1"]["family_name"]; ok {
			t.Fatal("tampered element reported as disclosed")
		}
	})
	t.Run("no trust anchor given", func(t *testing.T) {
		for _, name := range []string{"waltid-oidf-conformance-mdl", "mdoc-ts-ubique", "kokukuma-apple-wallet-passkit"} {
			s := loadWallet(t, name)
			s.trust = NewTrustStore()
			if res := s.verify(Policy{}); res.Valid {
				t.Fatalf("%s accepted without a trust anchor", name)
			}
		}
	})
	t.Run("untrusted chain", func(t *testing.T) {
		s := loadWallet(t, "eudi-verifier-mdl-untrusted-chain")
		s.trust = NewTrustStore(testvectors.AnnexDCertificate(t, "iaca_cert"))
		res := s.verify(Policy{})
		if res.Valid {
			t.Fatal("accepted")
		}
		if c, _ := res.Documents[0].Check(CheckIssuerAuthChain); c.OK {
			t.Fatal("chain check passed")
		}
	})
	t.Run("swapped transcripts", func(t *testing.T) {
		a := loadWallet(t, "simpledigicreds-google-cm-wallet-dcapi-a")
		b := loadWallet(t, "simpledigicreds-google-cm-wallet-dcapi-b")
		a.transcript = b.transcript
		res := a.verify(Policy{})
		if res.Valid {
			t.Fatal("response verified against another session's transcript")
		}
		if c, _ := res.Documents[0].Check(CheckDeviceSignature); c.OK {
			t.Fatal("device signature passed with a foreign transcript")
		}
	})
	t.Run("expired MSO in a multi-document response", func(t *testing.T) {
		s := loadWallet(t, "eudi-verifier-reference-wallet-3docs")
		res := s.verify(Policy{})
		if res.Valid || len(res.Documents) != 3 {
			t.Fatalf("valid=%v docs=%d", res.Valid, len(res.Documents))
		}
		if c, _ := res.Documents[2].Check(CheckMSOValidity); c.OK {
			t.Fatal("expired MSO of document 3 passed")
		}
		for i := 0; i < 2; i++ {
			for _, name := range []string{CheckIssuerAuthSignature, CheckIssuerAuthChain, CheckValueDigests, CheckMSOValidity} {
				if c, _ := res.Documents[i].Check(name); !c.OK {
					t.Fatalf("document %d check %s failed: %s", i, name, c.Reason)
				}
			}
		}
	})
}

func TestBareIssuerSigned(t *testing.T) {
	const sample = "mdoc-ts-bdr-issuer-signed"
	is, err := messages.DecodeIssuerSigned(testvectors.Hex(t, "wallets", sample, "issuer_signed.hex"))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ParseCertificates(testvectors.File(t, "wallets", sample, "trust_ds_bdr.pem"))
	if err != nil {
		t.Fatal(err)
	}
	d := VerifyIssuerSigned(is, "org.iso.18013.5.1.mDL", Options{Trust: NewTrustStore(certs...), Now: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)})
	if !d.Valid {
		t.Fatalf("%+v", d.Failed())
	}
	if n := len(d.Elements["org.iso.18013.5.1"]); n != 18 {
		t.Logf("elements: %d", n)
	}
	_ = x509.Certificate{}
}
