package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// WriteText prints the verdict for a person (`mdocgate verify --format text`, `demo
// --single`): the verdict and status, the response's errors and crypto cost, then per
// document its checks (ok, FAIL, or warn for a warning) and its elements by name space
// and identifier, each value as JSON cut to 72 characters.
func (r *Result) WriteText(w io.Writer) {
	verdict := "NOT VALID"
	if r.Valid {
		verdict = "VALID"
	}
	fmt.Fprintf(w, "%s (status %d)\n", verdict, r.Status)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	fmt.Fprintf(w, "  crypto cost: %d\n", r.CryptoCost)
	for _, d := range r.Documents {
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
