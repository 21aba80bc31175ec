// Package loadgen spreads a load run over several machines through a venue's NATS:
// load workers (Serve, `mdocgate loadgen --venue URL`) wait for plans; a coordinator
// (`mdocgate loadtest --venue URL --target ...`) finds the workers, gives each its share
// of the holders (Remote, as supervisor/load's TargetConfig.Remote) and merges the
// shards they send back into one report with by_target and by_worker. Only core NATS
// request-reply is used: no stream, nothing kept.
package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mdocgate/mdocgate/supervisor/load"
)

// Subjects of the protocol.
const (
	subjectHello = "mdocgate.loadgen.hello"
	subjectRun   = "mdocgate.loadgen.run." // + worker name
)

// Plan is a worker's share of a run.
type Plan struct {
	Targets     []string      `json:"targets"`
	Holders     int           `json:"holders"`
	Concurrency int           `json:"concurrency"`
	Duration    time.Duration `json:"duration_ns"`
	Timeout     time.Duration `json:"timeout_ns"`
	// Credential holds the files of the coordinator's credential folder (`mdocgate
	// issue --out`), by name; empty: a throwaway credential.
	Credential map[string][]byte `json:"credential,omitempty"`
}

// answer is a worker's reply to a plan.
type answer struct {
	Shard *load.Shard `json:"shard,omitempty"`
	Error string      `json:"error,omitempty"`
}

// credentialFiles are what a credential folder holds (issuer.WriteDir).
var credentialFiles = []string{"credential.cbor", "device_key.pem", "iaca.pem", "ds.pem"}

// maxCredentialFile bounds each credential file a plan carries.
const maxCredentialFile = 256 << 10

// Connect connects a worker or a coordinator to the venue's NATS.
func Connect(url, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("loadgen: connect %s: %w", url, err)
	}
	return nc, nil
}

// Serve runs a load worker named name until ctx ends: it answers the coordinators'
// hello with its name and runs one plan at a time (a worker busy with a plan does not
// answer hello). done, when not nil, hears of every plan run.
func Serve(ctx context.Context, nc *nats.Conn, name string, done func(Plan, *load.Shard, error)) error {
	if name == "" || strings.ContainsAny(name, ".*> ") {
		return fmt.Errorf("loadgen: worker name %q: no dots, spaces or wildcards", name)
	}
	var busy atomic.Bool
	hello, err := nc.Subscribe(subjectHello, func(m *nats.Msg) {
		if !busy.Load() { // busy with a plan: not offered to other coordinators meanwhile
			_ = m.Respond([]byte(name))
		}
	})
	if err != nil {
		return err
	}
	defer hello.Unsubscribe()
	runs, err := nc.Subscribe(subjectRun+name, func(m *nats.Msg) {
		var p Plan
		var a answer
		if err := json.Unmarshal(m.Data, &p); err != nil {
			a.Error = "plan: " + err.Error()
		} else {
			busy.Store(true)
			a.Shard, err = runPlan(ctx, name, p)
			busy.Store(false)
			if err != nil {
				a.Error = err.Error()
			}
			if done != nil {
				done(p, a.Shard, err)
			}
		}
		b, _ := json.Marshal(a)
		_ = m.Respond(b)
	})
	if err != nil {
		return err
	}
	defer runs.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// runPlan runs a plan's holders (load.RunTargetShard).
func runPlan(ctx context.Context, name string, p Plan) (*load.Shard, error) {
	cfg := load.TargetConfig{Targets: p.Targets, Holders: p.Holders, Concurrency: p.Concurrency, Duration: p.Duration,
		Timeout: p.Timeout, Worker: name}
	if len(p.Credential) > 0 {
		dir, err := os.MkdirTemp("", "mdocgate-loadgen-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		for _, f := range credentialFiles {
			if b, ok := p.Credential[f]; ok {
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
					return nil, err
				}
			}
		}
		cfg.Credential = dir
	}
	return load.RunTargetShard(ctx, cfg)
}

// Options tune a coordinator.
type Options struct {
	// Workers is how many workers to wait for (0: whoever answers within Discover).
	Workers int
	// Discover is how long workers are waited for (default 2 s; with Workers, up to
	// 30 s until that many answered).
	Discover time.Duration
}

