package load

import (
	"context"
	"fmt"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/memory"
)

// RunSingle runs one honest holder through the engine on an in-memory lane — QR
// engagement, SessionEstablishment with reader authentication, the encrypted request
// and response, deviceMac, verification — and returns its verdict with every check.
func RunSingle(ctx context.Context) (*actors.SessionVerdict, error) {
	w, err := newWorld()
	if err != nil {
		return nil, err
	}
	eng := supervisor.Start(supervisor.Config{Workers: 1})
	defer eng.Shutdown(context.Background())
	l := memory.NewListener("single", 1)
	if err := eng.AddLane(&actors.LaneConfig{Name: "single", Listener: l,
		Sessions: actors.SessionSettings{Reader: defaultReaderConfig(w), EngagementTimeout: 10 * time.Second, InactivityTimeout: 10 * time.Second}}); err != nil {
		return nil, err
	}
	got := make(chan *actors.SessionVerdict, 1)
	unsub := eng.Results().Subscribe(func(v *actors.SessionVerdict) {
		select {
		case got <- v:
		default:
		}
	})
	defer unsub()
	eng.SpawnHolder(&actors.HolderConfig{
		NewSession: func() (actors.HolderSession, error) {
			return holdersession.New(&holdersession.Config{Credentials: w.valid[:1], UseMAC: true, ReaderTrust: w.readerRoot})
		},
		Engage: func(ctx context.Context, de, handover []byte) (transports.Conn, error) {
			return l.Engage(ctx, de, handover, memory.LinkConfig{})
		},
	})
	select {
	case v := <-got:
		return v, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no verdict: %w", ctx.Err())
	}
}
