package trust

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Limits of LoadDir.
const (
	MaxAnchorFileSize = 1 << 20 // bytes per certificate file
	MaxAnchorFiles    = 4096    // files read per folder
)

// anchorExtensions are the file name endings LoadDir reads; other files are ignored.
var anchorExtensions = []string{".pem", ".crt", ".cer", ".der"}

// Anchor is a trust anchor with where it came from and what it is trusted for.
type Anchor struct {
	Certificate *x509.Certificate
	Source      string   // file path, or "vical:<provider>"
	DocTypes    []string // nil means any document type
	// IACA marks an anchor that is an issuing authority whatever its certificate says
	// (a VICAL entry); otherwise a CA certificate is an IACA and any other a pinned
	// Document Signer (verify.TrustStore.Add).
	IACA bool
}

// verifyAnchor is a's entry in a verify.TrustStore.
func (a *Anchor) verifyAnchor() verify.Anchor {
	c := a.Certificate
	return verify.Anchor{Certificate: c, DocTypes: a.DocTypes, Pinned: !a.IACA && !(c.BasicConstraintsValid && c.IsCA)}
}

// Store is a set of IACA trust anchors from folders and VICALs. It is safe for
// concurrent use; a daemon reloading trust builds a new Store and swaps it in.
type Store struct {
	mu      sync.RWMutex
	anchors []Anchor
}

// LoadReport says what LoadDir did with each file.
type LoadReport struct {
	Loaded int
	// Skipped lists "file: reason" for files or certificates not loaded (expired,
	// unparsable, too large, duplicate).
	Skipped []string
	// Warnings lists "file: remark" for certificates loaded with a remark (not yet
	// valid, not a CA, expiring within 30 days).
	Warnings []string
}

// ExpiryWarning is how close to expiry an anchor gets a LoadReport warning.
const ExpiryWarning = 30 * 24 * time.Hour

// LoadDir reads every .pem/.crt/.cer/.der file of dir (not recursive; PEM with one or
// more CERTIFICATE blocks, or DER), trusted for every docType. Certificates expired at
// now are skipped and reported; the others are loaded. It fails when dir cannot be read
// or when no anchor could be loaded, so that a gate never starts with empty trust by
// accident.
func LoadDir(dir string, now time.Time) (*Store, *LoadReport, error) {
	s := &Store{}
	rep, err := s.AddDir(dir, nil, now)
	if err != nil {
		return nil, rep, err
	}
	return s, rep, nil
}

// AddDir is LoadDir into an existing store, the folder's anchors trusted for docTypes
// only (none: every docType).
func (s *Store) AddDir(dir string, docTypes []string, now time.Time) (*LoadReport, error) {
	if len(docTypes) == 0 {
		docTypes = nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("trust: IACA folder: %w", err)
	}
	rep := &LoadReport{}
	files := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !slices.Contains(anchorExtensions, strings.ToLower(filepath.Ext(name))) {
			continue
		}
		if files++; files > MaxAnchorFiles {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: more than %d certificate files; the rest are ignored", dir, MaxAnchorFiles))
			break
		}
		path := filepath.Join(dir, name)
		data, err := messages.ReadFileLimited(path, MaxAnchorFileSize)
		if err != nil {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		certs, err := verify.ParseCertificates(data)
		if err != nil {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		for _, c := range certs {
			s.addChecked(Anchor{Certificate: c, Source: path, DocTypes: docTypes}, now, rep)
		}
	}
	if rep.Loaded == 0 {
		return rep, fmt.Errorf("trust: IACA folder %s: no usable trust anchor (%d skipped)", dir, len(rep.Skipped))
	}
	return rep, nil
}

func (s *Store) addChecked(a Anchor, now time.Time, rep *LoadReport) {
	c := a.Certificate
	name := fmt.Sprintf("%s: %q", a.Source, c.Subject.CommonName)
	if now.After(c.NotAfter) {
		rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s expired on %s", name, c.NotAfter.UTC().Format(time.DateOnly)))
		return
	}
	s.mu.Lock()
	i := slices.IndexFunc(s.anchors, func(x Anchor) bool { return x.Certificate.Equal(c) })
	if i < 0 {
		s.anchors = append(s.anchors, a)
	} else {
		// one certificate from two sources: trusted for what either says
		e := &s.anchors[i]
		e.IACA = e.IACA || a.IACA
		if e.DocTypes == nil || a.DocTypes == nil {
			e.DocTypes = nil
		} else {
			for _, d := range a.DocTypes {
				if !slices.Contains(e.DocTypes, d) {
					e.DocTypes = append(slices.Clip(e.DocTypes), d)
				}
			}
		}
	}
	s.mu.Unlock()
	if i >= 0 {
		rep.Skipped = append(rep.Skipped, name+" is a duplicate (its docType scopes joined)")
		return
	}
	rep.Loaded++
	switch {
	case now.Before(c.NotBefore):
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s is not valid before %s", name, c.NotBefore.UTC().Format(time.RFC3339)))
	case c.NotAfter.Sub(now) < ExpiryWarning:
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s expires on %s", name, c.NotAfter.UTC().Format(time.DateOnly)))
	}
	if !c.IsCA {
		rep.Warnings = append(rep.Warnings, name+" is not a CA certificate (trusted as a pinned signer)")
	}
}

// Add adds anchors trusted for docTypes (nil: any), skipping those expired at now.
func (s *Store) Add(source string, docTypes []string, now time.Time, certs ...*x509.Certificate) *LoadReport {
	rep := &LoadReport{}
	for _, c := range certs {
		s.addChecked(Anchor{Certificate: c, Source: source, DocTypes: docTypes}, now, rep)
	}
	return rep
}

// AddVICAL adds the entries of a verified VICAL with their docType lists.
func (s *Store) AddVICAL(v *VICAL, now time.Time) (*LoadReport, error) {
	if v == nil {
		return nil, errors.New("trust: no VICAL")
	}
	rep := &LoadReport{}
	for _, e := range v.Entries {
		s.addChecked(Anchor{Certificate: e.Certificate, Source: "vical:" + v.Provider, DocTypes: e.DocTypes, IACA: true}, now, rep)
	}
	return rep, nil
}

// Len returns the number of anchors, expired ones included.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.anchors)
}

// Anchors returns a copy of the anchors.
func (s *Store) Anchors() []Anchor {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.anchors)
}

// TrustStore returns the anchors valid at now and trusted for docType ("" for every
// anchor) as a verify.TrustStore. Each anchor keeps its docType scope there, so one
// store serves every docType: an IACA a VICAL lists for the Photo ID only does not
// authenticate an mDL. Refresh it periodically (anchors expire); verification also
// checks validity at its own time.
func (s *Store) TrustStore(docType string, now time.Time) *verify.TrustStore {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ts := verify.NewTrustStore()
	for _, a := range s.anchors {
		c := a.Certificate
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			continue
		}
		if docType != "" && a.DocTypes != nil && !slices.Contains(a.DocTypes, docType) {
			continue
		}
		ts.AddAnchor(a.verifyAnchor())
	}
	return ts
}

// Expiring returns the anchors that expire within d after now (expired ones included),
// soonest first.
func (s *Store) Expiring(now time.Time, d time.Duration) []Anchor {
	s.mu.RLock()
	var out []Anchor
	for _, a := range s.anchors {
		if a.Certificate.NotAfter.Before(now.Add(d)) {
			out = append(out, a)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Certificate.NotAfter.Before(out[j].Certificate.NotAfter) })
	return out
}
