package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/internal/chromium"
)

// TestDashboardInChromium serves the dashboard fed by a fake engine, opens it in
// headless Chromium, waits for the event stream to deliver, checks what the page shows
// (tiles, lane rows, recent verdicts, no personal data), publishes more verdicts and
// checks the page updates live, then takes a screenshot and checks it is a rendered
// page (right size, many colours, the outcome and throughput colours present).
func TestDashboardInChromium(t *testing.T) {
	bin := chromium.Find(t)
	start := time.Now()
	src := newFake()
	d := New(src, Options{Title: "Terminal 2", Interval: 200 * time.Millisecond})
	feed(src)
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", http.StripPrefix("/dashboard", d))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer d.Close() // first: it ends the browser's event stream, which srv.Close waits for

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := chromium.Start(ctx, t, bin, 1280, 900)
	t.Logf("chromium up in %v", time.Since(start).Round(time.Millisecond))
	b.Page(ctx, t, "Page.navigate", map[string]any{"url": srv.URL + "/dashboard/"}, nil)
	b.WaitEval(ctx, t, `!!document.body && document.body.dataset.sessions === "14"`, "the first snapshot")

	// what the page shows, read from the DOM
	type view struct {
		Status, Title, Sessions, Busy, InFlight, Queue, Accepted string
		Lanes                                                    map[string]map[string]string
		Recent                                                   [][]string
		HTML                                                     string
	}
	read := func() view {
		var v view
		raw := b.Eval(ctx, t, `(() => {
			const txt = (id) => document.getElementById(id).textContent;
			const lanes = {};
			for (const tr of document.querySelectorAll("#lanes tbody tr[data-lane]")) {
				const row = { bearer: tr.children[1].textContent };
				for (const td of tr.querySelectorAll("td[data-field]")) row[td.dataset.field] = td.textContent;
				lanes[tr.dataset.lane] = row;
			}
			const recent = [...document.querySelectorAll("#recent tbody tr[data-session]")].map(tr => [...tr.children].map(td => td.textContent));
			return { Status: txt("status"), Title: txt("title"), Sessions: txt("t-sessions"), Busy: txt("t-busy"),
				InFlight: txt("t-inflight"), Queue: txt("t-queue"), Accepted: txt("t-accepted"),
				Lanes: lanes, Recent: recent, HTML: document.documentElement.outerHTML };
		})()`)
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := read()
	if v.Status != "live" || v.Title != "Terminal 2 — live" || v.Sessions != "14" || v.Busy != "4" || v.InFlight != "2" ||
		v.Queue != "3" || v.Accepted != "71%" {
		t.Errorf("tiles: %+v", v)
	}
	want := map[string]map[string]string{
		"gate-north": {"bearer": "memory", "sessions": "10", "accepted": "7", "rejected": "2", "errors": "0", "timeouts": "1", "p50": "40", "p99": "300"},
		"gate-south": {"bearer": "ble", "sessions": "4", "accepted": "3", "rejected": "0", "errors": "1", "timeouts": "0", "p50": "120"},
	}
	for lane, fields := range want {
		for k, w := range fields {
			if got := v.Lanes[lane][k]; got != w {
				t.Errorf("lane %s %s shows %q, want %q", lane, k, got, w)
			}
		}
	}
	if len(v.Recent) != 14 || v.Recent[0][2] != "gate-south" || v.Recent[0][4] != "error" || v.Recent[0][5] != "cbor_decoding" {
		t.Errorf("recent verdicts: %v", v.Recent)
	}
	if strings.Contains(v.HTML, "Erika") || strings.Contains(v.HTML, "1964") {
		t.Error("the page shows verdict details (personal data)")
	}

	// live update: a third lane appears and counts move without a reload
	now := time.Now()
	for i := 0; i < 6; i++ {
		o := readersession.Accepted
		if i == 5 {
			o = readersession.Rejected
		}
		src.publish(&actors.SessionVerdict{SessionID: fmt.Sprintf("e%015d", i), Lane: "gate-east", Bearer: "wifiaware",
			Outcome: o, Reason: map[bool]string{true: "device_auth.signature"}[i == 5], Detail: secret,
			Started: now.Add(-80 * time.Millisecond), Ended: now})
	}
	src.counters.Busy.Store(9)
	b.WaitEval(ctx, t, `document.body.dataset.sessions === "20" && document.getElementById("t-busy").textContent === "9"`, "the live update")
	v = read()
	if e := v.Lanes["gate-east"]; e["sessions"] != "6" || e["rejected"] != "1" || e["bearer"] != "wifiaware" || v.Recent[0][5] != "device_auth.signature" {
		t.Errorf("after the update: gate-east %v, newest %v", e, v.Recent[0])
	}
	if len(v.Recent) != 20 {
		t.Errorf("%d recent rows, want 20", len(v.Recent))
	}

	// the screenshot
	shot := b.Screenshot(ctx, t)
	dir := t.TempDir()
	if d := os.Getenv("MDOCGATE_SCREENSHOT_DIR"); d != "" {
		dir = d
	}
	path := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	checkScreenshot(t, img)
	t.Logf("screenshot %s: %v, %d bytes; whole test %v", path, img.Bounds().Size(), len(shot), time.Since(start).Round(time.Millisecond))
}

// checkScreenshot checks the picture is the rendered dashboard rather than a blank or
// error page: the viewport size, many distinct colours, and enough pixels of the
// accepted-outcome green, the throughput blue and the error red.
func checkScreenshot(t *testing.T, img image.Image) {
	t.Helper()
	r := img.Bounds()
	if r.Dx() != 1280 || r.Dy() != 900 {
		t.Errorf("screenshot is %v, want 1280×900", r.Size())
	}
	colours := map[uint32]bool{}
	near := func(c [3]uint32, want [3]uint32) bool {
		for i := range c {
			if d := int(c[i]) - int(want[i]); d < -12 || d > 12 {
				return false
			}
		}
		return true
	}
	var green, blue, red int
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			c := [3]uint32{cr >> 8, cg >> 8, cb >> 8}
			colours[c[0]<<16|c[1]<<8|c[2]] = true
			switch {
			case near(c, [3]uint32{0x2e, 0xa0, 0x43}):
				green++
			case near(c, [3]uint32{0x58, 0xa6, 0xff}):
				blue++
			case near(c, [3]uint32{0xf8, 0x51, 0x49}):
				red++
			}
		}
	}
	t.Logf("screenshot: %d colours; accepted-green %d px, throughput-blue %d px, error-red %d px", len(colours), green, blue, red)
	if len(colours) < 50 {
		t.Errorf("screenshot looks blank: %d colours", len(colours))
	}
	if green < 500 || blue < 200 || red < 50 {
		t.Errorf("screenshot lacks the outcome mix or throughput bars (green %d, blue %d, red %d px)", green, blue, red)
	}
}

