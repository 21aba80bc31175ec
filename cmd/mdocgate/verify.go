package main

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

func runVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("verify", stderr)
	response := fs.String("response", "", "DeviceResponse file (CBOR or hex)")
	transcript := fs.String("transcript", "", "SessionTranscript or SessionTranscriptBytes file (CBOR or hex)")
	var trustFiles, vicalAnchors multiFlag
	fs.Var(&trustFiles, "trust", "trust anchor certificate file, PEM or DER, trusted for every docType (repeatable)")
	vical := fs.String("vical", "", "VICAL file (CBOR or hex): its IACAs, each trusted for the docTypes of its entry")
	fs.Var(&vicalAnchors, "vical-anchor", "the VICAL provider's anchor certificate file, PEM or DER (repeatable; needed with --vical)")
	readerKey := fs.String("reader-key", "", "reader ephemeral private key for deviceMac: PEM (PKCS#8/SEC1), JWK, or COSE_Key with d")
	at := fs.String("at", "", "verification time, RFC 3339 (default now)")
	skew := fs.Duration("clock-skew", verify.DefaultClockSkew, "how far not-yet-valid checks (validFrom, signed, certificate notBefore) are relaxed; never expiry")
	budget := fs.Int("crypto-budget", verify.DefaultCryptoBudget, "signature verifications allowed, in P-256 verifications (P-521 costs 36); -1 no limit")
	format := fs.String("format", "json", "output format: json or text")
	strict := fs.Bool("strict", false, "fail on certificate-profile and encoding deviations too")
	status := addStatusFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	switch {
	case *response == "" || *transcript == "":
		return fail(stderr, "verify", fmt.Errorf("--response and --transcript are required"))
	case *format != "json" && *format != "text":
		return fail(stderr, "verify", fmt.Errorf("--format must be json or text"))
	case (*vical == "") != (len(vicalAnchors) == 0):
		return fail(stderr, "verify", fmt.Errorf("--vical and --vical-anchor go together"))
	case *skew < 0:
		return fail(stderr, "verify", fmt.Errorf("--clock-skew must not be negative"))
	case *budget == 0 || *budget < -1:
		return fail(stderr, "verify", fmt.Errorf("--crypto-budget must be positive, or -1 for no limit"))
	}
	opts := verify.Options{Policy: verify.Policy{Strict: *strict}, Now: time.Now(), ClockSkew: *skew, CryptoBudget: *budget}
	if *skew == 0 {
		opts.ClockSkew = -1 // none
	}
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fail(stderr, "verify", fmt.Errorf("--at: %w", err))
		}
		opts.Now = t
	}
	rev, err := status.revocation(opts.Now)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	opts.Revocation = rev
	readCerts := func(flag, f string) ([]*x509.Certificate, error) {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		certs, err := verify.ParseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, f, err)
		}
		return certs, nil
	}
	opts.Trust = verify.NewTrustStore()
	if *vical != "" {
		anchors := verify.NewTrustStore()
		for _, f := range vicalAnchors {
			certs, err := readCerts("--vical-anchor", f)
			if err != nil {
				return fail(stderr, "verify", err)
			}
			anchors.Add(certs...)
		}
		data, err := readInput(*vical)
		if err != nil {
			return fail(stderr, "verify", err)
		}
		v, err := trust.ParseVICAL(data, trust.VICALOptions{Anchors: anchors, Now: opts.Now})
		if err != nil {
			return fail(stderr, "verify", fmt.Errorf("--vical: %w", err))
		}
		opts.Trust = v.TrustStore("", opts.Now)
	}
	for _, f := range trustFiles {
		certs, err := readCerts("--trust", f)
		if err != nil {
			return fail(stderr, "verify", err)
		}
		opts.Trust.Add(certs...)
	}
	if *readerKey != "" {
		data, err := os.ReadFile(*readerKey)
		if err != nil {
			return fail(stderr, "verify", err)
		}
		k, err := keys.ParsePrivateKey(data)
		if err != nil {
			return fail(stderr, "verify", fmt.Errorf("--reader-key: %w", err))
		}
		opts.ReaderKey = k
	}
	tb, err := readInput(*transcript)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	st, err := messages.DecodeSessionTranscript(tb)
	if err != nil {
		return fail(stderr, "verify", fmt.Errorf("--transcript: %w", err))
	}
	opts.Transcript = st
	rb, err := readInput(*response)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	resp, err := messages.DecodeDeviceResponse(rb)
	if err != nil {
		return fail(stderr, "verify", fmt.Errorf("--response: %w", err))
	}
	res := verify.VerifyDecodedResponse(resp, opts)
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fail(stderr, "verify", err)
		}
	} else {
		printVerdictText(stdout, res)
	}
	if res.Valid {
		return exitOK
	}
	return exitInvalid
}

func printVerdictText(w io.Writer, res *verify.Result) {
	verdict := "NOT VALID"
	if res.Valid {
		verdict = "VALID"
	}
	fmt.Fprintf(w, "%s (status %d)\n", verdict, res.Status)
	for _, e := range res.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	fmt.Fprintf(w, "  crypto cost: %d\n", res.CryptoCost)
	for _, d := range res.Documents {
		v := "not valid"
		if d.Valid {
			v = "valid"
		}
		fmt.Fprintf(w, "\ndocument %s: %s\n", d.DocType, v)
		for _, c := range d.Checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
				if c.Severity == "warning" {
					mark = "warn"
				}
			}
			if c.Reason != "" {
				fmt.Fprintf(w, "  [%s] %s: %s\n", mark, c.Name, c.Reason)
			} else {
				fmt.Fprintf(w, "  [%s] %s\n", mark, c.Name)
			}
		}
		nss := make([]string, 0, len(d.Elements))
		for ns := range d.Elements {
			nss = append(nss, ns)
		}
		sort.Strings(nss)
		for _, ns := range nss {
			fmt.Fprintf(w, "  %s\n", ns)
			ids := make([]string, 0, len(d.Elements[ns]))
			for id := range d.Elements[ns] {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				b, _ := json.Marshal(d.Elements[ns][id])
				s := string(b)
				if len(s) > 72 {
					s = s[:69] + "..."
				}
				fmt.Fprintf(w, "    %-28s %s\n", id, s)
			}
		}
	}
}
