//go:build unix

package actuator

import (
	"os/exec"
	"syscall"
)

// killGroup runs cmd in a process group of its own, killed whole when its context ends:
// a script's children (a relay helper) do not outlive it.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
