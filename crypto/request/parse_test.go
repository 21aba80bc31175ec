package request

import "testing"

func TestParseElements(t *testing.T) {
	doc, err := ParseElements("d", "a:x, a:y,b.c:z")
	if err != nil || doc.DocType != "d" || len(doc.NameSpaces) != 2 || len(doc.NameSpaces[0].Elements) != 2 {
		t.Fatalf("ParseElements: %+v %v", doc, err)
	}
	if ns := doc.NameSpaces[1]; ns.Name != "b.c" || len(ns.Elements) != 1 || ns.Elements[0] != "z" {
		t.Fatalf("second name space %+v", ns)
	}
	if doc, err := ParseElements("d", "urn:x:ns:el"); err != nil || doc.NameSpaces[0].Name != "urn:x:ns" {
		t.Fatalf("colons in the name space: %+v %v", doc, err)
	}
	for _, bad := range []string{"", " , ", "nocolon", ":el", "ns:"} {
		if _, err := ParseElements("d", bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
