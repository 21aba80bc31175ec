package verify

import "testing"

func TestFailedOnly(t *testing.T) {
	fail := func(name string) Check { return Check{Name: name, Reason: "x", Severity: "error"} }
	warn := Check{Name: CheckIssuerAuthProfile, Severity: "warning"}
	doc := func(checks ...Check) DocumentResult { return DocumentResult{Checks: checks} }
	for name, c := range map[string]struct {
		r    Result
		want bool
	}{
		"signature only":      {Result{Documents: []DocumentResult{doc(warn, fail(CheckDeviceSignature))}}, true},
		"two docs, signature": {Result{Documents: []DocumentResult{doc(), doc(fail(CheckDeviceSignature))}}, true},
		"and the chain":       {Result{Documents: []DocumentResult{doc(fail(CheckIssuerAuthChain), fail(CheckDeviceSignature))}}, false},
		"another check":       {Result{Documents: []DocumentResult{doc(fail(CheckValueDigests))}}, false},
		"valid":               {Result{Valid: true, Documents: []DocumentResult{doc()}}, false},
		"no document":         {Result{}, false},
		"an error":            {Result{Errors: []string{"status 10"}, Documents: []DocumentResult{doc(fail(CheckDeviceSignature))}}, false},
		"refused":             {Result{Checks: []Check{fail(CheckUnrequestedDocument)}, Documents: []DocumentResult{doc(fail(CheckDeviceSignature))}}, false},
		"nothing failed":      {Result{Documents: []DocumentResult{doc(warn)}}, false},
	} {
		if got := c.r.FailedOnly(CheckDeviceSignature); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}
