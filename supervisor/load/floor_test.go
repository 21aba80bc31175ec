package load

import (
	"math"
	"testing"
	"time"
)

// AddFloor reports the floor's rate and the run's ratio to it.
func TestAddFloor(t *testing.T) {
	r := &Report{SessionsPerSecond: 10}
	if err := r.AddFloor(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if r.FloorSessionsPerSecond <= 0 || math.Abs(r.FloorRatio*r.FloorSessionsPerSecond-10) > 1e-9 {
		t.Fatalf("floor %v ratio %v", r.FloorSessionsPerSecond, r.FloorRatio)
	}
}
