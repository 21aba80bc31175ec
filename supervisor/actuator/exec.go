package actuator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Exec runs Command for each event (a GPIO or relay script), with the event in its
// environment — MDOCGATE_ACTION, MDOCGATE_OUTCOME, MDOCGATE_LANE, MDOCGATE_SESSION,
// MDOCGATE_REASON, MDOCGATE_BEARER, MDOCGATE_GATE, MDOCGATE_TIME, besides the gate's own
// environment — and its JSON on standard input. Exit status 0 delivers it; another
// status, or running past Timeout (the command's process group is then killed), is a
// failed attempt.
type Exec struct {
	Command []string      // program and arguments, not run through a shell
	Timeout time.Duration // one run (default DefaultTimeout)
}

// Kind implements Sink.
func (x *Exec) Kind() string { return "exec" }

// Send implements Sink.
func (x *Exec) Send(ctx context.Context, e *Event, body []byte) error {
	if len(x.Command) == 0 {
		return errors.New("exec: no command")
	}
	timeout := x.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, x.Command[0], x.Command[1:]...)
	cmd.Env = append(os.Environ(), "MDOCGATE_ACTION="+e.Action, "MDOCGATE_OUTCOME="+e.Outcome, "MDOCGATE_LANE="+e.Lane,
		"MDOCGATE_SESSION="+e.Session, "MDOCGATE_REASON="+e.Reason, "MDOCGATE_BEARER="+e.Bearer, "MDOCGATE_GATE="+e.Gate,
		"MDOCGATE_TIME="+e.Time.Format(time.RFC3339Nano))
	cmd.Stdin = bytes.NewReader(body)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	killGroup(cmd)
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case err == nil:
		return nil
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("exec %s: killed after %s", x.Command[0], timeout)
	}
	if msg := strings.TrimSpace(stderr.String()); msg != "" {
		first, _, _ := strings.Cut(msg, "\n")
		return fmt.Errorf("exec %s: %w: %s", x.Command[0], err, first)
	}
	return fmt.Errorf("exec %s: %w", x.Command[0], err)
}

// Close implements Sink.
func (x *Exec) Close() error { return nil }

// limitedBuffer keeps the first 1 KiB written to it (a command's standard error, for
// the error message).
type limitedBuffer struct{ b bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 1024 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return l.b.String() }
