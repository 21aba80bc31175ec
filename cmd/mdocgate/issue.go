package main

import (
	"fmt"
	"io"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
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
	var status *messages.StatusListRef
	switch {
	case (*statusURI == "") != (*statusIndex < 0):
		return fail(stderr, "issue", fmt.Errorf("--status-uri and --status-index go together (index ≥ 0)"))
	case *statusURI != "":
		status = &messages.StatusListRef{Idx: uint64(*statusIndex), URI: *statusURI}
	}
	c, ok := messages.CurveByName(*curve)
	if !ok || !c.Signing {
		return fail(stderr, "issue", fmt.Errorf("--curve %q: want P-256, P-384, P-521 or Ed25519", *curve))
	}
	var docType string
	var ns []issuer.NameSpace
	switch *doctype {
	case "mdl":
		docType, ns = issuer.DocTypeMDL, issuer.SampleMDL(nil)
	case "photoid":
		docType, ns = issuer.DocTypePhotoID, issuer.SamplePhotoID(nil)
	default:
		return fail(stderr, "issue", fmt.Errorf("--doctype %q: want mdl or photoid", *doctype))
	}
	var iaca *issuer.Authority
	var err error
	if *caDir != "" {
		iaca, err = issuer.LoadAuthority(*caDir)
	} else {
		iaca, err = issuer.NewIACA(issuer.IACAOptions{Curve: c.ID, CommonName: "mdocgate test IACA"})
	}
	if err != nil {
		return fail(stderr, "issue", err)
	}
	ds, err := iaca.NewDocumentSigner(issuer.DSOptions{Curve: c.ID, CommonName: "mdocgate test DS", CRLURL: *crlURI})
	if err != nil {
		return fail(stderr, "issue", err)
	}
	deviceKey, err := keys.Generate(c.ID, nil)
	if err != nil {
		return fail(stderr, "issue", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	cred, err := ds.Issue(issuer.IssueRequest{
		DocType: docType, NameSpaces: ns, DeviceKey: deviceKey.COSEKey(),
		Signed: now, ValidFrom: now, ValidUntil: now.Add(time.Duration(*validDays) * 24 * time.Hour),
		StatusList: status,
	})
	if err != nil {
		return fail(stderr, "issue", err)
	}
	if err := issuer.WriteDir(*out, iaca, ds, cred, deviceKey); err != nil {
		return fail(stderr, "issue", err)
	}
	// issuer-serve --ca DIR (and issue --ca DIR) act as this IACA
	if err := issuer.WriteAuthorityKey(*out, iaca); err != nil {
		return fail(stderr, "issue", err)
	}
	fmt.Fprintf(stdout, "issued %s on %s into %s (iaca.pem, iaca_key.pem, ds.pem, device_key.pem, credential.cbor)\n", docType, c.Name, *out)
	return exitOK
}
