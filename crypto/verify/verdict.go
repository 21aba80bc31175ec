package verify

import "fmt"

// Kind says what a failed check means for the verdict.
type Kind int

const (
	// Authenticity checks protect what the verifier relies on: signatures, MAC, digests,
	// chain to a trust anchor, validity times, docType match, transcript binding.
	Authenticity Kind = iota
	// Conformance checks report deviations from the certificate profile or the encoding
	// rules that real wallets show; they are warnings unless the policy is strict.
	Conformance
)

// Check is the outcome of one verification step.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
	// Severity is "error" or "warning" for a failed check, empty when it passed.
	Severity string `json:"severity,omitempty"`
	Kind     Kind   `json:"-"`
}

// Policy decides which failed checks make a document invalid.
type Policy struct {
	// Strict makes conformance deviations fail the document too.
	Strict bool
}

// Fatal reports whether a failed check invalidates the document under p.
func (p Policy) Fatal(c Check) bool {
	return !c.OK && (c.Kind == Authenticity || p.Strict)
}

// checks accumulates the checks of one document.
type checks struct {
	list []Check
}

// checksReserve is room for the checks of a whole document (18 for a valid mDL with
// deviceMac and issuing_country under an IACA), reserved at the first one.
const checksReserve = 20

func (c *checks) add(ch Check) {
	if c.list == nil {
		c.list = make([]Check, 0, checksReserve)
	}
	c.list = append(c.list, ch)
}

func (c *checks) pass(name string) {
	c.add(Check{Name: name, OK: true})
}

func (c *checks) fail(name string, format string, args ...any) {
	c.add(Check{Name: name, Reason: fmt.Sprintf(format, args...), Kind: Authenticity})
}

func (c *checks) warn(name string, format string, args ...any) {
	c.add(Check{Name: name, Reason: fmt.Sprintf(format, args...), Kind: Conformance})
}

// budgetExhausted records that b did not cover the next step, what.
func (c *checks) budgetExhausted(b *budget, what string) {
	c.fail(CheckCryptoBudget, "crypto budget of %d exhausted before %s (%d spent): verification stopped", b.limit, what, b.spent)
}

// result records an authenticity check from an error.
func (c *checks) result(name string, err error) bool {
	if err != nil {
		c.fail(name, "%v", err)
		return false
	}
	c.pass(name)
	return true
}

// DocumentResult is the verdict on one document.
type DocumentResult struct {
	DocType string  `json:"docType"`
	Valid   bool    `json:"valid"`
	Checks  []Check `json:"checks"`
	// Elements holds the disclosed elements whose authenticity was established:
	// name space → element identifier → value (JSON-friendly: byte strings base64,
	// dates as strings). Issuer-signed elements with a bad digest are left out.
	Elements map[string]map[string]any `json:"elements"`
	// Raw element values as received (CBOR), same keys as Elements.
	RawElements map[string]map[string][]byte `json:"-"`
}

// Failed returns the checks that failed, fatal or not.
func (d *DocumentResult) Failed() []Check {
	var out []Check
	for _, c := range d.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Check returns the named check.
func (d *DocumentResult) Check(name string) (Check, bool) {
	for _, c := range d.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// Result is the verdict on a whole DeviceResponse.
type Result struct {
	Valid     bool             `json:"valid"`
	Status    uint64           `json:"status"`
	Documents []DocumentResult `json:"documents"`
	Errors    []string         `json:"errors"`
	// Checks are the checks on the response as a whole: the documents against the
	// request (CheckUnrequestedDocument, CheckRepeatedDocType) and the crypto budget.
	Checks []Check `json:"checks,omitempty"`
	// CryptoCost is what the verification spent on signatures and key agreements, in
	// keys.Cost units (one P-256 verification each).
	CryptoCost int `json:"crypto_cost"`
}

// Check returns the named response-level check.
func (r *Result) Check(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// Refused returns the first failed response-level check: the response was refused as
// a whole (documents not requested or repeated, before any signature was verified; the
// crypto budget exhausted, verification stopped).
func (r *Result) Refused() (Check, bool) {
	for _, c := range r.Checks {
		if !c.OK {
			return c, true
		}
	}
	return Check{}, false
}

// FailedOnly reports whether the response is not valid because of fatal failures of
// the named check alone: documents there, no response-level failure or error, and every
// fatal document check of that name (a verifier then knows, say, that only mdoc
// authentication failed: the transcript is what may differ).
func (r *Result) FailedOnly(name string) bool {
	if r.Valid || len(r.Documents) == 0 || len(r.Errors) > 0 {
		return false
	}
	if _, refused := r.Refused(); refused {
		return false
	}
	failed := false
	for _, d := range r.Documents {
		for _, c := range d.Checks {
			if !c.OK && c.Severity == "error" {
				if c.Name != name {
					return false
				}
				failed = true
			}
		}
	}
	return failed
}

// finish applies the policy to the document's checks.
func (d *DocumentResult) finish(p Policy) {
	d.Valid = true
	for i := range d.Checks {
		c := &d.Checks[i]
		if c.OK {
			continue
		}
		if p.Fatal(*c) {
			c.Severity = "error"
			d.Valid = false
		} else {
			c.Severity = "warning"
		}
	}
}
