// Package chromium drives Debian's headless Chromium (installed by .ci/chromium.sh) over
// the DevTools protocol on a pipe, for the tests that check a page in a real browser:
// the dashboard's, the verifier page's. Tests only.
package chromium

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Path is Debian's Chromium, installed by .ci/chromium.sh.
const Path = "/usr/bin/chromium"

// Find finds the browser ($MDOCGATE_CHROMIUM overrides the path). The test never
// installs anything itself. Without Chromium it skips when not root (a developer's
// machine without it) and fails when root: CI runs as root and .ci/run calls
// .ci/chromium.sh before the tests, so a missing browser there is a broken CI setup,
// not a reason to skip the acceptance check silently.
func Find(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MDOCGATE_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat(Path); err == nil {
		return Path
	}
	if os.Geteuid() != 0 {
		t.Skipf("%s not found and not root: install Debian's chromium (sudo bash .ci/chromium.sh) to run the browser tests", Path)
	}
	t.Fatalf("%s not found: run `bash .ci/chromium.sh` (as root) before the tests, as .ci/run does", Path)
	return ""
}

// Tail is the last n bytes of s.
func Tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Event is a DevTools protocol event (a message without an id).
type Event struct {
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
	SessionID string          `json:"sessionId"`
}

// Events delivers the events the browser sends (up to 64 unread; later ones are
// dropped). Read them on the test's goroutine: a handler may call back into the browser.
func (b *Browser) Events() <-chan Event { return b.events }

// Browser drives headless Chromium over the DevTools protocol on a pipe
// (--remote-debugging-pipe: requests on fd 3, replies and events on fd 4, each a JSON
// object ended by a NUL byte). It needs no WebSocket and no client library.
type Browser struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	stderr  bytes.Buffer
	mu      sync.Mutex
	next    int
	waiting map[int]chan cdpReply
	readErr chan error
	session string
	events  chan Event
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// chromiumFlags are the environment's headless flags; a fresh profile is added per run.
var chromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio"}

// Start launches Chromium with a window of w×h and attaches to its first page.
func Start(ctx context.Context, t *testing.T, bin string, w, h int) *Browser {
	t.Helper()
	toChrome, chromeIn, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	chromeOut, fromChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+t.TempDir(), "--remote-debugging-pipe",
		fmt.Sprintf("--window-size=%d,%d", w, h), "about:blank")
	b := &Browser{cmd: exec.Command(bin, args...), in: chromeIn, waiting: map[int]chan cdpReply{}, readErr: make(chan error, 1),
		events: make(chan Event, 64)}
	b.cmd.ExtraFiles = []*os.File{toChrome, fromChrome} // fd 3 and fd 4 in the child
	b.cmd.Stderr = &b.stderr
	b.cmd.WaitDelay = 2 * time.Second
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toChrome.Close()
	fromChrome.Close()
	go b.read(chromeOut)
	t.Cleanup(b.close)

	var targets struct {
		TargetInfos []struct{ TargetID, Type string } `json:"targetInfos"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.Call(ctx, t, "", "Target.getTargets", nil, &targets)
		for _, ti := range targets.TargetInfos {
			if ti.Type == "page" {
				var att struct {
					SessionID string `json:"sessionId"`
				}
				b.Call(ctx, t, "", "Target.attachToTarget", map[string]any{"targetId": ti.TargetID, "flatten": true}, &att)
				b.session = att.SessionID
				// the viewport exactly w×h, whatever the headless window's decorations
				b.Page(ctx, t, "Emulation.setDeviceMetricsOverride",
					map[string]any{"width": w, "height": h, "deviceScaleFactor": 1, "mobile": false}, nil)
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromium has no page target: %+v", targets)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *Browser) read(r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			b.readErr <- err
			b.mu.Lock()
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var m struct {
			ID *int `json:"id"`
			cdpReply
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil {
			continue
		}
		if m.ID == nil { // an event: kept for Events, dropped when nobody reads them
			var e Event
			if json.Unmarshal(msg[:len(msg)-1], &e) == nil {
				select {
				case b.events <- e:
				default:
				}
			}
			continue
		}
		b.mu.Lock()
		ch := b.waiting[*m.ID]
		delete(b.waiting, *m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

// Call sends one command (to the page session unless session is "" for the browser)
// and decodes its result into out.
func (b *Browser) Call(ctx context.Context, t *testing.T, session, method string, params any, out any) {
	t.Helper()
	if err := b.try(ctx, session, method, params, out); err != nil {
		t.Fatalf("%s: %v\nchromium stderr (tail):\n%s", method, err, Tail(b.stderr.String(), 1500))
	}
}

func (b *Browser) try(ctx context.Context, session, method string, params any, out any) error {
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan cdpReply, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	req := map[string]any{"id": id, "method": method}
	if params != nil {
		req["params"] = params
	}
	if session != "" {
		req["sessionId"] = session
	}
	msg, _ := json.Marshal(req)
	if _, err := b.in.Write(append(msg, 0)); err != nil {
		return err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return errors.New("chromium closed the pipe")
		}
		if r.Error != nil {
			return fmt.Errorf("error %d: %s", r.Error.Code, r.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Page runs a command on the attached page.
func (b *Browser) Page(ctx context.Context, t *testing.T, method string, params any, out any) {
	t.Helper()
	b.Call(ctx, t, b.session, method, params, out)
}

// Eval evaluates a JavaScript expression in the page and returns its JSON value.
func (b *Browser) Eval(ctx context.Context, t *testing.T, expr string) json.RawMessage {
	t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	b.Page(ctx, t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r)
	if r.ExceptionDetails != nil {
		t.Fatalf("evaluate %q: %v", expr, r.ExceptionDetails)
	}
	return r.Result.Value
}

// WaitEval polls expr until it is true.
func (b *Browser) WaitEval(ctx context.Context, t *testing.T, expr, what string) {
	t.Helper()
	for {
		if string(b.Eval(ctx, t, expr)) == "true" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s (%s)", what, expr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Screenshot captures the viewport as PNG bytes.
func (b *Browser) Screenshot(ctx context.Context, t *testing.T) []byte {
	t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	b.Page(ctx, t, "Page.captureScreenshot", map[string]any{"format": "png"}, &r)
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	return png
}

// close asks the browser to quit and waits for it (killing it after a grace period).
func (b *Browser) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_ = b.try(ctx, "", "Browser.close", nil, nil)
	cancel()
	b.in.Close()
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
	select { // the pipe reader ends when the browser's end of fd 4 closes
	case <-b.readErr:
	case <-time.After(5 * time.Second):
	}
}
