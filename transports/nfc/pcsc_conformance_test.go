package nfc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/transports/nfc/apdu"
)

// NFC data transfer through pcscd and vpcd, checked on the APDUs the virtual card
// receives: the extended-length modes of the lane (auto probing, with a phone that can and
// one that cannot take extended APDUs; off: short APDUs, chaining and GET RESPONSE) and
// the response the phone withholds while its holder thinks (no ENVELOPE without data, one
// last ENVELOPE per reader message).
func TestPCSCDataTransferConformance(t *testing.T) {
	slot := pcscSlots(t, 1)[0]
	small, big := newFixture(t, 0), newFixture(t, 20*1024)
	for _, tc := range []struct {
		name     string
		fx       *fixture
		mode     ExtendedMode
		card     CardConfig
		think    time.Duration
		extended bool // data retrieval in extended-length APDUs
		probes   int  // extended-length SELECTs of the mdoc application
	}{
		{"auto, a phone taking extended APDUs", small, ExtendedAuto, CardConfig{}, 0, true, 1},
		{"auto, a phone refusing them: short APDUs", big, ExtendedAuto, CardConfig{NoExtended: true}, 0, false, 1},
		{"off: short APDUs, chaining and GET RESPONSE", big, ExtendedOff, CardConfig{}, 0, false, 0},
		{"on: no probe", small, ExtendedOn, CardConfig{}, 0, true, 0},
		{"a holder thinking 600 ms: the response is withheld", small, ExtendedAuto, CardConfig{}, 600 * time.Millisecond, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var log traceLog
			lane, err := OpenLane(ctx, slot, ReaderOptions{Extended: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			defer lane.Close()
			verdict := make(chan *readersession.Verdict, 1)
			go func() {
				a, err := lane.Accept(ctx)
				if err != nil {
					verdict <- &readersession.Verdict{Outcome: "accept failed", Detail: err.Error()}
					return
				}
				verdict <- runReader(ctx, tc.fx.reader, a)
			}()
			hs := tc.fx.holder(t)
			cfg := tc.card
			cfg.DeviceEngagement, cfg.Trace = hs.DeviceEngagement(), log.add
			card, vc, err := pcscHolder(ctx, slot, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := runHolder(ctx, hs, &slowConn{HandoverConn: card.Conn(), think: tc.think}); err != nil {
				t.Fatal(err)
			}
			<-vc.Done()
			if v := <-verdict; v.Outcome != readersession.Accepted {
				t.Fatalf("verdict %+v", v)
			}
			var probes, lastEnvelopes, getResponses int
			var held time.Duration
			var cmdAt time.Time
			data := false
			for _, e := range log.take() {
				if e.What == TraceResponse && e.INS == apdu.INSEnvelope && !cmdAt.IsZero() && held == 0 {
					held = e.At.Sub(cmdAt) // the first message's answer
				}
				if e.What != TraceCommand {
					continue
				}
				c, err := apdu.ParseCommand(e.APDU)
				if err != nil {
					t.Fatalf("command %X: %v", e.APDU, err)
				}
				switch {
				case c.INS == apdu.INSSelect && c.P1 == 4 && string(c.Data) == string(apdu.MdocAID):
					if c.Extended {
						probes++
					}
					data = true
				case c.INS == apdu.INSEnvelope:
					if len(c.Data) == 0 {
						t.Fatalf("an ENVELOPE without data: %X", e.APDU)
					}
					if c.Extended != tc.extended {
						t.Fatalf("ENVELOPE %X: extended %v, want %v", e.APDU[:min(len(e.APDU), 8)], c.Extended, tc.extended)
					}
					if !c.Chained() {
						if c.Ne == 0 {
							t.Fatalf("last ENVELOPE without Le: %X", e.APDU[:8])
						}
						lastEnvelopes++
						if cmdAt.IsZero() {
							cmdAt = e.At
						}
					}
				case c.INS == apdu.INSGetResp:
					getResponses++
					if c.Extended != tc.extended {
						t.Fatalf("GET RESPONSE %X: extended %v, want %v", e.APDU, c.Extended, tc.extended)
					}
				case data:
					t.Fatalf("unexpected command %X", e.APDU)
				}
			}
			// the reader sends two messages: SessionEstablishment and the termination
			if probes != tc.probes || lastEnvelopes != 2 || (tc.fx == big && getResponses == 0) || held < tc.think {
				t.Fatalf("probes %d (want %d), last ENVELOPEs %d, GET RESPONSEs %d, first answer after %v (holder thinks %v)",
					probes, tc.probes, lastEnvelopes, getResponses, held, tc.think)
			}
			t.Logf("%d GET RESPONSE, first answer after %v", getResponses, held)
		})
	}
}

// slowConn is a holder that thinks before each answer.
type slowConn struct {
	HandoverConn
	think time.Duration
}

func (s *slowConn) WriteFrame(ctx context.Context, msg []byte) error {
	select {
	case <-time.After(s.think):
	case <-ctx.Done():
		return fmt.Errorf("thinking: %w", ctx.Err())
	}
	return s.HandoverConn.WriteFrame(ctx, msg)
}
