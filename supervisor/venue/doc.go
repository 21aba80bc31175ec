// Package venue is what the gates of one venue share over NATS JetStream: anti-passback
// (a credential admitted at one gate is not admitted again at any gate within a window),
// a deny list every gate keeps in memory, and the fleet view (each gate's counts per lane
// and zone). A gate may also run one server of the venue's JetStream cluster in its own
// process (StartServer).
//
// Anti-passback rests on one replicated create-if-absent per admission: the key names
// the credential (a hash, never element values), the bucket's TTL is the window, and
// the value names the gate and the presentation, so that a gate retrying after a lost
// reply recognises its own write and gets the same answer. Every call is bounded in
// time: a per-attempt timeout, retries, then ErrUnavailable, on which the gate applies
// its partition policy.
//
// Buckets (R replicas each, named after the venue):
//
//	mdocgate-NAME-admissions  credential key → "gate|presentation"   TTL = window
//	mdocgate-NAME-deny        credential key → JSON DenyEntry         no TTL
//	mdocgate-NAME-fleet       gate name      → JSON GateCounts        TTL = FleetTTL
package venue
