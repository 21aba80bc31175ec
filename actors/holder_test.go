package actors

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/internal/testpki"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/memory"
)

// holderFixture returns an mDL with its device key, and an engine environment and actor
// system for holders, stopped when the test ends.
func holderFixture(t *testing.T) (*issuer.Credential, *Env, *actor.ActorSystem) {
	t.Helper()
	cred := testpki.New(t, testpki.Options{}).IssueOn(t, messages.CurveP256, issuer.IssueRequest{})
	env, system := testEnv(t)
	return cred, env, system
}

// testEnv returns an engine environment on two mailbox workers and a quiet actor system,
// both stopped when the test ends.
func testEnv(t *testing.T) (*Env, *actor.ActorSystem) {
	d := NewWorkerDispatcher(2, 0)
	t.Cleanup(d.Stop)
	env := &Env{Results: NewResults(), Counters: &Counters{}, Goroutines: &sync.WaitGroup{}, Dispatcher: d}
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	t.Cleanup(system.Shutdown)
	return env, system
}

// A holder stopped while its engagement is still a call under way reports once, and the
// connection that arrives afterwards is closed, not leaked.
func TestHolderStoppedDuringEngagement(t *testing.T) {
	cred, env, system := holderFixture(t)

	entered, release := make(chan struct{}), make(chan struct{})
	readerSide, holderSide := memory.Pipe(memory.LinkConfig{})
	var reports []HolderReport
	var mu sync.Mutex
	cfg := &HolderConfig{
		NewSession: func() (HolderSession, error) {
			return holdersession.New(&holdersession.Config{Credentials: []*issuer.Credential{cred}})
		},
		Engage: func(ctx context.Context, _, _ []byte) (transports.Conn, error) {
			close(entered)
			<-release
			return holderSide, nil
		},
		Done: func(r HolderReport) { mu.Lock(); reports = append(reports, r); mu.Unlock() },
	}
	pid := system.Root.Spawn(HolderProps(env, cfg))
	<-entered // the engagement call is under way; the actor is not blocked by it
	if err := system.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	close(release)
	env.Goroutines.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := readerSide.ReadFrame(ctx); err == nil {
		t.Error("the late connection was left open")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 || reports[0].Engaged || reports[0].Err == nil {
		t.Errorf("reports %+v, want one, not engaged, with an error", reports)
	}
}

// A holder whose Engage never waits calls it from the actor: busy answers are retried,
// and the connection of the attempt that succeeds carries its session.
func TestHolderEngagesAtOnce(t *testing.T) {
	cred, env, system := holderFixture(t)

	readerSide, holderSide := memory.Pipe(memory.LinkConfig{})
	calls := 0
	reports := make(chan HolderReport, 1)
	cfg := &HolderConfig{
		NewSession: func() (HolderSession, error) {
			return holdersession.New(&holdersession.Config{Credentials: []*issuer.Credential{cred}})
		},
		EngageAtOnce: true,
		Engage: func(context.Context, []byte, []byte) (transports.Conn, error) {
			calls++ // only ever called from the actor, one call at a time
			if calls < 3 {
				return nil, transports.ErrBusy
			}
			return holderSide, nil
		},
		Retries: 3, RetryAfter: time.Millisecond,
		Done: func(r HolderReport) { reports <- r },
	}
	system.Root.Spawn(HolderProps(env, cfg))
	// the reader ends the session at once: the holder must see it on its link
	if err := readerSide.WriteFrame(context.Background(), append([]byte{0x00}, mustStatus(t, 20)...)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reports:
		if !r.Engaged || r.Attempts != 3 || r.Busy {
			t.Fatalf("report %+v, want engaged on the third attempt", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the holder never reported")
	}
	env.Goroutines.Wait()
}

func mustStatus(t *testing.T, code uint64) []byte {
	t.Helper()
	b, err := messages.Marshal(messages.NewSessionStatus(code))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reverseConn is a holder's side engaged by reverse engagement.
type reverseConn struct {
	transports.Conn
	re []byte
}

func (c reverseConn) ReaderEngagement() []byte { return c.re }

// A holder whose connection came from a reverse engagement binds its session to that
// ReaderEngagement; one it cannot answer ends the holder with the reason, and the
// reader sees the link close.
func TestHolderBindsReverseEngagement(t *testing.T) {
	cred, env, system := holderFixture(t)
	readerSide, holderSide := memory.Pipe(memory.LinkConfig{})
	reports := make(chan HolderReport, 1)
	system.Root.Spawn(HolderProps(env, &HolderConfig{
		NewSession: func() (HolderSession, error) {
			return holdersession.New(&holdersession.Config{Credentials: []*issuer.Credential{cred}})
		},
		EngageAtOnce: true,
		Engage: func(context.Context, []byte, []byte) (transports.Conn, error) {
			return reverseConn{Conn: holderSide, re: []byte{0xa0}}, nil // no Security: not answerable
		},
		Done: func(r HolderReport) { reports <- r },
	}))
	select {
	case r := <-reports:
		if !r.Engaged || r.Err == nil || !strings.Contains(r.Err.Error(), "reader engagement") {
			t.Fatalf("report %+v, want engaged and ended over the reader engagement", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the holder never reported")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := readerSide.ReadFrame(ctx); err == nil {
		t.Error("the holder's link was left open")
	}
	env.Goroutines.Wait()
}
