package load

import (
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
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

// The reader floor runs real sessions' crypto (a deviceMac or signature that does not
// verify fails it), disclosed picks the items whose digests are checked, and the reader's
// share costs less than both sides' floor.
func TestMeasureReaderFloor(t *testing.T) {
	w, err := newWorld()
	if err != nil {
		t.Fatal(err)
	}
	cred := w.valid[0]
	parts, err := newCredentialParts(cred, []string{"family_name", "portrait", "no_such_element"})
	if err != nil || len(parts.items) != 2 {
		t.Fatalf("disclosed items: %v %d", err, len(parts.items))
	}
	per, err := MeasureReaderFloor(cred, profileElements("mdl"), 40)
	if err != nil || per <= 0 {
		t.Fatalf("reader floor %v %v", per, err)
	}
	f, err := newFloorSession(w)
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread() // threadCPU
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	for i := 0; i < 40; i++ {
		if err := f.run(i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	if both := (threadCPU() - t0) / 40; per >= both { // both sides do about 2.5 times the reader's work
		t.Errorf("reader's share %v, both sides %v", per, both)
	}
	if _, err := MeasureReaderFloor(cred, nil, 0); err == nil {
		t.Error("0 sessions accepted")
	}
	noKey := *cred
	noKey.DevicePrivateKey = nil
	if _, err := MeasureReaderFloor(&noKey, nil, 1); err == nil {
		t.Error("a credential without its device key accepted")
	}
	// a deviceMac that does not verify fails the floor
	rf := &readerFloor{cred: parts, transcript: f.transcript, request: f.request, response: f.response, macInput: f.macInput}
	dev, _ := keys.Generate(messages.CurveP256, nil)
	p := floorPeer{dev: dev, mac: true}
	if err := rf.readerRequest(&p); err != nil {
		t.Fatal(err)
	}
	if err := rf.holder(&p); err != nil {
		t.Fatal(err)
	}
	p.tag[0] ^= 1
	if err := rf.readerResponse(&p); err == nil {
		t.Error("a wrong deviceMac verified")
	}
}
