package daemon

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// StatusConfig is the gate's revocation checking (`status:`): the token status list an
// MSO names (draft-ietf-oauth-status-list-20, CWT or JWT) and the CRL a DS certificate
// names, fetched over HTTP(S) with bounds and cached, or given as files. Every field is
// optional; examples/gate.yaml documents them.
type StatusConfig struct {
	// Mode is online (default: fetch what credentials name, plus the files), offline
	// (the files only) or off (no revocation checks; a profile that checks status then
	// rejects credentials carrying a status reference).
	Mode string `yaml:"mode"`
	// OnStale is what a check does when no usable list or CRL can be had (the server
	// down past stale_if_error, the cache full): closed (default, reject) or open
	// (accept, the check's reason says so). A list that says revoked or suspended, a
	// bad signature or an untrusted signer always reject.
	OnStale string `yaml:"on_stale"`
	// StaleIfError is how long past its freshness (ttl, exp; a CRL's nextUpdate) a list
	// still serves while refreshing it fails; never past a token's exp (default 1h).
	StaleIfError time.Duration `yaml:"stale_if_error"`
	// Timeout bounds one download (default 5s); RetryAfter is how long a failed download
	// is not retried by lookups (default 10s).
	Timeout    time.Duration `yaml:"timeout"`
	RetryAfter time.Duration `yaml:"retry_after"`
	// DefaultTTL is the freshness of a token without ttl or exp and of a CRL (default
	// 5m); MinRefresh and MaxTTL clamp any freshness (default 30s, 24h). Lists are
	// refreshed in the background shortly before they go stale.
	DefaultTTL time.Duration `yaml:"default_ttl"`
	MinRefresh time.Duration `yaml:"min_refresh"`
	MaxTTL     time.Duration `yaml:"max_ttl"`
	// RequireHTTPS refuses http:// status list and CRL URIs.
	RequireHTTPS bool `yaml:"require_https"`
	// Bounds: one download (default 1 MiB), one decompressed list (16 MiB), lists and
	// CRLs cached (256), bytes cached in all (64 MiB).
	MaxDownloadBytes int64 `yaml:"max_download_bytes"`
	MaxListBytes     int64 `yaml:"max_list_bytes"`
	MaxLists         int   `yaml:"max_lists"`
	MaxTotalBytes    int64 `yaml:"max_total_bytes"`
	// StatusListFiles and CRLFiles are status list tokens (CWT or JWT) and CRLs (DER or
	// PEM) read at start and on SIGHUP: the only source of an offline gate.
	StatusListFiles []string `yaml:"status_list_files"`
	CRLFiles        []string `yaml:"crl_files"`
}

// Status modes and stale policies.
const (
	statusOnline  = "online"
	statusOffline = "offline"
	statusOff     = "off"
	staleClosed   = "closed"
	staleOpen     = "open"
)

