//go:build !unix

package actuator

import "os/exec"

// killGroup: without process groups the command alone is killed when its context ends.
func killGroup(*exec.Cmd) {}
