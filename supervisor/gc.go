package supervisor

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// GC settings TuneGC applies when the environment sets none.
const (
	tunedGCPercent = 400
	// memoryLimitShare is the part of the machine's (or cgroup's) memory the soft limit
	// allows the heap.
	memoryLimitShare = 0.75
)

// TuneGC sets the garbage collector for a throughput-bound engine, unless GOGC or
// GOMEMLIMIT say otherwise: GOGC=400, because a session's garbage dies young and
// collecting a quarter as often buys CPU for sessions (about 13 % of the engine's CPU in
// BenchmarkEngine), with a soft memory limit of 3/4 of the machine's or cgroup's memory,
// so that a process holding many sessions collects harder before it runs short rather
// than growing its heap five-fold. It returns a function that restores the settings
// found.
func TuneGC() (restore func()) {
	restore = func() {}
	if _, set := os.LookupEnv("GOGC"); !set {
		old := debug.SetGCPercent(tunedGCPercent)
		restore = func() { debug.SetGCPercent(old) }
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		if total := memoryAvailable(); total > 0 {
			old := debug.SetMemoryLimit(int64(float64(total) * memoryLimitShare))
			prev := restore
			restore = func() { debug.SetMemoryLimit(old); prev() }
		}
	}
	return restore
}

// memoryAvailable is the cgroup v2 memory limit when there is one, else the machine's
// memory, in bytes; 0 when neither can be read.
func memoryAvailable() uint64 {
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 {
			return v
		}
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
