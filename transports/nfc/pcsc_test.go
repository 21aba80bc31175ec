package nfc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/internal/testpcsc"
	"github.com/mdocgate/mdocgate/transports"
)

// pcscSlots returns the vpcd slots, skipping the test only when pcscd is absent and the
// test does not run as root (CI runs as root after .ci/pcscd.sh: there it must work).
func pcscSlots(t testing.TB, n int) []Slot {
	t.Helper()
	testpcsc.Lock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	slots, err := VPCDSlots(ctx)
	if err != nil {
		if os.Geteuid() != 0 && errors.Is(err, ErrPCSCMissing) {
			t.Skipf("PC/SC test skipped: not root and %v (run .ci/pcscd.sh as root)", err)
		}
		t.Fatalf("pcscd with vpcd is required (run .ci/pcscd.sh): %v", err)
	}
	if len(slots) < n {
		t.Fatalf("%d vpcd slots, need %d", len(slots), n)
	}
	return slots[:n]
}

// pcscHolder puts a holder's card into slot and returns it once the reader engaged it.
func pcscHolder(ctx context.Context, slot Slot, cfg CardConfig) (*Card, *VirtualCard, error) {
	card, err := NewCard(cfg)
	if err != nil {
		return nil, nil, err
	}
	vc, err := DialVirtualCard(ctx, fmt.Sprintf("127.0.0.1:%d", slot.Port), card)
	if err != nil {
		return nil, nil, err
	}
	select {
	case <-card.Engaged():
		return card, vc, nil
	case <-vc.Done():
		return nil, nil, fmt.Errorf("card left before engagement: %v", vc.Err())
	case <-ctx.Done():
		vc.Remove()
		<-vc.Done()
		return nil, nil, ctx.Err()
	}
}

func TestPCSCSessions(t *testing.T) {
	slots := pcscSlots(t, 4)
	f := newFixture(t, 0)
	big := newFixture(t, 60*1024)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	defer func() {
		for len(errs) > 0 {
			t.Error(<-errs)
		}
	}()
	for i, s := range slots {
		lane, err := OpenLane(ctx, s, ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer lane.Close()
		wg.Add(1)
		go func() { // the reader of the lane: three sessions, the second with a 60 KB response
			defer wg.Done()
			for k := 0; k < 3; k++ {
				fx := f
				if k == 1 {
					fx = big
				}
				a, err := lane.Accept(ctx)
				if err != nil {
					errs <- fmt.Errorf("lane %d accept: %w", i, err)
					return
				}
				start := time.Now()
				v := runReader(ctx, fx.reader, a)
				if v.Outcome != readersession.Accepted {
					errs <- fmt.Errorf("lane %d session %d: %+v", i, k, v)
				}
				t.Logf("lane %d session %d: %v in %v", i, k, v.Outcome, time.Since(start))
			}
		}()
		wg.Add(1)
		go func() { // the holders queueing at the lane
			defer wg.Done()
			for k := 0; k < 3; k++ {
				fx := f
				if k == 1 {
					fx = big
				}
				hs := fx.holder(t)
				card, vc, err := pcscHolder(ctx, s, CardConfig{DeviceEngagement: hs.DeviceEngagement(), Negotiated: (i+k)%2 == 1})
				if err != nil {
					errs <- fmt.Errorf("lane %d holder %d: %w", i, k, err)
					return
				}
				t.Logf("lane %d holder %d engaged", i, k)
				if err := runHolder(ctx, hs, card.Conn()); err != nil {
					errs <- fmt.Errorf("lane %d holder %d: %w", i, k, err)
				}
				<-vc.Done()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPCSCCardPulled(t *testing.T) {
	slot := pcscSlots(t, 1)[0]
	f := newFixture(t, 60*1024)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lane, err := OpenLane(ctx, slot, ReaderOptions{MaxCommand: 255, MaxResponse: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer lane.Close()
	verdicts := make(chan *readersession.Verdict, 2)
	go func() {
		for k := 0; k < 2; k++ {
			a, err := lane.Accept(ctx)
			if err != nil {
				verdicts <- &readersession.Verdict{Outcome: "accept failed", Detail: err.Error()}
				return
			}
			verdicts <- runReader(ctx, f.reader, a)
		}
	}()
	// first holder: pulled while the reader fetches its 60 KB response in short APDUs
	hs := f.holder(t)
	card, vc, err := pcscHolder(ctx, slot, CardConfig{DeviceEngagement: hs.DeviceEngagement()})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(5 * time.Millisecond)
		for !pendingResponse(card) {
			time.Sleep(time.Millisecond)
		}
		vc.Remove()
	}()
	herr := runHolder(ctx, hs, card.Conn())
	<-vc.Done()
	v := <-verdicts
	if v.Outcome != readersession.Error {
		t.Fatalf("pulled card: verdict %+v", v)
	}
	t.Logf("pulled card: reader %s (%s); holder %v", v.Outcome, v.Detail, herr)
	if !errors.Is(herr, transports.ErrClosed) && herr != nil {
		t.Logf("holder ended with %v", herr)
	}
	// the lane serves the next holder
	hs2 := f.holder(t)
	card2, vc2, err := pcscHolder(ctx, slot, CardConfig{DeviceEngagement: hs2.DeviceEngagement()})
	if err != nil {
		t.Fatal(err)
	}
	if err := runHolder(ctx, hs2, card2.Conn()); err != nil {
		t.Fatal(err)
	}
	<-vc2.Done()
	if v := <-verdicts; v.Outcome != readersession.Accepted {
		t.Fatalf("next holder: %+v", v)
	}
}

func pendingResponse(c *Card) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applet.Pending()
}
