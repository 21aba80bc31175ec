package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
)

// signedSample issues a P-256 mDL and presents it with deviceSignature.
func signedSample(b *testing.B) ([]byte, Options) {
	b.Helper()
	pki := testpki.New(b, testpki.Options{})
	cred := pki.IssueOn(b, messages.CurveP256, issuer.IssueRequest{})
	st, _ := messages.DecodeSessionTranscript(testvectors.AnnexD(b, "session_transcript"))
	p := holder.Presenter{Credentials: []*issuer.Credential{cred}}
	resp, err := p.BuildResponse(nil, *st, holder.PresentOptions{})
	if err != nil {
		b.Fatal(err)
	}
	data, _ := messages.Marshal(resp)
	return data, Options{Trust: NewTrustStore(pki.IACA.Certificate), Transcript: st, Now: time.Now()}
}

// BenchmarkVerify measures whole-response verification. The Annex D response uses
// deviceMac (ECDH + HKDF + HMAC); the issued one uses deviceSignature (ECDSA P-256).
func BenchmarkVerify(b *testing.B) {
	macData, macOpts := testvectors.AnnexD(b, "device_response"), annexDOptions(b)
	sigData, sigOpts := signedSample(b)
	for _, bc := range []struct {
		name  string
		data  []byte
		opts  Options
		cache bool
	}{
		{"mac/AnnexD", macData, macOpts, false},
		{"mac/AnnexD/chain-cached", macData, macOpts, true},
		{"signature/P-256-mDL", sigData, sigOpts, false},
		{"signature/P-256-mDL/chain-cached", sigData, sigOpts, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := bc.opts
			if bc.cache {
				o.Cache = NewChainCache(16)
			}
			b.ReportAllocs()
			for b.Loop() {
				if res := VerifyDeviceResponse(bc.data, o); !res.Valid {
					b.Fatal("not valid")
				}
			}
		})
	}
}

// BenchmarkPrimitives measures the raw operations a verification is built from, in the
// same run, for comparison with BenchmarkVerify.
func BenchmarkPrimitives(b *testing.B) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("message"))
	sig, _ := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	b.Run("ecdsa-P256-verify", func(b *testing.B) {
		for b.Loop() {
			if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig) {
				b.Fatal("bad")
			}
		}
	})
	a, _ := keys.Generate(messages.CurveP256, nil)
	c, _ := keys.Generate(messages.CurveP256, nil)
	b.Run("ecdh-P256", func(b *testing.B) {
		for b.Loop() {
			if _, err := keys.ECDH(a, c.COSEKey()); err != nil {
				b.Fatal(err)
			}
		}
	})
	item := make([]byte, 100)
	b.Run("sha256-100B", func(b *testing.B) {
		for b.Loop() {
			sha256.Sum256(item)
		}
	})
	key := make([]byte, 32)
	msg := make([]byte, 400)
	b.Run("hmac-sha256-400B", func(b *testing.B) {
		for b.Loop() {
			h := hmac.New(sha256.New, key)
			h.Write(msg)
			h.Sum(nil)
		}
	})
	ds := testvectors.AnnexDCertificate(b, "ds_cert")
	iaca := testvectors.AnnexDCertificate(b, "iaca_cert")
	b.Run("x509-chain-verify", func(b *testing.B) {
		store := NewTrustStore(iaca)
		for b.Loop() {
			if _, err := VerifyChain([]*x509.Certificate{ds}, store, testvectors.AnnexDNow, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
