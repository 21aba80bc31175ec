package main

import (
	"fmt"
	"io"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/messages"
)

func runIssue(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("issue", stderr)
	out := fs.String("out", "", "directory to write iaca.pem, ds.pem, device_key.pem and credential.cbor")
	doctype := fs.String("doctype", "mdl", "document type: mdl or photoid")
	curve := fs.String("curve", "P-256", "curve of the IACA, DS and device keys: P-256, P-384, P-521 or Ed25519")
	validDays := fs.Int("valid-days", 365, "MSO validity in days from now")
	statusURI := fs.String("status-uri", "", "token status list URI put in the MSO's status (with --status-index)")
	statusIndex := fs.Int64("status-index", -1, "the credential's index in the --status-uri list")
	crlURI := fs.String("crl-uri", "", "CRL distribution point put in the DS certificate")
	caDir := fs.String("ca", "", "issue under the IACA of an earlier `issue --out DIR` (its iaca.pem and iaca_key.pem) instead of a new one")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *out == "" {
		return fail(stderr, "issue", fmt.Errorf("--out is required"))
	}
	o := issuer.DirOptions{CA: *caDir, ValidFor: time.Duration(*validDays) * 24 * time.Hour, CRLURL: *crlURI}
	switch {
	case (*statusURI == "") != (*statusIndex < 0):
		return fail(stderr, "issue", fmt.Errorf("--status-uri and --status-index go together (index ≥ 0)"))
	case *statusURI != "":
		o.StatusList = &messages.StatusListRef{Idx: uint64(*statusIndex), URI: *statusURI}
	}
	c, ok := messages.CurveByName(*curve)
	if !ok || !c.Signing {
		return fail(stderr, "issue", fmt.Errorf("--curve %q: want P-256, P-384, P-521 or Ed25519", *curve))
	}
	o.Curve = c.ID
	if o.DocType, o.NameSpaces, ok = issuer.Sample(*doctype); !ok {
		return fail(stderr, "issue", fmt.Errorf("--doctype %q: want mdl or photoid", *doctype))
	}
	if err := issuer.IssueDir(*out, o); err != nil {
		return fail(stderr, "issue", err)
	}
	fmt.Fprintf(stdout, "issued %s on %s into %s (iaca.pem, iaca_key.pem, ds.pem, device_key.pem, credential.cbor)\n", o.DocType, c.Name, *out)
	return exitOK
}
