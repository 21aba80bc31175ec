package supervisor

import (
	"os"
	"runtime/pprof"
)

// StartCPUProfile profiles this process into file until stop is called: a gate's whole
// life under a load run, where the ops listener's /debug/pprof/ takes a window of it.
func StartCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
