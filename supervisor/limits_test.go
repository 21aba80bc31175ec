package supervisor

import (
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
)

// A lane's message limit refuses a response larger than it as its frames arrive: the
// session ends with message_too_large instead of decrypting, decoding and verifying it.
// The same response under the default limit is accepted.
func TestLaneMessageLimit(t *testing.T) {
	for _, c := range []struct {
		limit   int
		outcome readersession.Outcome
		reason  string
	}{{0, readersession.Accepted, ""}, {1024, readersession.Error, actors.ReasonMessageTooLarge}} {
		eng, l, w := engineWith(t, &actors.LaneConfig{Name: "sized", Sessions: actors.SessionSettings{
			EngagementTimeout: 5 * time.Second, InactivityTimeout: 5 * time.Second, MaxMessageSize: c.limit}})
		col := collect(eng)
		spawnHolder(eng, l, w, holdersession.Honest, nil)
		v := col.next(t)
		if v.Outcome != c.outcome || v.Reason != c.reason {
			t.Fatalf("limit %d: verdict %s (%s) %s, want %s (%s)", c.limit, v.Outcome, v.Reason, v.Detail, c.outcome, c.reason)
		}
		if c.limit > 0 && v.Result != nil {
			t.Fatal("a response over the limit was verified")
		}
		shutdown(t, eng)
	}
}
