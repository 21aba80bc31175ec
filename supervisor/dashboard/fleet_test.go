package dashboard

import (
	"context"
	"encoding/json"
	"github.com/mdocgate/mdocgate/internal/chromium"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A gate in a venue: the page shows the fleet (every gate, every zone, the venue's
// total) from Options.Fleet; without it the section stays hidden.
func TestDashboardFleetInChromium(t *testing.T) {
	bin := chromium.Find(t)
	counts := func(s, a, r, ap int) map[string]int {
		return map[string]int{"sessions": s, "accepted": a, "rejected": r, "anti_passback": ap}
	}
	fleet := map[string]any{"venue": "arena",
		"gates": []any{
			map[string]any{"gate": "gate-0", "age_s": 0.4, "total": counts(10, 1, 9, 9)},
			map[string]any{"gate": "gate-1", "age_s": 0.9, "total": counts(5, 0, 5, 5)},
		},
		"zones": []any{map[string]any{"zone": "north", "sessions": 15, "accepted": 1, "rejected": 14, "anti_passback": 14}},
		"total": counts(15, 1, 14, 14)}
	src := newFake()
	d := New(src, Options{Title: "gate-0", Interval: 200 * time.Millisecond, Fleet: func() any { return fleet }})
	feed(src)
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", http.StripPrefix("/dashboard", d))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := chromium.Start(ctx, t, bin, 1280, 1100)
	b.Page(ctx, t, "Page.navigate", map[string]any{"url": srv.URL + "/dashboard/"}, nil)
	b.WaitEval(ctx, t, `!!document.body && !document.getElementById("fleet-section").hidden`, "the fleet section")
	raw := b.Eval(ctx, t, `(() => {
		const rows = {};
		for (const tr of document.querySelectorAll("#fleet tbody tr[data-fleet]")) {
			const row = {};
			for (const td of tr.querySelectorAll("td[data-field]")) row[td.dataset.field] = td.textContent;
			rows[tr.dataset.fleet] = row;
		}
		return { title: document.getElementById("fleet-title").textContent, rows };
	})()`)
	var v struct {
		Title string
		Rows  map[string]map[string]string
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if v.Title != "Venue arena — fleet" || len(v.Rows) != 4 || v.Rows["gate:gate-0"]["anti_passback"] != "9" ||
		v.Rows["gate:gate-1"]["sessions"] != "5" || v.Rows["zone:zone north"]["rejected"] != "14" ||
		v.Rows["total:venue total"]["accepted"] != "1" {
		t.Fatalf("fleet shown: %+v", v)
	}
	if dir := os.Getenv("MDOCGATE_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "dashboard-fleet.png"), b.Screenshot(ctx, t), 0o644)
	}
}
