package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/memory"
)

// sendMsg fragments msg with the ChunkFramer and writes the frames.
func sendMsg(ctx context.Context, c transports.Conn, msg []byte) error {
	frames, err := transports.ChunkFramer{}.Fragment(msg, c.MaxFrameSize())
	if err != nil {
		return err
	}
	for _, f := range frames {
		if err := c.WriteFrame(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

func recvMsg(ctx context.Context, c transports.Conn, r transports.Reassembler) ([]byte, error) {
	for {
		f, err := c.ReadFrame(ctx)
		if err != nil {
			return nil, err
		}
		msg, err := r.Feed(f)
		if err != nil || msg != nil {
			return msg, err
		}
	}
}

// holderLoop is a simulated holder on the holder side of a memory link.
func holderLoop(ctx context.Context, h *holdersession.Session, c transports.Conn) error {
	defer c.Close()
	ra := transports.ChunkFramer{}.NewReassembler(messages.MaxMessageSize)
	for {
		msg, err := recvMsg(ctx, c, ra)
		if err != nil {
			return err
		}
		st := h.Receive(msg)
		if st.Send != nil {
			if err := sendMsg(ctx, c, st.Send); err != nil {
				return err
			}
		}
		if st.Done {
			return st.Err
		}
	}
}

// readerLoop drives a reader session over an arrival.
func readerLoop(ctx context.Context, r *readersession.Session, a *transports.Arrival) *readersession.Verdict {
	defer a.Conn.Close()
	ra := transports.ChunkFramer{}.NewReassembler(messages.MaxMessageSize)
	step := r.Start(a.DeviceEngagement, a.Handover)
	for {
		if step.Send != nil {
			if err := sendMsg(ctx, a.Conn, step.Send); err != nil && !step.Done {
				step = r.Fail(readersession.Error, "link", err.Error())
				continue
			}
		}
		if step.Verify != nil {
			step = r.Verified(step.Verify.Run())
			continue
		}
		if step.Done {
			v, _ := r.Verdict()
			return v
		}
		msg, err := recvMsg(ctx, a.Conn, ra)
		if err != nil {
			step = r.Fail(readersession.Error, "link", err.Error())
			continue
		}
		step = r.Receive(msg)
	}
}

// A whole 18013-5 session over the memory bearer: engagement through a Listener, chunked
// session messages on 64-byte frames, air time accounted.
func TestSessionOverMemoryBearer(t *testing.T) {
	p := testpki.New(t, testpki.Options{})
	cred := p.Issue(t, issuer.IssueRequest{})
	rcfg := &readersession.Config{
		Request: testpki.MDLRequest("family_name", "portrait", "age_over_18"),
		Trust:   verify.NewTrustStore(p.IACA.Certificate),
	}
	for _, c := range []struct {
		name    string
		link    memory.LinkConfig
		outcome readersession.Outcome
		reason  string
	}{
		{"clean", memory.LinkConfig{MaxFrame: 64, Latency: 20e6, Bandwidth: 100_000}, readersession.Accepted, ""},
		{"disconnect", memory.LinkConfig{MaxFrame: 64, Faults: memory.Faults{DisconnectAfterFrames: 3}}, readersession.Error, "link"},
		{"corrupt", memory.LinkConfig{MaxFrame: 512, Faults: memory.Faults{Corrupt: 1, Seed: 3}}, readersession.Error, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := ctxT(t)
			l := memory.NewListener("lane", 1)
			defer l.Close()
			h, err := holdersession.New(&holdersession.Config{Credentials: []*issuer.Credential{cred}})
			if err != nil {
				t.Fatal(err)
			}
			hc, err := l.Engage(ctx, h.DeviceEngagement(), messages.QRHandover(), c.link)
			if err != nil {
				t.Fatal(err)
			}
			holderErr := make(chan error, 1)
			go func() { holderErr <- holderLoop(ctx, h, hc) }()
			a, err := l.Accept(ctx)
			if err != nil {
				t.Fatal(err)
			}
			v := readerLoop(ctx, readersession.New(rcfg), a)
			herr := <-holderErr
			if v.Outcome != c.outcome || (c.reason != "" && v.Reason != c.reason) {
				t.Fatalf("verdict %+v (holder: %v)", v, herr)
			}
			t.Logf("verdict %s %s; holder: %v; reader air time %v, holder air time %v", v.Outcome, v.Reason, herr,
				a.Conn.(transports.AirTimer).AirTime(), hc.(transports.AirTimer).AirTime())
			if c.outcome == readersession.Accepted {
				if herr != nil && !errors.Is(herr, transports.ErrClosed) {
					t.Fatalf("holder: %v", herr)
				}
				if hc.(transports.AirTimer).AirTime() < 20e6*10 {
					t.Fatal("a multi-frame response took less than 10 latencies")
				}
			}
		})
	}
}
