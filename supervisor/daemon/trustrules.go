package daemon

import (
	"fmt"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
)

// TrustRules are the trust decisions beyond the anchors themselves: which docTypes
// further IACA folders are trusted for, whether profile and encoding deviations are
// fatal, the clock skew tolerated and the verification work one response may cost.
// They sit inline in the trust section (trust.iaca_folders, trust.strict, …).
type TrustRules struct {
	// IACAFolders are IACA folders besides iaca_dir, each trusted for its docTypes
	// only (none listed: every docType). A VICAL scopes its own entries.
	IACAFolders []IACAFolder `yaml:"iaca_folders"`
	// Strict makes certificate-profile and encoding deviations (warnings by default)
	// reject the credential.
	Strict bool `yaml:"strict"`
	// ClockSkew relaxes the not-yet-valid checks (validFrom, signed, certificate
	// notBefore), never expiry; nil means verify.DefaultClockSkew (60 s), 0 none.
	ClockSkew *time.Duration `yaml:"clock_skew"`
	// CryptoBudget bounds the signature verifications and key agreements one response
	// may cost, in P-256 verifications; 0 means verify.DefaultCryptoBudget (256), -1 no
	// limit. A response past it ends its session with an error verdict.
	CryptoBudget int `yaml:"crypto_budget"`
}

// IACAFolder is a folder of IACA certificates and the docTypes they are trusted for.
type IACAFolder struct {
	Dir      string   `yaml:"dir"`
	DocTypes []string `yaml:"doc_types"`
}

// validate checks the rules; field names are relative to the trust section.
func (r *TrustRules) validate() error {
	for i, f := range r.IACAFolders {
		if f.Dir == "" {
			return bad(fmt.Sprintf("iaca_folders[%d].dir", i), "missing")
		}
		for j, d := range f.DocTypes {
			if d == "" {
				return bad(fmt.Sprintf("iaca_folders[%d].doc_types[%d]", i, j), "empty docType")
			}
		}
	}
	switch {
	case r.ClockSkew != nil && *r.ClockSkew < 0:
		return bad("clock_skew", "must not be negative")
	case r.CryptoBudget < -1:
		return bad("crypto_budget", "must be positive, 0 for the default or -1 for no limit")
	}
	return nil
}

// addFolders loads the scoped IACA folders into store.
func (r *TrustRules) addFolders(store *trust.Store, now time.Time, path func(string) string) error {
	for i, f := range r.IACAFolders {
		if _, err := store.AddDir(path(f.Dir), f.DocTypes, now); err != nil {
			return &fieldError{fmt.Sprintf("trust.iaca_folders[%d]", i), err}
		}
	}
	return nil
}

// apply puts the rules into a lane's reader configuration.
func (r *TrustRules) apply(rc *readersession.Config) {
	rc.Policy = verify.Policy{Strict: r.Strict}
	rc.CryptoBudget = r.CryptoBudget
	switch {
	case r.ClockSkew == nil:
		rc.ClockSkew = verify.DefaultClockSkew
	case *r.ClockSkew == 0:
		rc.ClockSkew = -1 // none
	default:
		rc.ClockSkew = *r.ClockSkew
	}
}
