package messages

import (
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

// The decode benchmarks: go test -run '^$' -bench 'Decode' -benchmem ./messages/

func benchDecode[T any](b *testing.B, data []byte, decode func([]byte) (T, error)) {
	b.Helper()
	if _, err := decode(data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeDeviceResponse(b *testing.B) {
	b.Run("annexd", func(b *testing.B) { benchDecode(b, testvectors.AnnexD(b, "device_response"), DecodeDeviceResponse) })
	// three documents, x5chain arrays, ~15 KB
	b.Run("eudi-3docs", func(b *testing.B) {
		benchDecode(b, testvectors.WalletResponses(b)["eudi-verifier-reference-wallet-3docs"], DecodeDeviceResponse)
	})
	// one document with a portrait, ~80 KB
	b.Run("portrait", func(b *testing.B) {
		benchDecode(b, testvectors.WalletResponses(b)["jmandel-shc-android-annexc"], DecodeDeviceResponse)
	})
}

func BenchmarkDecodeMSO(b *testing.B) {
	b.Run("annexd", func(b *testing.B) { benchDecode(b, testvectors.AnnexD(b, "mobile_security_object_bytes"), DecodeMSO) })
	dr, err := DecodeDeviceResponse(testvectors.WalletResponses(b)["eudi-verifier-reference-wallet-3docs"])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("eudi-pid", func(b *testing.B) { benchDecode(b, dr.Documents[0].IssuerSigned.IssuerAuth.Payload, DecodeMSO) })
}

func BenchmarkDecodeIssuerSignedItem(b *testing.B) {
	is, err := DecodeIssuerSigned(testvectors.AnnexD(b, "issuer_signed"))
	if err != nil {
		b.Fatal(err)
	}
	items, _ := is.NameSpaces.Get("org.iso.18013.5.1")
	b.Run("annexd-all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, it := range items {
				if _, err := DecodeIssuerSignedItem(it); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkDecodeIssuerSigned(b *testing.B) {
	benchDecode(b, bdrIssuerSigned(b), DecodeIssuerSigned)
}

func BenchmarkDecodeDeviceRequest(b *testing.B) {
	b.Run("annexd", func(b *testing.B) { benchDecode(b, testvectors.AnnexD(b, "device_request"), DecodeDeviceRequest) })
}

func BenchmarkDecodeEngagement(b *testing.B) {
	b.Run("annexd-qr", func(b *testing.B) { benchDecode(b, testvectors.AnnexD(b, "device_engagement_qr"), DecodeEngagement) })
	e, err := Marshal(builtEngagement(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("v1.1-all-methods", func(b *testing.B) { benchDecode(b, e, DecodeEngagement) })
}

func BenchmarkDecodeSessionData(b *testing.B) {
	b.Run("annexd", func(b *testing.B) { benchDecode(b, testvectors.AnnexD(b, "session_data_response"), DecodeSessionData) })
}

func BenchmarkDecodeSessionEstablishment(b *testing.B) {
	benchDecode(b, testvectors.AnnexD(b, "session_establishment"), DecodeSessionEstablishment)
}

func BenchmarkDecodeCOSEKey(b *testing.B) {
	benchDecode(b, testvectors.AnnexD(b, "edevice_key_cose"), DecodeCOSEKey)
}

func BenchmarkDecodeSessionTranscript(b *testing.B) {
	benchDecode(b, testvectors.AnnexD(b, "session_transcript_bytes"), DecodeSessionTranscript)
}
