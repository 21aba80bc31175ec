// Package load drives simulated holders against reader lanes and reports what happened:
// in-process load runs on any bearer (Run), steady soak runs watching the process for
// growth (RunSoak), OpenID4VP runs (RunOID4VP), runs against a running gate over the
// network (RunTarget), one session with every check (RunSingle) and the floor a run's
// throughput is compared with (MeasureFloor). Every kind of run reports through one
// builder into one Report: counts by bearer, lane, holder behaviour and reason, latency
// percentiles and a latency histogram from one set of fixed buckets, and a time series
// from the first second. The engine it runs against is package supervisor's.
package load

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/mdocgate/mdocgate/actors/readersession"
)

// Behaviour is what a simulated holder does, and so which verdict the reader should reach.
type Behaviour string

// Simulated holder behaviours.
const (
	Valid     Behaviour = "valid"
	Slow      Behaviour = "slow"      // answers after a long think time: still accepted
	Tampered  Behaviour = "tampered"  // an element altered after issuance
	Expired   Behaviour = "expired"   // MSO validity over
	Untrusted Behaviour = "untrusted" // issued under an IACA the reader does not trust
	WrongKey  Behaviour = "wrong_key" // device authentication with a key not in the MSO
	Silent    Behaviour = "silent"    // never answers
	Dropping  Behaviour = "dropping"  // the link breaks mid-message
	Garbage   Behaviour = "garbage"   // answers with bytes that are not CBOR
)

// Expected is the verdict the reader must reach for a behaviour.
func (b Behaviour) Expected() readersession.Outcome {
	switch b {
	case Valid, Slow:
		return readersession.Accepted
	case Tampered, Expired, Untrusted, WrongKey:
		return readersession.Rejected
	case Silent:
		return readersession.Timeout
	default:
		return readersession.Error
	}
}

// Weighted is one behaviour of a mix.
type Weighted struct {
	Behaviour Behaviour
	Weight    float64
}

// DemoMix is the demo's mixed crowd.
var DemoMix = []Weighted{
	{Valid, 60}, {Slow, 8}, {Tampered, 6}, {Expired, 6}, {Untrusted, 6},
	{WrongKey, 4}, {Silent, 2}, {Dropping, 4}, {Garbage, 4},
}

// ParseMix reads "valid=60,tampered=5,...".
func ParseMix(s string) ([]Weighted, error) {
	var out []Weighted
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("mix entry %q: want behaviour=weight", part)
		}
		f, err := strconv.ParseFloat(w, 64)
		if err != nil || f < 0 {
			return nil, fmt.Errorf("mix entry %q: bad weight", part)
		}
		b := Behaviour(name)
		if _, ok := behaviourNames[b]; !ok {
			return nil, fmt.Errorf("mix entry %q: unknown behaviour", part)
		}
		out = append(out, Weighted{b, f})
	}
	return out, nil
}

var behaviourNames = map[Behaviour]bool{Valid: true, Slow: true, Tampered: true, Expired: true, Untrusted: true,
	WrongKey: true, Silent: true, Dropping: true, Garbage: true}

func pick(mix []Weighted, r *rand.Rand) Behaviour {
	if len(mix) == 0 {
		return Valid
	}
	total := 0.0
	for _, w := range mix {
		total += w.Weight
	}
	x := r.Float64() * total
	for _, w := range mix {
		if x < w.Weight {
			return w.Behaviour
		}
		x -= w.Weight
	}
	return mix[len(mix)-1].Behaviour
}
