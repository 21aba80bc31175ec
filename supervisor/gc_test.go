package supervisor

import (
	"os"
	"runtime/debug"
	"testing"
)

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestTuneGC(t *testing.T) {
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Cleanup(func() { os.Setenv(k, v) })
			os.Unsetenv(k)
		}
	}
	before, limitBefore := gcPercent(), debug.SetMemoryLimit(-1)
	restore := TuneGC()
	if got := gcPercent(); got != tunedGCPercent {
		t.Errorf("GOGC %d after TuneGC, want %d", got, tunedGCPercent)
	}
	if total := memoryAvailable(); total > 0 {
		if got := debug.SetMemoryLimit(-1); got <= 0 || uint64(got) >= total {
			t.Errorf("memory limit %d with %d bytes available", got, total)
		}
	}
	restore()
	if gcPercent() != before || debug.SetMemoryLimit(-1) != limitBefore {
		t.Error("restore did not bring back the settings found")
	}

	t.Setenv("GOGC", "150") // the environment wins: TuneGC leaves GOGC alone
	restore = TuneGC()
	if gcPercent() != before {
		t.Errorf("GOGC changed to %d although the environment sets it", gcPercent())
	}
	restore()
}
