package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

// AttackersConfig is what the attackers of the attack benchmark run against: RunAttack
// writes it for its attackers' process.
type AttackersConfig struct {
	// Origin is the gate's web origin.
	Origin string `json:"origin"`
	// Credential is a folder of `mdocgate issue --out` (the gate trusts its IACA): the
	// silent attackers engage with it.
	Credential string `json:"credential"`
	// Canned names, by kind, the file of the plaintext DeviceResponse the amplifying
	// attackers send.
	Canned map[string]string `json:"canned"`
	Kinds  []string          `json:"kinds"`
	// Attackers of each kind; FloodConns connections each connection flooder opens.
	Attackers  int `json:"attackers"`
	FloodConns int `json:"flood_conns"`
}

// AttackersReport is what the attackers did and how they were answered.
type AttackersReport struct {
	Attacks map[string]*AttackCounts `json:"attacks"`
	// FloodPeak is the most connections the flooders held at once.
	FloodPeak int64 `json:"conn_flood_peak"`
	// Busy is the latency of the 503 answers the engage flooders got (as they saw it,
	// at their own low priority).
	Busy        Latency `json:"busy_ms"`
	BusyAnswers int64   `json:"busy_answers"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	Seconds     float64 `json:"seconds"`
}

// RunAttackersFile runs the attackers of the AttackersConfig in file until ctx ends and
// writes their AttackersReport to out as JSON: the attack benchmark's attackers'
// process (`mdocgate attackbench --attackers-child FILE`), which RunAttack starts at a
// low scheduling priority, so that the attackers' own CPU does not slow the gate and
// the legitimate holders on a shared machine, as attackers on other machines would not.
func RunAttackersFile(ctx context.Context, file string, out io.Writer) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var cfg AttackersConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	rep, err := RunAttackers(ctx, cfg)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	return enc.Encode(rep)
}

// RunAttackers runs cfg.Attackers attackers of each kind, each from its own loopback
// address, until ctx ends.
func RunAttackers(ctx context.Context, cfg AttackersConfig) (*AttackersReport, error) {
	cred, _, err := issuer.LoadDir(cfg.Credential)
	if err != nil {
		return nil, fmt.Errorf("attackers: credential: %w", err)
	}
	canned := map[string][]byte{}
	for kind, f := range cfg.Canned {
		if canned[kind], err = os.ReadFile(f); err != nil {
			return nil, fmt.Errorf("attackers: %s: %w", kind, err)
		}
	}
	start, cpu0 := time.Now(), ownCPU()
	rep := &AttackersReport{Attacks: map[string]*AttackCounts{}}
	busy := &hist{}
	var busyN, floodOpen, floodPeak atomic.Int64
	var wg sync.WaitGroup
	for ki, kind := range AttackKinds {
		if !contains(cfg.Kinds, kind) {
			continue
		}
		counts := &AttackCounts{}
		rep.Attacks[kind] = counts
		for j := 0; j < cfg.Attackers; j++ {
			a := &attacker{origin: cfg.Origin, cred: cred, canned: canned[kind], kind: kind, n: j, counts: counts, busy: busy,
				busyN: &busyN, client: sourceClient(loopbackSource(blockAttacks+ki, j), 8), floodOpen: &floodOpen,
				floodPeak: &floodPeak, floodConns: cfg.FloodConns}
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.run(ctx)
			}()
		}
	}
	wg.Wait()
	rep.FloodPeak, rep.Busy, rep.BusyAnswers = floodPeak.Load(), busy.percentiles(), busyN.Load()
	rep.CPUSeconds, rep.Seconds = round3((ownCPU() - cpu0).Seconds()), round3(time.Since(start).Seconds())
	return rep, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// attacker is one attacking client.
type attacker struct {
	origin     string
	cred       *issuer.Credential
	canned     []byte
	kind       string
	n          int
	client     *http.Client
	counts     *AttackCounts
	busy       *hist
	busyN      *atomic.Int64
	floodOpen  *atomic.Int64
	floodPeak  *atomic.Int64
	floodConns int
}

func (a *attacker) note(busy bool, err error) {
	atomic.AddInt64(&a.counts.Attempts, 1)
	switch {
	case err == nil:
		atomic.AddInt64(&a.counts.Completed, 1)
	case busy:
		atomic.AddInt64(&a.counts.Busy, 1)
	default:
		atomic.AddInt64(&a.counts.Refused, 1)
	}
}

// pause waits d unless ctx ends.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (a *attacker) run(ctx context.Context) {
	defer a.client.CloseIdleConnections()
	switch a.kind {
	case AttackAmplifyTrusted, AttackAmplifyForeign, AttackHangup:
		hangup := a.kind == AttackHangup
		for n := 0; ctx.Err() == nil; n++ {
			busy, err := amplifyOnce(ctx, a.origin, a.client, a.canned, !hangup, !hangup && (a.n+n)%2 == 1)
			if ctx.Err() != nil {
				return
			}
			a.note(busy, err)
			if err != nil {
				pause(ctx, 20*time.Millisecond)
			}
		}
	case AttackEngage:
		for n := 0; ctx.Err() == nil; n++ {
			t0 := time.Now()
			_, err := web.FetchEngagement(ctx, a.client, a.origin, n%2 == 1)
			if ctx.Err() != nil {
				return
			}
			busy := errors.Is(err, transports.ErrBusy)
			if busy {
				a.busy.add(time.Since(t0))
				a.busyN.Add(1)
			}
			a.note(busy, err)
		}
	case AttackSilent:
		// more sessions at once than the client's share (sessions_per_client, 32)
		var wg sync.WaitGroup
		for s := 0; s < 40; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ctx.Err() == nil; n++ {
					busy, err := a.silentOnce(ctx, (s+n)%2 == 0)
					if ctx.Err() != nil {
						return
					}
					a.note(busy, err)
					if err != nil {
						pause(ctx, 200*time.Millisecond)
					}
				}
			}()
		}
		wg.Wait()
	case AttackConnFlood:
		a.flood(ctx)
	}
}

// flood opens floodConns idle connections, 100 from each of its addresses, and opens
// each again half a second after the gate closed it.
func (a *attacker) flood(ctx context.Context) {
	addr := strings.TrimPrefix(a.origin, "http://")
	var wg sync.WaitGroup
	for c := 0; c < a.floodConns; c++ {
		src := loopbackSource(blockConnAddr+a.n, c/100)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				conn, err := dialFrom(ctx, src, addr)
				if err != nil {
					a.note(false, err)
					pause(ctx, 500*time.Millisecond)
					continue
				}
				open := a.floodOpen.Add(1)
				for {
					peak := a.floodPeak.Load()
					if open <= peak || a.floodPeak.CompareAndSwap(peak, open) {
						break
					}
				}
				stop := context.AfterFunc(ctx, func() { conn.Close() })
				_, rerr := conn.Read(make([]byte, 1)) // idle until the gate closes it
				stop()
				conn.Close()
				a.floodOpen.Add(-1)
				if ctx.Err() != nil {
					return
				}
				// closed by the gate: refused at once (reset) or evicted later; the flood
				// holds connections, it is not a connect-rate flood
				a.note(false, errors.Join(errors.New("closed by the gate"), rerr))
				pause(ctx, 500*time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

// silentOnce engages, starts a session and then says nothing until the gate ends it.
func (a *attacker) silentOnce(ctx context.Context, ws bool) (busy bool, err error) {
	e, err := web.FetchEngagement(ctx, a.client, a.origin, false)
	if err != nil {
		return errors.Is(err, transports.ErrBusy), err
	}
	h, err := holdersession.NewReverse(&holdersession.Config{Credentials: []*issuer.Credential{a.cred}}, e.ReaderEngagement, a.origin)
	if err != nil {
		return false, err
	}
	conn, err := web.Dial(ctx, e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: ws, Client: a.client, IdleTimeout: 5 * time.Minute})
	if err != nil {
		return errors.Is(err, transports.ErrBusy), err
	}
	defer conn.Close()
	if _, err := conn.ReadFrame(ctx); err != nil { // the SessionEstablishment
		return false, err
	}
	if !ws {
		// over HTTP the gate cannot tell a holder that says nothing: it gives up on the
		// session after its engagement timeout (60 s)
		pause(ctx, 65*time.Second)
		return false, nil
	}
	_, err = conn.ReadFrame(ctx) // until the gate gives up on it
	if err != nil && (errors.Is(err, web.ErrSessionEnded) || errors.Is(err, transports.ErrClosed)) {
		err = nil
	}
	return false, err
}

// amplifyOnce runs one attacker session: the handshake, then the canned response; with
// wait it waits for the gate's end of the session, otherwise it hangs up at once. It
// reports whether the gate answered busy.
func amplifyOnce(ctx context.Context, origin string, client *http.Client, canned []byte, wait, http bool) (busy bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	e, err := web.FetchEngagement(ctx, client, origin, false)
	if err != nil {
		return errors.Is(err, transports.ErrBusy), err
	}
	h, err := holdersession.NewReverse(&holdersession.Config{Canned: canned}, e.ReaderEngagement, origin)
	if err != nil {
		return false, err
	}
	conn, err := web.Dial(ctx, e.SessionURL, h.FirstMessage(), web.DialOptions{WebSocket: !http, Client: client, IdleTimeout: 60 * time.Second})
	if err != nil {
		return errors.Is(err, transports.ErrBusy), err
	}
	defer conn.Close()
	msg, err := conn.ReadFrame(ctx)
	if err != nil {
		return false, err
	}
	st := h.Receive(msg)
	if st.Send == nil {
		return false, fmt.Errorf("the holder did not answer: %v", st.Err)
	}
	if err := conn.WriteFrame(ctx, st.Send); err != nil && wait {
		return false, err
	}
	if !wait {
		return false, nil // hang up: the deferred Close
	}
	if _, err := conn.ReadFrame(ctx); err != nil && !errors.Is(err, web.ErrSessionEnded) && !errors.Is(err, transports.ErrClosed) {
		return false, err
	}
	return false, nil
}
