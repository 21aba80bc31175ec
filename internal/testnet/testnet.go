// Package testnet gives tests clients that a server's per-client limits tell apart: each
// from its own loopback source address (all of 127.0.0.0/8 is loopback on Linux).
package testnet

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// Dialer dials from the loopback address src.
func Dialer(src string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
}

// ClientFrom is an HTTP client whose connections come from the loopback address src:
// one client of a server's per-client limits. Its idle connections close with the test.
func ClientFrom(t testing.TB, src string) *http.Client {
	t.Helper()
	tr := &http.Transport{DialContext: Dialer(src).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}