// Remote returns a load.TargetConfig.Remote that runs the holders on the workers
// found on nc: each gets an even share of the holders and of the concurrency, the
// same targets and the coordinator's credential files, and its shard comes back when
// its share is done. The wait for each is bounded by the plan's own length.
func Remote(nc *nats.Conn, o Options) func(ctx context.Context, cfg load.TargetConfig) ([]*load.Shard, error) {
	return func(ctx context.Context, cfg load.TargetConfig) ([]*load.Shard, error) {
		workers, err := discover(ctx, nc, o)
		if err != nil {
			return nil, err
		}
		var cred map[string][]byte
		if cfg.Credential != "" {
			cred = map[string][]byte{}
			for _, f := range credentialFiles {
				path := filepath.Join(cfg.Credential, f)
				if fi, err := os.Stat(path); err != nil || fi.Size() > maxCredentialFile {
					continue
				}
				if b, err := os.ReadFile(path); err == nil {
					cred[f] = b
				}
			}
		}
		n := len(workers)
		type result struct {
			shard *load.Shard
			err   error
		}
		results := make(chan result, n)
		for i, w := range workers {
			p := Plan{Targets: cfg.Targets, Holders: share(cfg.Holders, n, i), Concurrency: max(1, share(cfg.Concurrency, n, i)),
				Duration: cfg.Duration, Timeout: cfg.Timeout, Credential: cred}
			if cfg.Holders > 0 && p.Holders == 0 {
				results <- result{}
				continue
			}
			go func() {
				shard, err := ask(ctx, nc, w, p)
				results <- result{shard, err}
			}()
		}
		var shards []*load.Shard
		var errs []error
		for range workers {
			r := <-results
			switch {
			case r.err != nil:
				errs = append(errs, r.err)
			case r.shard != nil:
				shards = append(shards, r.shard)
			}
		}
		if len(shards) == 0 {
			return nil, errors.Join(append(errs, errors.New("loadgen: no worker reported"))...)
		}
		// a worker that failed is missing from by_worker; the others' shards make the report
		return shards, nil
	}
}

// share is worker i's part of total split n ways.
func share(total, n, i int) int {
	s := total / n
	if i < total%n {
		s++
	}
	return s
}

// discover finds the idle workers.
func discover(ctx context.Context, nc *nats.Conn, o Options) ([]string, error) {
	wait := o.Discover
	if wait <= 0 {
		wait = 2 * time.Second
		if o.Workers > 0 {
			wait = 30 * time.Second
		}
	}
	inbox := nc.NewRespInbox()
	ch := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	seen := map[string]bool{}
	var workers []string
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	ask := time.NewTicker(500 * time.Millisecond)
	defer ask.Stop()
	if err := nc.PublishRequest(subjectHello, inbox, nil); err != nil {
		return nil, err
	}
	for {
		select {
		case m := <-ch:
			if w := string(m.Data); !seen[w] {
				seen[w] = true
				workers = append(workers, w)
			}
			if o.Workers > 0 && len(workers) >= o.Workers {
				return workers[:o.Workers], nil
			}
		case <-ask.C: // workers that started meanwhile
			_ = nc.PublishRequest(subjectHello, inbox, nil)
		case <-deadline.C:
			if len(workers) == 0 || (o.Workers > 0 && len(workers) < o.Workers) {
				return nil, fmt.Errorf("loadgen: %d load workers answered within %s (want %d; start `mdocgate loadgen --venue URL`)",
					len(workers), wait, max(1, o.Workers))
			}
			return workers, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ask sends worker w its plan and waits for its shard, bounded by the plan's length.
func ask(ctx context.Context, nc *nats.Conn, w string, p Plan) (*load.Shard, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	limit := p.Duration + 2*p.Timeout
	if p.Duration == 0 {
		rounds := (p.Holders + p.Concurrency - 1) / p.Concurrency
		limit = time.Duration(rounds*len(p.Targets)) * p.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit+30*time.Second)
	defer cancel()
	m, err := nc.RequestWithContext(ctx, subjectRun+w, b)
	if err != nil {
		return nil, fmt.Errorf("loadgen: worker %s: %w", w, err)
	}
	var a answer
	if err := json.Unmarshal(m.Data, &a); err != nil {
		return nil, fmt.Errorf("loadgen: worker %s: %w", w, err)
	}
	if a.Error != "" {
		return nil, fmt.Errorf("loadgen: worker %s: %s", w, a.Error)
	}
	if a.Shard == nil {
		return nil, fmt.Errorf("loadgen: worker %s sent no shard", w)
	}
	a.Shard.Worker = w
	return a.Shard, nil
}
