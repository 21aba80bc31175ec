package venue

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// journalEntry is an admission made while the store was unavailable.
type journalEntry struct {
	Key   string    `json:"key"`
	Value string    `json:"value"`
	At    time.Time `json:"at"`
}

// journal is the local file of admissions not yet in the store (PartitionAdmitJournal):
// one JSON entry a line, appended and synced before the gate opens; rewritten with what
// remains after each reconciliation.
type journal struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	pending []journalEntry
}

// openJournal opens (creating) the journal and reads the entries a previous run left.
func openJournal(path string) (*journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("venue: journal: %w", err)
	}
	j := &journal{path: path}
	if data, err := os.ReadFile(path); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			var e journalEntry
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Key != "" {
				j.pending = append(j.pending, e)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("venue: journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("venue: journal: %w", err)
	}
	j.f = f
	return j, nil
}

// add journals an admission; it is on disk when add returns.
func (j *journal) add(key, value string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	e := journalEntry{Key: key, Value: value, At: time.Now().UTC()}
	b, _ := json.Marshal(e)
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return err
	}
	if err := j.f.Sync(); err != nil {
		return err
	}
	j.pending = append(j.pending, e)
	return nil
}

// take returns the pending entries.
func (j *journal) take() []journalEntry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]journalEntry(nil), j.pending...)
}

// settle drops the first n entries (reconciled) and rewrites the file with the rest.
func (j *journal) settle(n int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = j.pending[n:]
	tmp := j.path + ".tmp"
	var buf strings.Builder
	for _, e := range j.pending {
		b, _ := json.Marshal(e)
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(tmp, []byte(buf.String()), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return err
	}
	j.f.Close()
	f, err := os.OpenFile(j.path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	j.f = f
	return nil
}

func (j *journal) size() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.pending)
}

func (j *journal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.f.Close()
}

// reconcile writes journaled admissions to the store once it commits again: an entry
// whose key is free or already holds the same admission is done; a key another gate
// admitted meanwhile is a credential admitted twice during the partition, logged and
// counted (mdocgate_venue_reconciled_total{result="conflict"}). Entries older than the
// window have expired anyway and are dropped.
func (v *Venue) reconcile(ctx context.Context) {
	defer v.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		v.m.journalPending.Set(float64(v.journal.size()))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		entries := v.journal.take()
		done := 0
		for _, e := range entries {
			if time.Since(e.At) > v.opts.Window {
				v.m.reconciled.WithLabelValues("expired").Inc()
				done++
				continue
			}
			result, ok := v.reconcileOne(ctx, e)
			if !ok {
				break
			}
			v.m.reconciled.WithLabelValues(result).Inc()
			done++
		}
		if done > 0 {
			if err := v.journal.settle(done); err != nil {
				v.log.Error("journal rewrite failed", zap.Error(err))
			}
			v.log.Info("journal reconciled", zap.Int("entries", done), zap.Int("pending", v.journal.size()))
		}
	}
}

// reconcileOne writes one journaled admission; ok is false while the store is still
// unavailable.
func (v *Venue) reconcileOne(ctx context.Context, e journalEntry) (string, bool) {
	actx, cancel := context.WithTimeout(ctx, v.opts.AttemptTimeout)
	defer cancel()
	err := v.create(actx, e.Key, e.Value)
	switch {
	case err == nil:
		return "stored", true
	case exists(err):
		held, ok := v.readBack(ctx, e.Key)
		if !ok {
			return "", false
		}
		if held == e.Value {
			return "stored", true
		}
		by, _, _ := strings.Cut(held, "|")
		v.log.Warn("a credential was admitted twice during a partition", zap.String("credential", e.Key),
			zap.String("also_admitted_by", by), zap.Time("journaled_at", e.At))
		return "conflict", true
	}
	return "", false
}
