package main

import (
	"fmt"
	"io"
	"time"

	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

func runVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("verify", stderr)
	response := fs.String("response", "", "DeviceResponse file (CBOR or hex)")
	transcript := fs.String("transcript", "", "SessionTranscript or SessionTranscriptBytes file (CBOR or hex)")
	var files trust.VerifyFiles
	fs.Var((*multiFlag)(&files.Trust), "trust", "trust anchor certificate file, PEM or DER, trusted for every docType (repeatable)")
	fs.StringVar(&files.VICAL, "vical", "", "VICAL file (CBOR or hex): its IACAs, each trusted for the docTypes of its entry")
	fs.Var((*multiFlag)(&files.VICALAnchors), "vical-anchor", "the VICAL provider's anchor certificate file, PEM or DER (repeatable; needed with --vical)")
	fs.StringVar(&files.ReaderKey, "reader-key", "", "reader ephemeral private key for deviceMac: PEM (PKCS#8/SEC1), JWK, or COSE_Key with d")
	at := fs.String("at", "", "verification time, RFC 3339 (default now)")
	skew := fs.Duration("clock-skew", verify.DefaultClockSkew, "how far not-yet-valid checks (validFrom, signed, certificate notBefore) are relaxed; never expiry")
	budget := fs.Int("crypto-budget", verify.DefaultCryptoBudget, "signature verifications allowed, in P-256 verifications (P-521 costs 36); -1 no limit")
	format := fs.String("format", "json", "output format: json or text")
	strict := fs.Bool("strict", false, "fail on certificate-profile and encoding deviations too")
	fs.StringVar(&files.Status, "status", "", "revocation checks: online (fetch the MSO's status list and the DS's CRL), offline (only --status-list and --crl files), off; default offline when such files are given, else off")
	fs.Var((*multiFlag)(&files.StatusLists), "status-list", "status list token file, CWT or JWT (repeatable)")
	fs.Var((*multiFlag)(&files.CRLs), "crl", "CRL file, DER or PEM (repeatable)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	switch {
	case *response == "" || *transcript == "":
		return fail(stderr, "verify", fmt.Errorf("--response and --transcript are required"))
	case *format != "json" && *format != "text":
		return fail(stderr, "verify", fmt.Errorf("--format must be json or text"))
	case (files.VICAL == "") != (len(files.VICALAnchors) == 0):
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
	if err := files.Load(&opts); err != nil {
		return fail(stderr, "verify", err)
	}
	st, err := readTranscript(*transcript)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	opts.Transcript = st
	rb, err := messages.ReadInputFile(*response)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	resp, err := messages.DecodeDeviceResponse(rb)
	if err != nil {
		return fail(stderr, "verify", fmt.Errorf("--response: %w", err))
	}
	res := verify.VerifyDecodedResponse(resp, opts)
	if *format == "json" {
		if code := writeJSON(stdout, stderr, "verify", res); code != exitOK {
			return code
		}
	} else {
		res.WriteText(stdout)
	}
	if res.Valid {
		return exitOK
	}
	return exitInvalid
}

// readTranscript reads the --transcript file of verify and present.
func readTranscript(path string) (*messages.SessionTranscript, error) {
	b, err := messages.ReadInputFile(path)
	if err != nil {
		return nil, err
	}
	st, err := messages.DecodeSessionTranscript(b)
	if err != nil {
		return nil, fmt.Errorf("--transcript: %w", err)
	}
	return st, nil
}

// printVerdictText prints a verdict for a person (demo --single).
func printVerdictText(w io.Writer, res *verify.Result) { res.WriteText(w) }
