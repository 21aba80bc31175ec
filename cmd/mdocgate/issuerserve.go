package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"

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

// issuerServe runs until ctx ends.
func issuerServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("issuer-serve", stderr)
	var cfg serverretrieval.ReferenceConfig
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8443", "address to listen on (plain HTTP; put TLS in front for real use)")
	fs.StringVar(&cfg.URL, "url", "", "issuer URL as put in engagements (default http://<listen address>)")
	fs.StringVar(&cfg.Sample, "doctype", "mdl", "sample data served for the token: mdl or photoid")
	fs.StringVar(&cfg.Out, "out", "", "directory to write iaca.pem, jws_signer.pem and status_signer.pem into (optional)")
	fs.StringVar(&cfg.CA, "ca", "", "act as the IACA of `mdocgate issue --out DIR` (its iaca.pem and iaca_key.pem) instead of a new one")
	fs.IntVar(&cfg.StatusBits, "status-bits", 2, "bits per status list entry: 1, 2, 4 or 8")
	fs.IntVar(&cfg.StatusSize, "status-size", 1024, "status list entries")
	fs.Func("revoke", "status list index to serve as INVALID (repeatable)", appendInt(&cfg.Revoke))
	fs.Func("suspend", "status list index to serve as SUSPENDED (repeatable)", appendInt(&cfg.Suspend))
	fs.Var((*multiFlag)(&cfg.RevokeCerts), "revoke-cert", "certificate PEM file (e.g. a DS issued under --ca) to list on the CRL (repeatable)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	err := serverretrieval.RunReference(ctx, cfg, func(info serverretrieval.ReferenceInfo, addr net.Addr) {
		_ = json.NewEncoder(stdout).Encode(info)
		fmt.Fprintf(stderr, "mdocgate issuer-serve: listening on %s (WebAPI %s/identity, OIDC %s/.well-known/openid-configuration, status list %s, CRL %s)\n",
			addr, info.URL, info.URL, info.StatusListURI, info.CRLURI)
	})
	if err != nil {
		return fail(stderr, "issuer-serve", err)
	}
	return exitOK
}

// appendInt is a repeatable integer flag's Set (flag.Func).
func appendInt(list *[]int) func(string) error {
	return func(v string) error {
		i, err := strconv.Atoi(v)
		*list = append(*list, i)
		return err
	}
}
