package serverretrieval

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/trust"
)

// Paths of the StatusPublisher's endpoints.
const (
	StatusListPath = "/status/1"
	CRLPath        = "/crl"
)

// StatusPublisherConfig configures a StatusPublisher.
type StatusPublisherConfig struct {
	// URL is the base URL the endpoints are reached under (no trailing slash): the status
	// list is URL+StatusListPath (the token's sub), the CRL URL+CRLPath.
	URL string
	// CA is the issuing authority: it issues the status list signer certificate and
	// signs the CRL.
	CA *issuer.Authority
	// Bits per status list entry: 1, 2, 4 or 8 (default 2: VALID, INVALID, SUSPENDED).
	Bits int
	// Size is the number of entries (default 1024).
	Size int
	// TTL is the tokens' ttl claim (default 5 min).
	TTL time.Duration
	// Validity is exp - iat of each token and nextUpdate - thisUpdate of the CRL
	// (default 1 h).
	Validity time.Duration
	Now      func() time.Time
}

// StatusPublisher is the revocation side of the reference issuing authority: it serves
// a token status list (CWT by default, JWT when asked for) signed by a status list
// signer certificate under the CA, and the CA's CRL, both made afresh for every request
// from entries a test sets. It is a test fixture.
type StatusPublisher struct {
	cfg    StatusPublisherConfig
	signer *issuer.CertKey

	mu        sync.Mutex
	url       string
	statuses  []uint8
	revoked   []issuer.RevokedCertificate
	crlNumber int64
	down      bool
}

// NewStatusPublisher makes the status list signer and an all-VALID list.
func NewStatusPublisher(cfg StatusPublisherConfig) (*StatusPublisher, error) {
	if cfg.CA == nil {
		return nil, errors.New("serverretrieval: status publisher: CA required")
	}
	if cfg.Bits == 0 {
		cfg.Bits = 2
	}
	switch cfg.Bits {
	case 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("serverretrieval: status publisher: bits %d is not 1, 2, 4 or 8", cfg.Bits)
	}
	if cfg.Size <= 0 {
		cfg.Size = 1024
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.Validity <= 0 {
		cfg.Validity = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	signer, err := cfg.CA.NewStatusListSigner(issuer.StatusListSignerOptions{})
	if err != nil {
		return nil, fmt.Errorf("serverretrieval: status publisher: %w", err)
	}
	return &StatusPublisher{cfg: cfg, signer: signer, url: strings.TrimSuffix(cfg.URL, "/"), statuses: make([]uint8, cfg.Size)}, nil
}

// SetURL changes the base URL (for a server whose address is known only after it
// listens).
func (p *StatusPublisher) SetURL(u string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.url = strings.TrimSuffix(u, "/")
}

// ListURI is the status list's URI: what an MSO's status_list uri names.
func (p *StatusPublisher) ListURI() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.url + StatusListPath
}

// CRLURI is the CRL's URI: what a certificate's CRL distribution point names.
func (p *StatusPublisher) CRLURI() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.url + CRLPath
}

// Signer is the status list signer certificate.
func (p *StatusPublisher) Signer() *x509.Certificate { return p.signer.Certificate }

// SetStatus sets the status of entry idx (trust.StatusValid, StatusInvalid,
// StatusSuspended, or another value that fits the bits).
func (p *StatusPublisher) SetStatus(idx int, status uint8) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if idx < 0 || idx >= len(p.statuses) {
		return fmt.Errorf("serverretrieval: status index %d out of range (%d entries)", idx, len(p.statuses))
	}
	if int(status) >= 1<<p.cfg.Bits {
		return fmt.Errorf("serverretrieval: status %d does not fit in %d bits", status, p.cfg.Bits)
	}
	p.statuses[idx] = status
	return nil
}

// Revoke puts cert on the CRL (reason: an RFC 5280 CRLReason, 0 unspecified).
func (p *StatusPublisher) Revoke(cert *x509.Certificate, reason int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked = append(p.revoked, issuer.RevokedCertificate{SerialNumber: cert.SerialNumber, RevokedAt: p.cfg.Now(), Reason: reason})
}

// SetAvailable takes both endpoints down (HTTP 503) or brings them back, for tests of
// what a verifier does when the issuer cannot be reached.
func (p *StatusPublisher) SetAvailable(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = !up
}

// Handler serves GET StatusListPath (application/statuslist+cwt, or +jwt when the
// Accept header asks for it and not for the CWT) and GET CRLPath
// (application/pkix-crl, DER).
func (p *StatusPublisher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StatusListPath, p.serveStatusList)
	mux.HandleFunc("GET "+CRLPath, p.serveCRL)
	return mux
}

func (p *StatusPublisher) snapshot() (tok trust.StatusListToken, down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	return trust.StatusListToken{URI: p.url + StatusListPath, Bits: p.cfg.Bits, Statuses: append([]uint8(nil), p.statuses...),
		IssuedAt: now, Expires: now.Add(p.cfg.Validity), TTL: p.cfg.TTL}, p.down
}

func (p *StatusPublisher) serveStatusList(w http.ResponseWriter, r *http.Request) {
	tok, down := p.snapshot()
	if down {
		http.Error(w, "status list unavailable", http.StatusServiceUnavailable)
		return
	}
	chain := [][]byte{p.signer.Certificate.Raw}
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, trust.MediaTypeStatusListJWT) && !strings.Contains(accept, trust.MediaTypeStatusListCWT) {
		jwt, err := tok.SignJWT(p.signer.Key, chain)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", trust.MediaTypeStatusListJWT)
		w.Write([]byte(jwt))
		return
	}
	cwt, err := tok.SignCWT(p.signer.Key, chain)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", trust.MediaTypeStatusListCWT)
	w.Write(cwt)
}

func (p *StatusPublisher) serveCRL(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	down, revoked := p.down, append([]issuer.RevokedCertificate(nil), p.revoked...)
	p.crlNumber++
	number := p.crlNumber
	p.mu.Unlock()
	if down {
		http.Error(w, "CRL unavailable", http.StatusServiceUnavailable)
		return
	}
	now := p.cfg.Now()
	der, err := p.cfg.CA.SignCRL(revoked, number, now.Add(-time.Minute), now.Add(p.cfg.Validity))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Write(der)
}
