package load

import (
	"testing"

	"github.com/mdocgate/mdocgate/transports"
)

// BenchmarkNFC60KBResponse reports the modelled ISO-DEP air time of a session with a
// 60 KB portrait and the engine's CPU time next to it (target: CPU ≤ 2 % of air time).
func BenchmarkNFC60KBResponse(b *testing.B) {
	for _, rate := range []string{"106", "848"} {
		b.Run("kbit="+rate, func(b *testing.B) { benchAirTime(b, "nfc", transports.BearerOptions{"bitrate": rate}) })
	}
}
