package nfc

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
)

// traceLog collects the events of both sides.
type traceLog struct {
	mu     sync.Mutex
	events []TraceEvent
}

func (l *traceLog) add(e TraceEvent) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *traceLog) take() []TraceEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.events
	l.events = nil
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].At.Before(ev[j].At) })
	return ev
}

// sessionTimes is one session's time taken apart (see breakdown).
type sessionTimes struct {
	detect, connect, engageXfer, engageCard, engageReader, dataXfer, dataCard, holder, dataReader, teardown, total time.Duration
	apdus                                                                                                          int
}

// phases names the parts of a session, in order, with who they belong to.
var phases = []struct{ name, owner string }{
	{"detect", "pcscd polls vpcd for a card: card dialled → slot powered"},
	{"connect", "pcscd power-up and ATR, our Connect poll: powered → Connect returned"},
	{"engage-transfer", "pcscd + vpcd carrying the engagement APDUs"},
	{"engage-card", "our virtual card answering engagement APDUs"},
	{"engage-reader", "our reader between engagement APDUs"},
	{"data-transfer", "pcscd + vpcd carrying the data retrieval APDUs"},
	{"data-card", "our virtual card answering data APDUs (its holder's time excluded)"},
	{"holder", "the simulated holder (phone): response withheld while it builds its answer"},
	{"data-reader", "our reader between data APDUs (decryption, verification)"},
	{"teardown", "our close, SCardDisconnect and power-off, the card leaving, the next card dialling"},
}

func (s *sessionTimes) values() []time.Duration {
	return []time.Duration{s.detect, s.connect, s.engageXfer, s.engageCard, s.engageReader, s.dataXfer, s.dataCard, s.holder, s.dataReader, s.teardown}
}

// breakdown takes one session apart: its events from its card's dial up to next (the
// next card's dial). Each APDU exchange is split into the transfer through pcscd and
// vpcd (reader Transmit → card command, card response → Transmit returned) and the
// card's work; the time between exchanges is the reader's. An exchange the card never
// answered (it left: the end of the session) and everything after the last answered one
// is teardown.
func breakdown(ev []TraceEvent, next time.Time) (sessionTimes, error) {
	var s sessionTimes
	find := func(where, what string) (time.Time, bool) {
		for _, e := range ev {
			if e.Where == where && e.What == what {
				return e.At, true
			}
		}
		return time.Time{}, false
	}
	dial, ok1 := find(TraceCard, TraceDial)
	power, ok2 := find(TraceCard, TracePowerOn)
	conn, ok3 := find(TraceReader, TraceConnected)
	engaged, ok4 := find(TraceReader, TraceEngaged)
	if !(ok1 && ok2 && ok3 && ok4) {
		return s, fmt.Errorf("session events missing (dial %v power %v connected %v engaged %v)", ok1, ok2, ok3, ok4)
	}
	s.detect, s.connect, s.total = power.Sub(dial), conn.Sub(power), next.Sub(dial)
	prevEnd := conn
	var start, cmd, resp time.Time
	var ins byte
	var n int
	for _, e := range ev {
		switch {
		case e.Where == TraceReader && e.What == TraceTransmit:
			start, cmd, resp = e.At, time.Time{}, time.Time{}
		case e.Where == TraceCard && e.What == TraceCommand:
			cmd = e.At
		case e.Where == TraceCard && e.What == TraceResponse:
			resp, ins, n = e.At, e.INS, e.Bytes
		case e.Where == TraceReader && e.What == TraceTransmitted:
			if start.IsZero() || cmd.IsZero() || resp.IsZero() {
				continue // not answered: teardown
			}
			xfer, card, between := cmd.Sub(start)+e.At.Sub(resp), resp.Sub(cmd), start.Sub(prevEnd)
			switch {
			case e.At.Before(engaged) || e.At.Equal(engaged):
				s.engageXfer += xfer
				s.engageCard += card
				s.engageReader += between
			default:
				s.dataXfer += xfer
				s.dataReader += between
				if ins == 0xC3 && n > 2 { // the last ENVELOPE: withheld for the holder
					s.holder += card
				} else {
					s.dataCard += card
				}
			}
			prevEnd = e.At
			s.apdus++
		}
	}
	s.teardown = next.Sub(prevEnd)
	return s, nil
}

