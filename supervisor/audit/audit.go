// Package audit writes a gate's audit log: one JSON object a line (JSONL), appended to a
// file that is rotated by size. A Log takes records without waiting (the verdict stream
// must not block) and writes them from its own goroutine, in order, each with a
// sequence number, so that a record that was dropped (the queue full) or lost shows as
// a gap.
//
// Durability (Config.Fsync): with FsyncAlways the file is fsynced after every batch of
// records written (group commit: a record is on disk within one fsync of being
// queued); with FsyncInterval it is fsynced once per Interval, so a power cut can lose
// up to one Interval of records — a crash of the process alone loses none that were
// written, as writes go to the kernel at once. Rotation fsyncs the file it closes.
package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Fsync policies.
const (
	FsyncAlways   = "always"
	FsyncInterval = "interval"
)

// Defaults of a Config.
const (
	DefaultMaxSize  = 100 << 20 // bytes
	DefaultMaxFiles = 10
	DefaultInterval = time.Second
	DefaultBuffer   = 8192
)

// Config is where and how a Log writes.
type Config struct {
	// Path is the file records are appended to (created 0600 when missing).
	Path string
	// MaxSize is the size past which the file is rotated before the next record
	// (default DefaultMaxSize): Path becomes Path.1, Path.1 becomes Path.2 and so on,
	// and Path.MaxFiles is removed, so MaxFiles rotated files are kept (default
	// DefaultMaxFiles).
	MaxSize  int64
	MaxFiles int
	// Fsync is FsyncAlways or FsyncInterval (default); Interval defaults to
	// DefaultInterval.
	Fsync    string
	Interval time.Duration
	// Buffer bounds the records queued for writing (default DefaultBuffer); a record
	// past it is dropped and counted.
	Buffer int
}

// Kinds of record.
const (
	KindVerdict          = "verdict"
	KindOperatorDecision = "operator_decision"
)

// Record is one line of the audit log. It never carries element values: the issuing
// country is the document's issuing_country (an attribute of its issuer, not of the
// holder) and no other element is recorded.
type Record struct {
	// Seq numbers the records of one Log from 1, across rotations.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Kind is KindVerdict (a session's verdict and the gate's action) or
	// KindOperatorDecision (an operator's answer at the operator desk).
	Kind string `json:"kind"`
	Gate string `json:"gate"`
	Lane string `json:"lane"`
	// Session, Bearer, Outcome, Reason and Action are those of the verdict; Reason is
	// the failing check's name.
	Session string `json:"session,omitempty"`
	Bearer  string `json:"bearer,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Action  string `json:"action,omitempty"`
	// DocType and IssuingCountry describe the presented document, when one was.
	DocType        string `json:"doc_type,omitempty"`
	IssuingCountry string `json:"issuing_country,omitempty"`
	// Started and Ended are the session's; LatencyMs is their difference.
	Started   *time.Time `json:"started,omitempty"`
	Ended     *time.Time `json:"ended,omitempty"`
	LatencyMs float64    `json:"latency_ms,omitempty"`
	// HolderVerification is the matcher's answer (match, no_match, undecided) and
	// Operator who gave it, when the lane verified the holder.
	HolderVerification string `json:"holder_verification,omitempty"`
	Operator           string `json:"operator,omitempty"`
	// Decision (match, no_match) and Request (the desk's request id) are those of an
	// operator decision.
	Decision string `json:"decision,omitempty"`
	Request  string `json:"request,omitempty"`
}

// Log is an open audit log.
type Log struct {
	cfg   Config
	queue chan Record
	done  chan struct{}
	once  sync.Once

	f    *os.File
	size int64
	seq  uint64
	err  error // the last write error, reported once per kind of failure

	written, dropped, failed atomic.Uint64
}

// Open opens (or creates) cfg.Path for appending and starts the writer.
func Open(cfg Config) (*Log, error) {
	if cfg.Path == "" {
		return nil, errors.New("audit: no path")
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = DefaultMaxFiles
	}
	if cfg.Fsync == "" {
		cfg.Fsync = FsyncInterval
	}
	if cfg.Fsync != FsyncAlways && cfg.Fsync != FsyncInterval {
		return nil, fmt.Errorf("audit: fsync %q: want always or interval", cfg.Fsync)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	l := &Log{cfg: cfg, queue: make(chan Record, cfg.Buffer), done: make(chan struct{})}
	if err := l.open(); err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

func (l *Log) open() error {
	f, err := os.OpenFile(l.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write queues r without waiting; it reports false when the queue was full and r was
// dropped (counted in Stats). Seq is set by the writer; a zero Time becomes now.
func (l *Log) Write(r Record) bool {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	select {
	case l.queue <- r:
		return true
	default:
		l.dropped.Add(1)
		return false
	}
}

// Stats returns the records written, dropped (queue full) and failed (write errors).
func (l *Log) Stats() (written, dropped, failed uint64) {
	return l.written.Load(), l.dropped.Load(), l.failed.Load()
}

// Close writes the records queued before it, fsyncs and closes the file. Write must not
// be called after Close.
func (l *Log) Close() error {
	l.once.Do(func() { close(l.queue) })
	<-l.done
	return l.err
}

func (l *Log) run() {
	defer close(l.done)
	var tick <-chan time.Time
	if l.cfg.Fsync == FsyncInterval {
		t := time.NewTicker(l.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	dirty := false
	for {
		select {
		case r, ok := <-l.queue:
			closed := !ok
			if ok {
				l.write(r)
				closed = l.drain()
			}
			dirty = true
			if l.cfg.Fsync == FsyncAlways || closed {
				l.sync()
				dirty = false
			}
			if closed {
				if l.f != nil {
					l.f.Close()
				}
				return
			}
		case <-tick:
			if dirty {
				l.sync()
				dirty = false
			}
		}
	}
}

// drain writes the records queued now (the rest of a batch); it reports whether the
// queue was closed.
func (l *Log) drain() bool {
	for {
		select {
		case r, ok := <-l.queue:
			if !ok {
				return true
			}
			l.write(r)
		default:
			return false
		}
	}
}

func (l *Log) write(r Record) {
	l.seq++
	r.Seq = l.seq
	r.Time = r.Time.UTC()
	line, err := json.Marshal(&r)
	if err != nil {
		l.fail(err)
		return
	}
	line = append(line, '\n')
	if l.f == nil || l.size > 0 && l.size+int64(len(line)) > l.cfg.MaxSize {
		if err := l.rotate(); err != nil {
			l.fail(err)
			return
		}
	}
	n, err := l.f.Write(line)
	l.size += int64(n)
	if err != nil {
		l.fail(err)
		return
	}
	l.written.Add(1)
}

func (l *Log) fail(err error) {
	l.failed.Add(1)
	l.err = fmt.Errorf("audit: %w", err)
}

func (l *Log) sync() {
	if l.f != nil {
		if err := l.f.Sync(); err != nil {
			l.fail(err)
		}
	}
}

// rotate closes the file and shifts Path.N → Path.N+1 (dropping the last), Path → Path.1,
// then opens a fresh Path.
func (l *Log) rotate() error {
	if l.f != nil {
		l.f.Sync()
		l.f.Close()
		l.f = nil
	}
	p, n := l.cfg.Path, l.cfg.MaxFiles
	os.Remove(fmt.Sprintf("%s.%d", p, n))
	for i := n - 1; i >= 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", p, i), fmt.Sprintf("%s.%d", p, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(p, p+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return l.open()
}
