package supervisor

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/memory"
)

// hostileAnswers are what a hostile holder sends instead of its SessionData.
func hostileAnswers() map[string][][]byte {
	frame := func(msg []byte) [][]byte {
		f, _ := transports.ChunkFramer{}.Fragment(msg, 512)
		return f
	}
	deep := append(bytes.Repeat([]byte{0x81}, 2000), 0x00)
	endless := make([][]byte, 0, 9000)
	for i := 0; i < 9000; i++ { // more than the 4 MiB message limit, never a last chunk
		endless = append(endless, append([]byte{0x01}, make([]byte, 511)...))
	}
	return map[string][][]byte{
		"huge declared length":   frame([]byte{0xa1, 0x64, 'd', 'a', 't', 'a', 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		"deep nesting":           frame(deep),
		"duplicate keys":         frame([]byte{0xa2, 0x64, 'd', 'a', 't', 'a', 0x41, 0x00, 0x64, 'd', 'a', 't', 'a', 0x41, 0x00}),
		"wrong type":             frame([]byte{0xa1, 0x64, 'd', 'a', 't', 'a', 0x05}),
		"tag 24 in tag 24":       frame([]byte{0xa1, 0x64, 'd', 'a', 't', 'a', 0xd8, 0x18, 0x45, 0xd8, 0x18, 0x42, 0xa0, 0x00}),
		"unterminated map":       frame([]byte{0xbf, 0x64, 'd', 'a', 't', 'a', 0x41, 0x00}),
		"invalid utf-8 key":      frame([]byte{0xa1, 0x64, 'd', 0xff, 't', 'a', 0x41, 0x00}),
		"non-minimal integer":    frame([]byte{0xa1, 0x66, 's', 't', 'a', 't', 'u', 's', 0x1b, 0, 0, 0, 0, 0, 0, 0, 20}),
		"status 10 only":         frame([]byte{0xa1, 0x66, 's', 't', 'a', 't', 'u', 's', 0x0a}),
		"bad chunk header":       {{0x07, 0xa0}},
		"empty frame":            {{}},
		"endless chunks":         endless,
		"ciphertext of garbage":  frame(append([]byte{0xa1, 0x64, 'd', 'a', 't', 'a', 0x58, 0x40}, make([]byte, 64)...)),
		"nothing but break byte": frame([]byte{0xff}),
	}
}

// Hostile holders each end in exactly one error verdict while honest holders at the
// same lane keep being served.
func TestHostileHoldersDoNotDisturbOthers(t *testing.T) {
	eng, l, w := engineWith(t, &actors.LaneConfig{Name: "hostile",
		Sessions: actors.SessionSettings{EngagementTimeout: 2 * time.Second, InactivityTimeout: 2 * time.Second}})
	c := collect(eng)
	answers := hostileAnswers()
	var wg sync.WaitGroup
	for name, frames := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := holdersession.New(&holdersession.Config{Credentials: w.valid[:1]})
			if err != nil {
				t.Error(err)
				return
			}
			conn, err := l.Engage(context.Background(), h.DeviceEngagement(), []byte{0xf6}, memory.LinkConfig{QueueLen: 64})
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := conn.ReadFrame(ctx); err != nil { // the SessionEstablishment
				t.Errorf("%s: %v", name, err)
				return
			}
			for _, f := range frames {
				if err := conn.WriteFrame(ctx, f); err != nil {
					return // the reader hung up: fine
				}
			}
			for { // drain until the reader closes
				if _, err := conn.ReadFrame(ctx); err != nil {
					return
				}
			}
		}()
	}
	honest := 20
	done := make(chan actors.HolderReport, honest)
	for i := 0; i < honest; i++ {
		spawnHolder(eng, l, w, holdersession.Honest, func(r actors.HolderReport) { done <- r })
	}
	wg.Wait()
	for i := 0; i < honest; i++ {
		<-done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	accepted, errs := 0, 0
	c.mu.Lock()
	for _, v := range c.byID {
		switch v.Outcome {
		case readersession.Accepted:
			accepted++
		case readersession.Error:
			errs++
		default:
			t.Errorf("unexpected verdict %s (%s: %s)", v.Outcome, v.Reason, v.Detail)
		}
	}
	dups := c.dups
	c.mu.Unlock()
	if accepted != honest || errs != len(answers) || dups != 0 {
		t.Fatalf("accepted %d/%d, errors %d/%d, duplicates %d", accepted, honest, errs, len(answers), dups)
	}
	shutdown(t, eng)
}