// TestDashboardTokenInChromium: behind a bearer token (as a gate with ops_auth serves
// it), the page takes the token from #token= in its address (and drops it from the
// address), or asks for it with its sign-in form, and streams with it; a wrong token
// brings the form back.
func TestDashboardTokenInChromium(t *testing.T) {
	bin := chromium.Find(t)
	src := newFake()
	d := New(src, Options{Title: "Guarded", Interval: 200 * time.Millisecond})
	feed(src)
	const token = "op-token-0123456789abcdef"
	var refused atomic.Int64
	guarded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := r.URL.Path == "/dashboard/"
		if r.Header.Get("Authorization") != "Bearer "+token && !page { // the page holds no data
			refused.Add(1)
			http.Error(w, "token required", http.StatusUnauthorized)
			return
		}
		http.StripPrefix("/dashboard", d).ServeHTTP(w, r)
	})
	srv := httptest.NewServer(guarded)
	defer srv.Close()
	defer d.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := chromium.Start(ctx, t, bin, 1024, 700)
	b.Page(ctx, t, "Page.navigate", map[string]any{"url": srv.URL + "/dashboard/#token=" + token}, nil)
	b.WaitEval(ctx, t, `!!document.body && document.body.dataset.sessions === "14"`, "the first snapshot with the token of the address")
	if got := string(b.Eval(ctx, t, `location.hash`)); got != `""` {
		t.Errorf("the token stayed in the address: %s", got)
	}
	// a wrong token: the form comes back; signing in with the right one streams again
	b.Eval(ctx, t, `sessionStorage.setItem("mdocgate-ops-token", "wrong"); "ok"`)
	b.Page(ctx, t, "Page.navigate", map[string]any{"url": srv.URL + "/dashboard/"}, nil)
	b.WaitEval(ctx, t, `!!document.getElementById("login") && document.getElementById("login").classList.contains("shown") &&
		document.getElementById("status").textContent === "token refused"`, "the sign-in form after a wrong token")
	b.Eval(ctx, t, `document.getElementById("token").value = "`+token+`"; document.getElementById("login").requestSubmit(); "ok"`)
	b.WaitEval(ctx, t, `document.body.dataset.sessions === "14" && document.getElementById("status").textContent === "live" &&
		!document.getElementById("login").classList.contains("shown")`, "snapshots after signing in")
	if refused.Load() == 0 {
		t.Error("the wrong token was never refused: the test proves nothing")
	}
}
