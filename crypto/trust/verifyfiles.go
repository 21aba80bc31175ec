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

// VerifyFiles are the files a verification outside a gate trusts and checks with
// (`mdocgate verify`): trust anchors, a VICAL, the reader's key and revocation material.
// Errors name the input as that command's flags do (--trust, --vical, --status-list...).
type VerifyFiles struct {
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
}

// Load sets opts.Revocation, opts.Trust and opts.ReaderKey from the files. Validity
// (of the VICAL, status lists and CRLs) is judged at opts.Now.
func (f VerifyFiles) Load(opts *verify.Options) error {
	rev, err := f.revocation(opts.Now)
	if err != nil {
		return err
	}
	opts.Revocation = rev
	readCerts := func(flag, name string) ([]*x509.Certificate, error) {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		certs, err := verify.ParseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, name, err)
		}
		return certs, nil
	}
	opts.Trust = verify.NewTrustStore()
	if f.VICAL != "" {
		anchors := verify.NewTrustStore()
		for _, name := range f.VICALAnchors {
			certs, err := readCerts("--vical-anchor", name)
			if err != nil {
				return err
			}
			anchors.Add(certs...)
		}
		data, err := messages.ReadInputFile(f.VICAL)
		if err != nil {
			return err
		}
		v, err := ParseVICAL(data, VICALOptions{Anchors: anchors, Now: opts.Now})
		if err != nil {
			return fmt.Errorf("--vical: %w", err)
		}
		opts.Trust = v.TrustStore("", opts.Now)
	}
	for _, name := range f.Trust {
		certs, err := readCerts("--trust", name)
		if err != nil {
			return err
		}
		opts.Trust.Add(certs...)
	}
	if f.ReaderKey != "" {
		data, err := os.ReadFile(f.ReaderKey)
		if err != nil {
			return err
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
func (f VerifyFiles) revocation(now time.Time) (verify.Revocation, error) {
	mode := f.Status
	if mode == "" {
		mode = "off"
		if len(f.StatusLists)+len(f.CRLs) > 0 {
			mode = "offline"
		}
	}
	switch mode {
	case "off":
		if len(f.StatusLists)+len(f.CRLs) > 0 {
			return nil, fmt.Errorf("--status off with --status-list or --crl")
		}
		return nil, nil
	case "online", "offline":
	default:
		return nil, fmt.Errorf("--status %q: want online, offline or off", mode)
	}
	c := &StatusClient{Offline: mode == "offline", Now: func() time.Time { return now }}
	var lists, crls []OfflineFile
	for _, name := range f.StatusLists {
		b, err := messages.ReadInputFile(name)
		if err != nil {
			return nil, fmt.Errorf("--status-list: %w", err)
		}
		lists = append(lists, OfflineFile{Name: name, Data: b})
	}
	const maxCRL = DefaultStatusMaxBody * 4
	for _, name := range f.CRLs {
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
