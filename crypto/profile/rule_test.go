package profile

import (
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/messages"
)

func enc(t testing.TB, v any) []byte {
	t.Helper()
	b, err := messages.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRuleEval(t *testing.T) {
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	env := map[string][]byte{
		"age_over_18":   enc(t, true),
		"age_over_21":   enc(t, false),
		"age_in_years":  enc(t, uint64(19)),
		"family_name":   enc(t, "O\"Brien"),
		"expiry_date":   enc(t, messages.FullDate{Year: 2026, Month: 3, Day: 15}),
		"birth_date":    enc(t, messages.FullDate{Year: 2007, Month: 3, Day: 15}),
		"issue_date":    enc(t, messages.NewTDate(now.Add(-time.Hour))),
		"untagged_date": enc(t, "2030-01-01"),
		"portrait":      enc(t, []byte{1, 2, 3}),
		"big":           enc(t, uint64(1<<63)),
	}
	lookup := func(id string) ([]byte, bool) { b, ok := env[id]; return b, ok }
	for _, tc := range []struct {
		rule string
		want bool
		err  string
	}{
		{"age_over_18 == true", true, ""},
		{"age_over_18", true, ""},
		{"age_over_21", false, ""},
		{"not age_over_21", true, ""},
		{"!age_over_21 && age_over_18", true, ""},
		{"age_over_21 or age_over_18", true, ""},
		{"age_over_21 || age_in_years >= 18", true, ""},
		{"age_in_years > 19", false, ""},
		{"age_in_years != 19", false, ""},
		{`family_name == "O\"Brien"`, true, ""},
		{`family_name < "P"`, true, ""},
		{"expiry_date >= today", true, ""},
		{"expiry_date > today", false, ""},
		{"birth_date <= years_ago(19)", true, ""},
		{"birth_date <= years_ago(20)", false, ""},
		{"issue_date < today", false, ""}, // same calendar day
		{"issue_date >= days_ago(1)", true, ""},
		{`expiry_date == date("2026-03-15")`, true, ""},
		{"untagged_date > today", true, ""},
		{"present(age_over_65)", false, ""},
		{"present(age_over_65) and age_over_65", false, ""}, // short circuit
		{"age_over_18 or age_over_65", true, ""},            // short circuit
		{"(age_over_18 and (age_in_years >= 18 or age_over_21))", true, ""},
		{"age_over_65 == true", false, "age_over_65 was not disclosed"},
		{"not age_over_65", false, "was not disclosed"},
		{"age_over_18 == 1", false, "cannot compare bool with integer"},
		{`family_name > 3`, false, "cannot compare text with integer"},
		{"age_over_18 < false", false, "only support =="},
		{"portrait == true", false, "major type 2"},
		{"big > 1", false, "out of range"},
	} {
		r, err := ParseRule(tc.rule)
		if err != nil {
			t.Fatalf("%s: %v", tc.rule, err)
		}
		got, err := r.Eval(lookup, now)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.rule, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s = %v, %v; want %v", tc.rule, got, err, tc.want)
		}
		// the canonical form parses to the same rule
		r2, err := ParseRule(r.String())
		if err != nil || r2.String() != r.String() {
			t.Errorf("%s: canonical %q does not round-trip: %v", tc.rule, r.String(), err)
		}
	}
}

func TestRuleParseErrors(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{"", "unexpected end of rule"},
		{"age_over_18 ==", "unexpected end of rule"},
		{"a == b == c", "cannot be chained"},
		{"(a", `expected ")"`},
		{"a b", `unexpected "b"`},
		{"exec(a)", `unknown function "exec"`},
		{"present(1)", "takes an element identifier"},
		{`date("2026-13-01") < today`, "date()"},
		{"years_ago(a) < today", "integer literal"},
		{`"unterminated`, "unterminated string"},
		{`"\n"`, "escapes"},
		{"a = b", "unexpected character"},
		{"1", "must be a condition"},
		{"today", "must be a condition"},
		{"a == 12345678901234567890", "more than 18 digits"},
		{"12abc", "malformed number"},
		{strings.Repeat("(", 100) + "a" + strings.Repeat(")", 100), "nested deeper"},
		{strings.Repeat("not ", 100) + "a", "nested deeper"},
		{strings.Repeat("a and ", 1000) + "a", "longer than"},
		{"a and", "unexpected end"},
		{"and", `unexpected "and"`},
		{"\xff", "UTF-8"},
	} {
		_, err := ParseRule(tc.rule)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40q: error %v, want %q", tc.rule, err, tc.want)
		}
	}
	if got := MustParseRule("a and b or c").String(); got != "((a and b) or c)" {
		t.Fatalf("precedence: %s", got)
	}
	if got := MustParseRule("a or not b and c").Elements(); strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("elements %v", got)
	}
}

// FuzzParseRule: parsing never panics; an accepted rule's canonical form parses to the
// same rule; evaluation never panics, whatever the elements hold.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		"age_over_18 == true", "expiry_date > today and not (a or b)", `x == "a\"b"`,
		"present(x) && x >= years_ago(18)", `d == date("2020-02-29")`, "a != 3 || !b",
		"!!!!!0", strings.Repeat("not ", 31) + "a", strings.Repeat("a or ", 500) + "a",
	} {
		f.Add(s, []byte{0xf5})
	}
	f.Fuzz(func(t *testing.T, src string, raw []byte) {
		r, err := ParseRule(src)
		if err != nil {
			return
		}
		r2, err := ParseRule(r.String())
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", r.String(), src, err)
		}
		if r2.String() != r.String() {
			t.Fatalf("canonical form unstable: %q vs %q", r.String(), r2.String())
		}
		v, err := r.Eval(func(string) ([]byte, bool) { return raw, true }, time.Now())
		if err != nil && v {
			t.Fatal("true with an error")
		}
	})
}
