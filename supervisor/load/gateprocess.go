package load

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// gateProcess is the gate under test of the attack and gate benchmarks: a child process.
type gateProcess struct {
	cmd    *exec.Cmd
	pid    int
	origin string
	ops    string
	done   chan error
	stderr *tailBuffer
	client *http.Client
}

// startGateProcess runs the gate with its open file limit set (sh's ulimit, then exec)
// and reads the line it prints once it listens.
func startGateProcess(ctx context.Context, argv []string, config string, fileLimit int) (*gateProcess, error) {
	args := append([]string{"-c", `ulimit -n "$0" && exec "$@"`, strconv.Itoa(fileLimit)}, argv...)
	args = append(args, "--config", config)
	cmd := exec.CommandContext(ctx, "sh", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	g := &gateProcess{cmd: cmd, done: make(chan error, 1), stderr: &tailBuffer{max: 8 << 10},
		client: &http.Client{Timeout: 10 * time.Second}}
	cmd.Stderr = g.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g.pid = cmd.Process.Pid
	first := make(chan string, 1)
	go func() {
		r := bufio.NewReaderSize(out, 64<<10)
		line, _ := r.ReadString('\n')
		first <- line
		_, _ = io.Copy(io.Discard, r) // the verdict lines
		g.done <- cmd.Wait()
	}()
	var line string
	select {
	case line = <-first:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("gate: it printed nothing in 30 s")
	}
	var info struct {
		Origin string `json:"origin"`
		HTTP   string `json:"http"`
	}
	if err := json.Unmarshal([]byte(line), &info); err != nil || info.Origin == "" || info.HTTP == "" {
		cmd.Process.Kill()
		return nil, fmt.Errorf("gate: it did not start: %q %s", line, g.stderr.String())
	}
	g.origin, g.ops = info.Origin, "http://"+info.HTTP
	return g, nil
}

// stop ends the gate with SIGTERM (its graceful shutdown), killing it after 40 s.
func (g *gateProcess) stop() {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(40 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// cpu is the gate's CPU time (user and system) from /proc, to 10 ms.
func (g *gateProcess) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", g.pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) "
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// preciseCPU is the gate's CPU time: the run time of its threads from their
// /proc/PID/task/TID/schedstat (ns; a thread that has exited is missing, and the Go
// runtime seldom ends one), or cpu's 10 ms ticks where there is no schedstat. from
// says which: "schedstat" or "stat".
func (g *gateProcess) preciseCPU() (cpu time.Duration, from string) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", g.pid))
	if err == nil {
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", g.pid, t.Name()))
			if err != nil {
				continue // the thread ended
			}
			f := strings.Fields(string(b))
			ns, err := strconv.ParseInt(strings.Join(f[:min(1, len(f))], ""), 10, 64)
			if err != nil {
				return g.cpu(), "stat"
			}
			cpu += time.Duration(ns)
		}
		if cpu > 0 {
			return cpu, "schedstat"
		}
	}
	return g.cpu(), "stat"
}

// peakRSS is the gate's peak resident set size (VmHWM).
func (g *gateProcess) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// promText is a Prometheus text exposition.
type promText string

// sum adds the samples of family name whose labels include want.
func (p promText) sum(name string, want map[string]string) float64 {
	total := 0.0
	for _, line := range strings.Split(string(p), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		labels := ""
		if rest[0] == '{' {
			end := strings.LastIndex(rest, "}")
			labels, rest = rest[1:end], rest[end+1:]
		}
		match := true
		for k, v := range want {
			match = match && strings.Contains(","+labels+",", ","+k+"=\""+v+"\",")
		}
		if f := strings.Fields(rest); match && len(f) > 0 {
			v, _ := strconv.ParseFloat(f[0], 64)
			total += v
		}
	}
	return total
}

func (g *gateProcess) metrics(ctx context.Context) (promText, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.ops+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return promText(b), err
}

// waitIdle waits until the gate has no session in flight.
func (g *gateProcess) waitIdle(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		m, err := g.metrics(ctx)
		if err == nil && m.sum("mdocgate_sessions_in_flight", nil) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gate: sessions still in flight after %v", limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// logTo returns a printf of progress lines to w (nil: none).
func logTo(w io.Writer) func(format string, args ...any) {
	return func(format string, args ...any) {
		if w != nil {
			fmt.Fprintf(w, format+"\n", args...)
		}
	}
}

// ownCPU is this process's CPU time.
func ownCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
