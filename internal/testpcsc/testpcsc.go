// Package testpcsc gives the PC/SC tests of every package the vpcd readers of the shared
// pcscd (.ci/pcscd.sh) one test at a time. `go test ./...` runs packages in parallel and
// several of them drive the same virtual cards: a test holds an exclusive lock on a file
// in the temporary folder from Lock until it ends, so two tests — of one run, or of two
// runs on one machine — never dial the same slot at once. Tests only.
package testpcsc

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// lockFile is the lock every PC/SC test takes (not /tmp/pcsc.lock, which people take
// with flock(1) around whole runs: a test taking that one would wait for itself).
var lockFile = filepath.Join(os.TempDir(), "mdocgate-vpcd.lock")

// Lock holds the machine's vpcd readers for t until t ends.
func Lock(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("testpcsc: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("testpcsc: lock %s: %v", lockFile, err)
	}
	t.Cleanup(func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
