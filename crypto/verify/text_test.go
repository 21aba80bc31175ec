package verify

import (
	"strings"
	"testing"
)

// WriteText prints the verdict, every check with its mark and reason, and the elements
// sorted, long values cut.
func TestResultWriteText(t *testing.T) {
	r := &Result{Status: 10, Errors: []string{"document 2: no IssuerSigned"}, CryptoCost: 3, Documents: []DocumentResult{{
		DocType: "org.iso.18013.5.1.mDL",
		Checks: []Check{{Name: "msoSignature", OK: true}, {Name: "dsProfile", Reason: "no key usage", Severity: "warning"},
			{Name: "deviceAuth", Reason: "bad MAC", Severity: "error"}, {Name: "bare"}},
		Elements: map[string]map[string]any{
			"org.iso.18013.5.1":       {"given_name": "Erika", "family_name": "Mustermann", "portrait": strings.Repeat("A", 100)},
			"org.iso.18013.5.1.aamva": {"sex": 2},
		},
	}}}
	want := `NOT VALID (status 10)
  error: document 2: no IssuerSigned
  crypto cost: 3

document org.iso.18013.5.1.mDL: not valid
  [ok  ] msoSignature
  [warn] dsProfile: no key usage
  [FAIL] deviceAuth: bad MAC
  [FAIL] bare
  org.iso.18013.5.1
    family_name                  "Mustermann"
    given_name                   "Erika"
    portrait                     "` + strings.Repeat("A", 68) + `...
  org.iso.18013.5.1.aamva
    sex                          2
`
	var b strings.Builder
	r.WriteText(&b)
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	(&Result{Valid: true, Documents: []DocumentResult{{DocType: "d", Valid: true}}}).WriteText(&b)
	if want := "VALID (status 0)\n  crypto cost: 0\n\ndocument d: valid\n"; b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}