// sessions splits a run's events at each card's dial and takes every session but the
// last apart (the last has no next dial).
func sessions(ev []TraceEvent) ([]sessionTimes, error) {
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].At.Before(ev[j].At) })
	var dials []int
	for i, e := range ev {
		if e.Where == TraceCard && e.What == TraceDial {
			dials = append(dials, i)
		}
	}
	var out []sessionTimes
	for k := 0; k+1 < len(dials); k++ {
		s, err := breakdown(ev[dials[k]:dials[k+1]], ev[dials[k+1]].At)
		if err != nil {
			return nil, fmt.Errorf("session %d: %w", k, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// BenchmarkPCSCSession runs sessions one after the other through pcscd and vpcd on one
// reader slot (a queue of phones at one reader) and takes each session's time apart
// with the traces of both sides (see phases): what is pcscd's and vpcd's, what is ours.
//
//	flock /tmp/pcsc.lock go test -run '^$' -bench PCSCSession -benchtime 20x ./transports/nfc/
func BenchmarkPCSCSession(b *testing.B) {
	slot := pcscSlots(b, 1)[0]
	f := newFixture(b, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log traceLog
	lane, err := OpenLane(ctx, slot, ReaderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer lane.Close()
	lane.Trace = log.add
	verdicts := make(chan *readersession.Verdict, 1)
	b.ResetTimer()
	for i := 0; i < b.N+1; i++ { // one more: the last session's teardown ends at the next dial
		go func() {
			a, err := lane.Accept(ctx)
			if err != nil {
				verdicts <- &readersession.Verdict{Outcome: "accept failed", Detail: err.Error()}
				return
			}
			verdicts <- runReader(ctx, f.reader, a)
		}()
		hs := f.holder(b)
		card, vc, err := pcscHolder(ctx, slot, CardConfig{DeviceEngagement: hs.DeviceEngagement(), Trace: log.add})
		if err != nil {
			b.Fatal(err)
		}
		if err := runHolder(ctx, hs, card.Conn()); err != nil {
			b.Fatalf("holder %d: %v", i, err)
		}
		<-vc.Done()
		if v := <-verdicts; v.Outcome != readersession.Accepted {
			b.Fatalf("session %d: %+v", i, v)
		}
		if i == b.N-1 {
			b.StopTimer()
		}
	}
	all, err := sessions(log.take())
	if err != nil {
		b.Fatal(err)
	}
	report(b, all)
}

// report logs the mean of every phase, what share of the session it is and whose it
// is, and reports each as a metric.
func report(b *testing.B, all []sessionTimes) {
	if len(all) == 0 {
		return
	}
	sum := make([]time.Duration, len(phases))
	var total time.Duration
	apdus := 0
	for _, s := range all {
		for i, v := range s.values() {
			sum[i] += v
		}
		total += s.total
		apdus += s.apdus
	}
	n := time.Duration(len(all))
	var out strings.Builder
	fmt.Fprintf(&out, "%d sessions, %.1f APDUs each, %.1f ms per session:\n", len(all), float64(apdus)/float64(len(all)), ms(total/n))
	for i, p := range phases {
		fmt.Fprintf(&out, "  %-16s %8.2f ms %5.1f %%  %s\n", p.name, ms(sum[i]/n), 100*float64(sum[i])/float64(total), p.owner)
		b.ReportMetric(ms(sum[i]/n), p.name+"-ms")
	}
	b.ReportMetric(ms(total/n), "session-ms")
	b.Log(out.String())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