// validate fills the defaults and checks the fields (names relative to status).
func (s *StatusConfig) validate() error {
	if s.Mode == "" {
		s.Mode = statusOnline
	}
	if s.OnStale == "" {
		s.OnStale = staleClosed
	}
	files := len(s.StatusListFiles) + len(s.CRLFiles)
	switch {
	case s.Mode != statusOnline && s.Mode != statusOffline && s.Mode != statusOff:
		return bad("mode", "unknown mode %q (want online, offline or off)", s.Mode)
	case s.OnStale != staleClosed && s.OnStale != staleOpen:
		return bad("on_stale", "unknown policy %q (want closed or open)", s.OnStale)
	case s.Mode == statusOff && files > 0:
		return bad("mode", "off, yet status_list_files or crl_files are given")
	case s.Mode == statusOffline && files == 0:
		return bad("mode", "offline needs status_list_files or crl_files")
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"stale_if_error", &s.StaleIfError, time.Hour}, {"timeout", &s.Timeout, trust.DefaultStatusTimeout},
		{"retry_after", &s.RetryAfter, 10 * time.Second}, {"default_ttl", &s.DefaultTTL, trust.DefaultStatusTTL},
		{"min_refresh", &s.MinRefresh, trust.DefaultStatusMinRefresh}, {"max_ttl", &s.MaxTTL, trust.DefaultStatusMaxTTL}} {
		if *d.v < 0 {
			return bad(d.name, "must not be negative")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, n := range []struct {
		name string
		v    *int64
		def  int64
	}{{"max_download_bytes", &s.MaxDownloadBytes, trust.DefaultStatusMaxBody}, {"max_list_bytes", &s.MaxListBytes, trust.DefaultStatusMaxList},
		{"max_total_bytes", &s.MaxTotalBytes, trust.DefaultStatusMaxTotal}} {
		if *n.v < 0 {
			return bad(n.name, "must not be negative")
		}
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	if s.MaxLists < 0 {
		return bad("max_lists", "must not be negative")
	}
	if s.MaxLists == 0 {
		s.MaxLists = trust.DefaultStatusMaxLists
	}
	if s.MinRefresh > s.MaxTTL {
		return bad("min_refresh", "%s is above max_ttl %s", s.MinRefresh, s.MaxTTL)
	}
	return nil
}

// newStatusClient builds the gate's status client with its files loaded; nil when
// revocation checks are off.
func (c *Config) newStatusClient() (*trust.StatusClient, error) {
	s := &c.Status
	if s.Mode == statusOff {
		return nil, nil
	}
	sc := &trust.StatusClient{Offline: s.Mode == statusOffline, FailOpen: s.OnStale == staleOpen, StaleIfError: s.StaleIfError,
		Timeout: s.Timeout, RetryAfter: s.RetryAfter, DefaultTTL: s.DefaultTTL, MinRefresh: s.MinRefresh, MaxTTL: s.MaxTTL,
		RequireHTTPS: s.RequireHTTPS, MaxBody: s.MaxDownloadBytes, MaxList: s.MaxListBytes, MaxLists: s.MaxLists, MaxTotal: s.MaxTotalBytes}
	if err := c.loadStatusFiles(sc); err != nil {
		return nil, err
	}
	return sc, nil
}

// loadStatusFiles (re)reads the status list and CRL files into sc; on an error what sc
// held stays.
func (c *Config) loadStatusFiles(sc *trust.StatusClient) error {
	read := func(field string, names []string, limit int64) ([]trust.OfflineFile, error) {
		var out []trust.OfflineFile
		for i, name := range names {
			f := fmt.Sprintf("status.%s[%d]", field, i)
			fi, err := os.Stat(c.path(name))
			if err != nil {
				return nil, &fieldError{f, err}
			}
			if fi.Size() > limit {
				return nil, bad(f, "%s is over %d bytes (max_download_bytes)", name, limit)
			}
			b, err := os.ReadFile(c.path(name))
			if err != nil {
				return nil, &fieldError{f, err}
			}
			out = append(out, trust.OfflineFile{Name: name, Data: b})
		}
		return out, nil
	}
	lists, err := read("status_list_files", c.Status.StatusListFiles, c.Status.MaxDownloadBytes)
	if err != nil {
		return err
	}
	crls, err := read("crl_files", c.Status.CRLFiles, c.Status.MaxDownloadBytes)
	if err != nil {
		return err
	}
	if err := sc.SetOffline(lists, crls); err != nil {
		return &fieldError{"status", err}
	}
	return nil
}

// laneRevocation is what a lane's verification asks: the status client, or for a
// profile whose status check is off, its CRL checks only.
func laneRevocation(sc *trust.StatusClient, p *profile.Profile) verify.Revocation {
	switch {
	case sc == nil:
		return nil
	case p != nil && p.Status == profile.StatusOff:
		return certificatesOnly{sc}
	}
	return sc
}

// certificatesOnly checks certificates and leaves the status list entry alone.
type certificatesOnly struct{ sc *trust.StatusClient }

func (r certificatesOnly) Certificate(cert, issuer *x509.Certificate) (verify.RevocationAnswer, error) {
	return r.sc.Certificate(cert, issuer)
}

func (certificatesOnly) TokenStatus(messages.StatusListRef, *x509.Certificate) (verify.RevocationAnswer, error) {
	return verify.RevocationAnswer{Note: "not looked up: the lane's profile does not check status"}, nil
}

// startStatusRefresh refreshes the status client's lists in the background until the
// returned stop is called.
func startStatusRefresh(sc *trust.StatusClient) (stop func()) {
	if sc == nil || sc.Offline {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc.Run(ctx, 0)
	}()
	return func() {
		cancel()
		<-done
	}
}

// RevocationFresh reports whether every status list and CRL the gate uses is fresh or
// stale within status.stale_if_error, naming the others (for a readiness check). A
// gate with revocation checks off, or nothing fetched yet, is fresh.
func (g *Gate) RevocationFresh() (ok bool, problems []string) {
	if g.status == nil {
		return true, nil
	}
	return g.status.Fresh()
}
