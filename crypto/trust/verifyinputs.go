package trust

import (
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// VerifyInputs are the inputs of a verification outside a gate as `mdocgate verify`
// takes them: the response and its transcript, what it is checked with (trust anchors,
// a VICAL, the reader's key, revocation material) and how (time, clock skew, crypto
// budget, strictness). Errors name the input as that command's flags do (--response,
// --trust, --vical, --clock-skew...).
type VerifyInputs struct {
	// Response is a DeviceResponse file, Transcript a SessionTranscript or
	// SessionTranscriptBytes file (CBOR or hex; "-" standard input).
	Response, Transcript string
	// Trust are anchor certificate files, PEM or DER, each trusted for every docType.
	Trust []string
	// VICAL is a VICAL file (CBOR or hex; "-" standard input) verified under the
	// certificates of the VICALAnchors files: its IACAs are trusted for the docTypes of
	// their entries. The two go together.
	VICAL        string
	VICALAnchors []string
	// ReaderKey is the reader's ephemeral private key file for deviceMac: PEM (PKCS#8,
	// SEC1), JWK, or COSE_Key with d.
	ReaderKey string
	// Status is the revocation mode: "online" (fetch the MSO's status list and the DS's
	// CRL), "offline" (only StatusLists and CRLs) or "off"; empty means offline when
	// such files are given, else off.
	Status string
	// StatusLists are status list token files (CWT or JWT, raw or hex), CRLs CRL files
	// (DER or PEM).
	StatusLists, CRLs []string
	// At is the verification time, RFC 3339; empty: now. Validity (of the credential,
	// the VICAL, status lists and CRLs) is judged then.
	At string
	// ClockSkew relaxes the not-yet-valid checks (validFrom, signed, certificate
	// notBefore), never expiry; 0 means none (where verify.Options takes 0 for its
	// default).
	ClockSkew time.Duration
	// CryptoBudget bounds the signature verifications, in P-256 verifications (P-521
	// costs 36): positive, or -1 for no limit.
	CryptoBudget int
	// Strict fails on certificate-profile and encoding deviations too.
	Strict bool
}

// Verify reads the transcript and the response and verifies the response with
// Options. An error means an input could not be read or a setting is wrong; the verdict
// is in the result.
func (in VerifyInputs) Verify() (*verify.Result, error) {
	opts, err := in.Options()
	if err != nil {
		return nil, err
	}
	st, err := messages.DecodeInputFile(in.Transcript, "--transcript", messages.DecodeSessionTranscript)
	if err != nil {
		return nil, err
	}
	opts.Transcript = st
	resp, err := messages.DecodeInputFile(in.Response, "--response", messages.DecodeDeviceResponse)
	if err != nil {
		return nil, err
	}
	return verify.VerifyDecodedResponse(resp, opts), nil
}

// Options are the verify.Options of the settings, with the revocation client, the trust
// anchors (of the VICAL, then the Trust files) and the reader key read from the files;
// Transcript is left to Verify.
func (in VerifyInputs) Options() (verify.Options, error) {
	opts := verify.Options{Policy: verify.Policy{Strict: in.Strict}, Now: time.Now(), ClockSkew: in.ClockSkew, CryptoBudget: in.CryptoBudget}
	switch {
	case (in.VICAL == "") != (len(in.VICALAnchors) == 0):
		return opts, fmt.Errorf("--vical and --vical-anchor go together")
	case in.ClockSkew < 0:
		return opts, fmt.Errorf("--clock-skew must not be negative")
	case in.CryptoBudget == 0 || in.CryptoBudget < -1:
		return opts, fmt.Errorf("--crypto-budget must be positive, or -1 for no limit")
	}
	if in.ClockSkew == 0 {
		opts.ClockSkew = -1 // none
	}
	if in.At != "" {
		t, err := time.Parse(time.RFC3339, in.At)
		if err != nil {
			return opts, fmt.Errorf("--at: %w", err)
		}
		opts.Now = t
	}
	err := in.load(&opts)
	return opts, err
}

// load sets opts.Revocation, opts.Trust and opts.ReaderKey from the files. Validity
// (of the VICAL, status lists and CRLs) is judged at opts.Now.
func (in VerifyInputs) load(opts *verify.Options) error {
	rev, err := in.revocation(opts.Now)
	if err != nil {
		return err
	}
	opts.Revocation = rev
	readCerts := func(flag, name string) ([]*x509.Certificate, error) {
		data, err := messages.ReadFileLimited(name, MaxAnchorFileSize)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		certs, err := verify.ParseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, name, err)
		}
		return certs, nil
	}
	opts.Trust = verify.NewTrustStore()
	if in.VICAL != "" {
		anchors := verify.NewTrustStore()
		for _, name := range in.VICALAnchors {
			certs, err := readCerts("--vical-anchor", name)
			if err != nil {
				return err
			}
			anchors.Add(certs...)
		}
		v, err := messages.DecodeInputFile(in.VICAL, "--vical", func(b []byte) (*VICAL, error) {
			return ParseVICAL(b, VICALOptions{Anchors: anchors, Now: opts.Now})
		})
		if err != nil {
			return err
		}
		opts.Trust = v.TrustStore("", opts.Now)
	}
	for _, name := range in.Trust {
		certs, err := readCerts("--trust", name)
		if err != nil {
			return err
		}
		opts.Trust.Add(certs...)
	}
	if in.ReaderKey != "" {
		data, err := messages.ReadFileLimited(in.ReaderKey, keys.MaxKeyFileSize)
		if err != nil {
			return fmt.Errorf("--reader-key: %w", err)
		}
		k, err := keys.ParsePrivateKey(data)
		if err != nil {
			return fmt.Errorf("--reader-key: %w", err)
		}
		opts.ReaderKey = k
	}
	return nil
}

// revocation builds the verifier's revocation client, nil when checks are off. Its clock
// is the verification time, so exp and nextUpdate are judged then.
func (in VerifyInputs) revocation(now time.Time) (verify.Revocation, error) {
	mode := in.Status
	if mode == "" {
		mode = "off"
		if len(in.StatusLists)+len(in.CRLs) > 0 {
			mode = "offline"
		}
	}
	switch mode {
	case "off":
		if len(in.StatusLists)+len(in.CRLs) > 0 {
			return nil, fmt.Errorf("--status off with --status-list or --crl")
		}
		return nil, nil
	case "online", "offline":
	default:
		return nil, fmt.Errorf("--status %q: want online, offline or off", mode)
	}
	c := &StatusClient{Offline: mode == "offline", Now: func() time.Time { return now }}
	var lists, crls []OfflineFile
	for _, name := range in.StatusLists {
		b, err := messages.ReadInputFile(name)
		if err != nil {
			return nil, fmt.Errorf("--status-list: %w", err)
		}
		lists = append(lists, OfflineFile{Name: name, Data: b})
	}
	const maxCRL = DefaultStatusMaxBody * 4
	for _, name := range in.CRLs {
		fi, err := os.Stat(name)
		if err == nil && fi.Size() > maxCRL {
			err = fmt.Errorf("%s: larger than %d bytes", name, maxCRL)
		}
		var b []byte
		if err == nil {
			b, err = os.ReadFile(name)
		}
		if err != nil {
			return nil, fmt.Errorf("--crl: %w", err)
		}
		crls = append(crls, OfflineFile{Name: name, Data: b})
	}
	if err := c.SetOffline(lists, crls); err != nil {
		return nil, fmt.Errorf("--status-list/--crl: %w", err)
	}
	return c, nil
}
