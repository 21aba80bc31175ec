package venue_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/supervisor/venue"
)

// Deny adds, lists and removes entries the gates then see, and answers with the line
// the deny command prints; a cluster of several venues needs the venue named.
func TestDenyCommand(t *testing.T) {
	c, gates := threeGates(t, venue.Options{})
	name := gates[0].Name()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := func(op, key string) string {
		t.Helper()
		out, err := venue.Deny(ctx, venue.DenyCommand{URLs: c.URLs, Name: name, Op: op, Key: key, Note: "lost"})
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		b, _ := json.Marshal(out)
		return string(b)
	}
	id := venue.DocumentNumberID("UT", "deny-cmd")
	k := venue.CredentialKey(id)
	if got, want := run("add", id), `{"added":"`+k+`","venue":"`+name+`"}`; got != want {
		t.Fatalf("add: %s, want %s", got, want)
	}
	waitFor(t, "the gates see the entry", func() bool { return gates[0].Denied(k) && gates[2].Denied(k) })
	if got := run("list", ""); !strings.HasPrefix(got, `{"deny":[{"key":"`+k+`","added":"`) || !strings.HasSuffix(got, `","note":"lost"}],"venue":"`+name+`"}`) {
		t.Fatalf("list: %s", got)
	}
	if got, want := run("remove", k), `{"removed":"`+k+`","venue":"`+name+`","was_listed":true}`; got != want {
		t.Fatalf("remove: %s, want %s", got, want)
	}
	if got, want := run("remove", k), `{"removed":"`+k+`","venue":"`+name+`","was_listed":false}`; got != want {
		t.Fatalf("remove again: %s, want %s", got, want)
	}
	if got, want := run("list", ""), `{"deny":[],"venue":"`+name+`"}`; got != want {
		t.Fatalf("empty list: %s, want %s", got, want)
	}
	waitFor(t, "the gates drop the entry", func() bool { return !gates[0].Denied(k) && !gates[2].Denied(k) })

	// the shared cluster holds the venues of other tests too
	connect(t, venue.Options{Name: "other_" + name, URLs: c.URLs[:1], Gate: "g"})
	if _, err := venue.Deny(ctx, venue.DenyCommand{URLs: c.URLs, Op: "list"}); err == nil || !strings.Contains(err.Error(), "several venues") {
		t.Fatalf("no venue named on a cluster of several: %v", err)
	}
	if _, err := venue.Deny(ctx, venue.DenyCommand{URLs: c.URLs, Name: name, Op: "clear"}); err == nil {
		t.Fatal("an unknown operation ran")
	}
}
