package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/transports/serverretrieval"
)

func init() {
	register(command{"issuer-serve", "run a reference issuing authority for server retrieval (WebAPI and OIDC)", runIssuerServe})
}

func runIssuerServe(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return issuerServe(ctx, args, stdout, stderr)
}

// issuerServeInfo is the line printed once the server listens: what a holder puts in
// its engagement and what a reader needs to trust.
type issuerServeInfo struct {
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

// issuerServe runs until ctx ends.
func issuerServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("issuer-serve", stderr)
	listen := fs.String("listen", "127.0.0.1:8443", "address to listen on (plain HTTP; put TLS in front for real use)")
	publicURL := fs.String("url", "", "issuer URL as put in engagements (default http://<listen address>)")
	doctype := fs.String("doctype", "mdl", "sample data served for the token: mdl or photoid")
	out := fs.String("out", "", "directory to write iaca.pem, jws_signer.pem and status_signer.pem into (optional)")
	caDir := fs.String("ca", "", "act as the IACA of `mdocgate issue --out DIR` (its iaca.pem and iaca_key.pem) instead of a new one")
	statusBits := fs.Int("status-bits", 2, "bits per status list entry: 1, 2, 4 or 8")
	statusSize := fs.Int("status-size", 1024, "status list entries")
	var revoke, suspend intsFlag
	fs.Var(&revoke, "revoke", "status list index to serve as INVALID (repeatable)")
	fs.Var(&suspend, "suspend", "status list index to serve as SUSPENDED (repeatable)")
	var revokeCerts multiFlag
	fs.Var(&revokeCerts, "revoke-cert", "certificate PEM file (e.g. a DS issued under --ca) to list on the CRL (repeatable)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var docType string
	var ns []issuer.NameSpace
	switch *doctype {
	case "mdl":
		docType, ns = issuer.DocTypeMDL, issuer.SampleMDL(nil)
	case "photoid":
		docType, ns = issuer.DocTypePhotoID, issuer.SamplePhotoID(nil)
	default:
		return fail(stderr, "issuer-serve", fmt.Errorf("--doctype %q: want mdl or photoid", *doctype))
	}
	var iaca *issuer.Authority
	var err error
	if *caDir != "" {
		iaca, err = issuer.LoadAuthority(*caDir)
	} else {
		iaca, err = issuer.NewIACA(issuer.IACAOptions{CommonName: "mdocgate issuer-serve IACA"})
	}
	if err != nil {
		return fail(stderr, "issuer-serve", err)
	}
	signer, err := serverretrieval.NewJWSSigner(iaca)
	if err != nil {
		return fail(stderr, "issuer-serve", err)
	}
	status, err := newStatusPublisher(iaca, *statusBits, *statusSize, revoke, suspend, revokeCerts)
	if err != nil {
		return fail(stderr, "issuer-serve", err)
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return fail(stderr, "issuer-serve", err)
		}
		if err := os.WriteFile(filepath.Join(*out, issuer.FileIACA), iaca.CertificatePEM(), 0o644); err != nil {
			return fail(stderr, "issuer-serve", err)
		}
		if err := os.WriteFile(filepath.Join(*out, "jws_signer.pem"), issuer.EncodeCertificatesPEM(signer.Cert.Raw), 0o644); err != nil {
			return fail(stderr, "issuer-serve", err)
		}
		if err := os.WriteFile(filepath.Join(*out, "status_signer.pem"), issuer.EncodeCertificatesPEM(status.Signer().Raw), 0o644); err != nil {
			return fail(stderr, "issuer-serve", err)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail(stderr, "issuer-serve", err)
	}
	u := *publicURL
	if u == "" {
		u = "http://" + ln.Addr().String()
	}
	u = strings.TrimSuffix(u, "/")
	iss, err := serverretrieval.NewIssuer(serverretrieval.IssuerConfig{URL: u, Signer: signer})
	if err != nil {
		ln.Close()
		return fail(stderr, "issuer-serve", err)
	}
	status.SetURL(u)
	token := iss.NewToken(serverretrieval.RecordFromNameSpaces(docType, ns))
	info := issuerServeInfo{URL: u, Token: token, DocType: docType, IACA: string(iaca.CertificatePEM()),
		EngagementKey3: map[string][]any{"webApi": {1, u, token}, "oidc": {1, u, token}},
		StatusListURI:  status.ListURI(), CRLURI: status.CRLURI()}
	mux := http.NewServeMux()
	mux.Handle(serverretrieval.StatusListPath, status.Handler())
	mux.Handle(serverretrieval.CRLPath, status.Handler())
	mux.Handle("/", iss.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	enc := json.NewEncoder(stdout)
	_ = enc.Encode(info)
	fmt.Fprintf(stderr, "mdocgate issuer-serve: listening on %s (WebAPI %s/identity, OIDC %s/.well-known/openid-configuration, status list %s, CRL %s)\n",
		ln.Addr(), u, u, status.ListURI(), status.CRLURI())
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fail(stderr, "issuer-serve", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-errc
	return exitOK
}

// newStatusPublisher makes the revocation endpoints with the entries the flags set.
func newStatusPublisher(iaca *issuer.Authority, bits, size int, revoke, suspend []int, revokeCerts []string) (*serverretrieval.StatusPublisher, error) {
	p, err := serverretrieval.NewStatusPublisher(serverretrieval.StatusPublisherConfig{CA: iaca, Bits: bits, Size: size})
	if err != nil {
		return nil, err
	}
	for _, set := range []struct {
		idx    []int
		status uint8
		flag   string
	}{{revoke, trust.StatusInvalid, "--revoke"}, {suspend, trust.StatusSuspended, "--suspend"}} {
		for _, i := range set.idx {
			if err := p.SetStatus(i, set.status); err != nil {
				return nil, fmt.Errorf("%s %d: %w", set.flag, i, err)
			}
		}
	}
	for _, f := range revokeCerts {
		b, err := os.ReadFile(f)
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

// intsFlag is a repeatable integer flag.
type intsFlag []int

func (m *intsFlag) String() string { return fmt.Sprint([]int(*m)) }
func (m *intsFlag) Set(v string) error {
	i, err := strconv.Atoi(v)
	if err != nil {
		return err
	}
	*m = append(*m, i)
	return nil
}
