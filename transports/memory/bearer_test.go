package memory

import (
	"testing"

	"github.com/mdocgate/mdocgate/transports"
)

// The memory bearer takes its frame size from memory-frame and leaves other bearers'
// options alone.
func TestBearerFrameOption(t *testing.T) {
	b, err := OpenBearer(transports.BearerOptions{"memory-frame": "4096", "ble-mode": "central"})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.(*bearer).link.MaxFrame; got != 4096 {
		t.Fatalf("frame %d", got)
	}
	for _, bad := range []string{"1", "x", "99999999"} {
		if _, err := OpenBearer(transports.BearerOptions{"memory-frame": bad}); err == nil {
			t.Errorf("memory-frame=%s accepted", bad)
		}
	}
}
