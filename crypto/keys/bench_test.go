package keys

import (
	"crypto/rand"
	"testing"

	"github.com/mdocgate/mdocgate/messages"
)

func BenchmarkGenerate(b *testing.B) {
	for _, id := range allCurves {
		b.Run(curveName(id), func(b *testing.B) {
			for b.Loop() {
				if _, err := Generate(id, rand.Reader); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkECDH(b *testing.B) {
	for _, id := range curvesWhere(func(c messages.CurveInfo) bool { return c.Agreement }) {
		b.Run(curveName(id), func(b *testing.B) {
			a, peer := mustGenerate(b, id), mustGenerate(b, id).COSEKey()
			for b.Loop() {
				if _, err := ECDH(a, peer); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var benchMsg = make([]byte, 512) // about a Sig_structure over an MSO digest list

func BenchmarkSign(b *testing.B) {
	for _, id := range curvesWhere(func(c messages.CurveInfo) bool { return c.Signing }) {
		b.Run(curveName(id), func(b *testing.B) {
			k := mustGenerate(b, id)
			for b.Loop() {
				if _, err := Sign(k, DefaultAlg(id), rand.Reader, benchMsg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, id := range curvesWhere(func(c messages.CurveInfo) bool { return c.Signing }) {
		b.Run(curveName(id), func(b *testing.B) {
			k := mustGenerate(b, id)
			sig, err := Sign(k, DefaultAlg(id), rand.Reader, benchMsg)
			if err != nil {
				b.Fatal(err)
			}
			pub := k.Public()
			for b.Loop() {
				if err := Verify(pub, DefaultAlg(id), benchMsg, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
