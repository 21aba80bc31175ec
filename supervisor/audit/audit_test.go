package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readRecords(t *testing.T, path string) []Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// Records are appended one a line, numbered, to a file that keeps what was there; past
// max size it rotates, keeping max files, and no record is lost or split.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	os.WriteFile(path, []byte(`{"seq":0,"kind":"verdict"}`+"\n"), 0o600) // an earlier run's line stays
	l, err := Open(Config{Path: path, MaxSize: 2048, MaxFiles: 3, Fsync: FsyncAlways})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := 0; i < n; i++ {
		for !l.Write(Record{Kind: KindVerdict, Gate: "g", Lane: "l", Session: fmt.Sprintf("s%03d", i), Outcome: "accepted", Action: "open"}) {
			time.Sleep(time.Millisecond) // queue full: retry (the test wants every record)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	written, _, failed := l.Stats()
	if written != n || failed != 0 {
		t.Fatalf("written %d failed %d", written, failed)
	}
	var all []Record
	for i := 3; i >= 1; i-- {
		f := fmt.Sprintf("%s.%d", path, i)
		st, err := os.Stat(f)
		if err != nil {
			t.Fatalf("rotated file %s: %v", f, err)
		}
		if st.Size() > 2048 {
			t.Fatalf("%s: %d bytes, over max size", f, st.Size())
		}
		all = append(all, readRecords(t, f)...)
	}
	if _, err := os.Stat(path + ".4"); err == nil {
		t.Fatal("more than max_files rotated files kept")
	}
	all = append(all, readRecords(t, path)...)
	last := all[len(all)-1]
	if last.Seq != n || last.Session != fmt.Sprintf("s%03d", n-1) {
		t.Fatalf("last record %+v", last)
	}
	for i := 1; i < len(all); i++ { // the kept tail is gapless
		if all[i].Seq != all[i-1].Seq+1 && all[i-1].Seq != 0 {
			t.Fatalf("gap between %d and %d", all[i-1].Seq, all[i].Seq)
		}
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
}

// Write never waits: past the buffer records are dropped and counted; with interval
// fsync what was queued is on disk after Close.
func TestDropAndInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	l, err := Open(Config{Path: path, Buffer: 4, Fsync: FsyncInterval, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	accepted := 0
	for i := 0; i < 10000; i++ {
		if l.Write(Record{Kind: KindOperatorDecision, Lane: "desk", Decision: "match", Operator: "ann"}) {
			accepted++
		}
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("Write waited")
	}
	l.Close()
	written, dropped, _ := l.Stats()
	if int(written) != accepted || written+dropped != 10000 || dropped == 0 {
		t.Fatalf("accepted %d written %d dropped %d", accepted, written, dropped)
	}
	recs := readRecords(t, path)
	if len(recs) != accepted || recs[0].Kind != KindOperatorDecision || recs[0].Time.IsZero() || !strings.HasSuffix(recs[0].Time.Location().String(), "UTC") {
		t.Fatalf("%d records, first %+v", len(recs), recs[0])
	}
	if _, err := Open(Config{Path: path, Fsync: "sometimes"}); err == nil {
		t.Fatal("bad fsync accepted")
	}
	if _, err := Open(Config{Path: filepath.Join(t.TempDir(), "no", "such", "dir", "a.jsonl")}); err == nil {
		t.Fatal("unwritable path accepted")
	}
}
