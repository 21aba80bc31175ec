//go:build !linux

package qr

import "os"

// openDevice opens a scanner device as it is (raw mode is set on Linux only).
func openDevice(name string) (*os.File, error) { return os.Open(name) }
