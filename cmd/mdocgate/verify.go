package main

import (
	"fmt"
	"io"

	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
)

func runVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("verify", stderr)
	var in trust.VerifyInputs
	fs.StringVar(&in.Response, "response", "", "DeviceResponse file (CBOR or hex)")
	fs.StringVar(&in.Transcript, "transcript", "", "SessionTranscript or SessionTranscriptBytes file (CBOR or hex)")
	fs.Var((*multiFlag)(&in.Trust), "trust", "trust anchor certificate file, PEM or DER, trusted for every docType (repeatable)")
	fs.StringVar(&in.VICAL, "vical", "", "VICAL file (CBOR or hex): its IACAs, each trusted for the docTypes of its entry")
	fs.Var((*multiFlag)(&in.VICALAnchors), "vical-anchor", "the VICAL provider's anchor certificate file, PEM or DER (repeatable; needed with --vical)")
	fs.StringVar(&in.ReaderKey, "reader-key", "", "reader ephemeral private key for deviceMac: PEM (PKCS#8/SEC1), JWK, or COSE_Key with d")
	fs.StringVar(&in.At, "at", "", "verification time, RFC 3339 (default now)")
	fs.DurationVar(&in.ClockSkew, "clock-skew", verify.DefaultClockSkew, "how far not-yet-valid checks (validFrom, signed, certificate notBefore) are relaxed; never expiry")
	fs.IntVar(&in.CryptoBudget, "crypto-budget", verify.DefaultCryptoBudget, "signature verifications allowed, in P-256 verifications (P-521 costs 36); -1 no limit")
	format := fs.String("format", "json", "output format: json or text")
	fs.BoolVar(&in.Strict, "strict", false, "fail on certificate-profile and encoding deviations too")
	fs.StringVar(&in.Status, "status", "", "revocation checks: online (fetch the MSO's status list and the DS's CRL), offline (only --status-list and --crl files), off; default offline when such files are given, else off")
	fs.Var((*multiFlag)(&in.StatusLists), "status-list", "status list token file, CWT or JWT (repeatable)")
	fs.Var((*multiFlag)(&in.CRLs), "crl", "CRL file, DER or PEM (repeatable)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	switch {
	case in.Response == "" || in.Transcript == "":
		return fail(stderr, "verify", fmt.Errorf("--response and --transcript are required"))
	case *format != "json" && *format != "text":
		return fail(stderr, "verify", fmt.Errorf("--format must be json or text"))
	}
	res, err := in.Verify()
	if err != nil {
		return fail(stderr, "verify", err)
	}
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
