package daemon

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// readiness is /readyz: named parts, each a check saying what is wrong. The gate is
// ready when every part is. Results are kept for readyCache so that callers polling
// /readyz (load balancers, an unauthenticated stranger) cost at most one round of
// checks (a PC/SC reader listing among them) per readyCache.
type readiness struct {
	mu      sync.Mutex
	parts   []readyPart
	checked time.Time
	last    []readyResult
}

type readyPart struct {
	name  string
	check func(context.Context) error
}

type readyResult struct {
	name string
	err  error
}

const (
	readyCache   = time.Second
	readyTimeout = 3 * time.Second // for all the checks of one round
)

// add registers a part; its check gets a context bounded by readyTimeout.
func (r *readiness) add(name string, check func(context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.parts = append(r.parts, readyPart{name: name, check: check})
	r.checked = time.Time{}
}

// check runs the parts (or returns the last round's results, when recent enough).
func (r *readiness) check(ctx context.Context) []readyResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.checked.IsZero() && time.Since(r.checked) < readyCache {
		return r.last
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	out := make([]readyResult, len(r.parts))
	var wg sync.WaitGroup
	for i, p := range r.parts {
		out[i].name = p.name
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].err = p.check(ctx)
		}()
	}
	wg.Wait()
	r.checked, r.last = time.Now(), out
	return out
}

// ServeHTTP answers 200 "ready" or 503 "not ready", then one line per part:
// "ok NAME" or "FAIL NAME: why".
func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	results := r.check(req.Context())
	var b strings.Builder
	failed := 0
	for _, res := range results {
		if res.err != nil {
			failed++
			fmt.Fprintf(&b, "FAIL %s: %s\n", res.name, strings.ReplaceAll(res.err.Error(), "\n", " "))
		} else {
			fmt.Fprintf(&b, "ok %s\n", res.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if failed > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %d of %d parts failing\n%s", failed, len(results), b.String())
		return
	}
	fmt.Fprintf(w, "ready\n%s", b.String())
}
