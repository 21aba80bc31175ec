package serverretrieval

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/messages"
)

// ReferenceConfig configures RunReference: a reference issuing authority for server
// retrieval (`mdocgate issuer-serve`). Errors name the setting as that command's flags
// do (--doctype, --revoke, --suspend, --revoke-cert).
type ReferenceConfig struct {
	// Sample names the data served for the token: "mdl" or "photoid" (issuer.Sample).
	Sample string
	// Authority is the IACA: it certifies the JWS signer and the status list signer and
	// signs the CRL. When nil it is the IACA of the folder CA (issuer.LoadAuthority),
	// or a new one.
	Authority *issuer.Authority
	CA        string
	// Listen is the address to listen on (plain HTTP; TLS belongs in front). URL is the
	// issuer URL as put in engagements; default http://<listening address>.
	Listen, URL string
	// Out, optional, is a folder to write iaca.pem, jws_signer.pem and status_signer.pem
	// into.
	Out string
	// StatusBits and StatusSize shape the status list (StatusPublisherConfig); the
	// entries at Revoke are served as INVALID, at Suspend as SUSPENDED.
	StatusBits, StatusSize int
	Revoke, Suspend        []int
	// RevokeCerts are certificate PEM files (e.g. a DS issued under the same IACA)
	// listed on the CRL.
	RevokeCerts []string
}

// ReferenceInfo is what a holder puts in its engagement and what a reader needs to
// trust, as issuer-serve prints it once it listens.
type ReferenceInfo struct {
	URL            string           `json:"url"`
	Token          string           `json:"token"`
	DocType        string           `json:"docType"`
	EngagementKey3 map[string][]any `json:"serverRetrievalMethods"`
	IACA           string           `json:"iaca_pem"`
	// StatusListURI and CRLURI are the revocation endpoints: put them in credentials with
	// `issue --status-uri URI --status-index N` and `issue --crl-uri URI`.
	StatusListURI string `json:"status_list_uri"`
	CRLURI        string `json:"crl_uri"`
}

// RunReference serves the WebAPI and OIDC issuer (one token for the configured data)
// and its status list and CRL until ctx ends, then shuts down within five seconds.
// ready, once the server listens, hears what it serves and its address.
func RunReference(ctx context.Context, cfg ReferenceConfig, ready func(ReferenceInfo, net.Addr)) error {
	docType, ns, ok := issuer.Sample(cfg.Sample)
	if !ok {
		return fmt.Errorf("--doctype %q: want mdl or photoid", cfg.Sample)
	}
	iaca := cfg.Authority
	if iaca == nil {
		var err error
		if iaca, err = issuer.LoadOrNewAuthority(cfg.CA, issuer.IACAOptions{CommonName: "mdocgate issuer-serve IACA"}); err != nil {
			return err
		}
	}
	signer, err := NewJWSSigner(iaca)
	if err != nil {
		return err
	}
	status, err := newReferenceStatus(iaca, cfg)
	if err != nil {
		return err
	}
	if cfg.Out != "" {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(cfg.Out, issuer.FileIACA), iaca.CertificatePEM(), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(cfg.Out, "jws_signer.pem"), issuer.EncodeCertificatesPEM(signer.Cert.Raw), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(cfg.Out, "status_signer.pem"), issuer.EncodeCertificatesPEM(status.Signer().Raw), 0o644); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	u := cfg.URL
	if u == "" {
		u = "http://" + ln.Addr().String()
	}
	u = strings.TrimSuffix(u, "/")
	iss, err := NewIssuer(IssuerConfig{URL: u, Signer: signer})
	if err != nil {
		ln.Close()
		return err
	}
	status.SetURL(u)
	token := iss.NewToken(RecordFromNameSpaces(docType, ns))
	info := ReferenceInfo{URL: u, Token: token, DocType: docType, IACA: string(iaca.CertificatePEM()),
		EngagementKey3: map[string][]any{"webApi": {1, u, token}, "oidc": {1, u, token}},
		StatusListURI:  status.ListURI(), CRLURI: status.CRLURI()}
	mux := http.NewServeMux()
	mux.Handle(StatusListPath, status.Handler())
	mux.Handle(CRLPath, status.Handler())
	mux.Handle("/", iss.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ready(info, ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-errc
	return nil
}

// newReferenceStatus makes the revocation endpoints with the entries cfg sets.
func newReferenceStatus(iaca *issuer.Authority, cfg ReferenceConfig) (*StatusPublisher, error) {
	p, err := NewStatusPublisher(StatusPublisherConfig{CA: iaca, Bits: cfg.StatusBits, Size: cfg.StatusSize})
	if err != nil {
		return nil, err
	}
	for _, set := range []struct {
		idx    []int
		status uint8
		flag   string
	}{{cfg.Revoke, trust.StatusInvalid, "--revoke"}, {cfg.Suspend, trust.StatusSuspended, "--suspend"}} {
		for _, i := range set.idx {
			if err := p.SetStatus(i, set.status); err != nil {
				return nil, fmt.Errorf("%s %d: %w", set.flag, i, err)
			}
		}
	}
	for _, f := range cfg.RevokeCerts {
		b, err := messages.ReadFileLimited(f, trust.MaxAnchorFileSize)
		if err != nil {
			return nil, fmt.Errorf("--revoke-cert: %w", err)
		}
		certs, err := issuer.ParseCertificatesPEM(b)
		if err != nil {
			return nil, fmt.Errorf("--revoke-cert %s: %w", f, err)
		}
		p.Revoke(certs[0], 1) // keyCompromise
	}
	return p, nil
}
