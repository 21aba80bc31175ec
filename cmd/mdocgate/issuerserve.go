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
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
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
}

// issuerServe runs until ctx ends.
func issuerServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("issuer-serve", stderr)
	listen := fs.String("listen", "127.0.0.1:8443", "address to listen on (plain HTTP; put TLS in front for real use)")
	publicURL := fs.String("url", "", "issuer URL as put in engagements (default http://<listen address>)")
	doctype := fs.String("doctype", "mdl", "sample data served for the token: mdl or photoid")
	out := fs.String("out", "", "directory to write iaca.pem and jws_signer.pem into (optional)")
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
	iaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "mdocgate issuer-serve IACA"})
	if err != nil {
		return fail(stderr, "issuer-serve", err)
	}
	signer, err := serverretrieval.NewJWSSigner(iaca)
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
	token := iss.NewToken(serverretrieval.RecordFromNameSpaces(docType, ns))
	info := issuerServeInfo{URL: u, Token: token, DocType: docType, IACA: string(iaca.CertificatePEM()),
		EngagementKey3: map[string][]any{"webApi": {1, u, token}, "oidc": {1, u, token}}}
	srv := &http.Server{Handler: iss.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	enc := json.NewEncoder(stdout)
	_ = enc.Encode(info)
	fmt.Fprintf(stderr, "mdocgate issuer-serve: listening on %s (WebAPI %s/identity, OIDC %s/.well-known/openid-configuration)\n", ln.Addr(), u, u)
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
