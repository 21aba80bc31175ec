// Package layers holds the test that keeps the module's dependencies pointing one way,
// as the design card draws them: messages ← crypto ← transports ← actors ← supervisor
// ← cmd. A package may import packages of its own layer or of lower layers, never of a
// higher one; the test kits under internal/ are for tests only.
package layers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/mdocgate/mdocgate"

// order is the layers from the bottom up: each top-level folder of the module.
var order = []string{"messages", "crypto", "transports", "actors", "supervisor", "cmd"}

// kits is the folder of the test-only kits: importable by tests only.
const kits = "internal"

type pkg struct {
	ImportPath string
	Imports    []string // non-test imports
	Error      *struct{ Err string }
}

// layerOf returns the index of rel's layer in order, or -1 for a package in none.
func layerOf(rel string) int {
	return slices.Index(order, strings.SplitN(rel, "/", 2)[0])
}

// violations lists every non-test import that breaks the direction, naming both
// packages (module-relative).
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		from, ok := strings.CutPrefix(p.ImportPath, module+"/")
		if !ok {
			continue
		}
		isKit := strings.HasPrefix(from, kits+"/")
		lf := layerOf(from)
		if lf < 0 && !isKit {
			out = append(out, fmt.Sprintf("%s is in no layer (%s); give its folder a place in the order", from, strings.Join(order, " ← ")))
			continue
		}
		for _, imp := range p.Imports {
			to, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			switch lt := layerOf(to); {
			case strings.HasPrefix(to, kits+"/") && !isKit:
				out = append(out, fmt.Sprintf("%s imports %s: the kits under %s/ are for tests only", from, to, kits))
			case isKit || lt < 0:
				// a kit may use any layer; a package in no layer is reported on its own
			case lt > lf:
				out = append(out, fmt.Sprintf("%s imports %s: %s may not import %s (%s)",
					from, to, order[lf], order[lt], strings.Join(order, " ← ")))
			}
		}
	}
	return out
}

// list runs go list on every package of the module.
func list(t *testing.T) []pkg {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the packages: %v", err)
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	cmd := exec.Command(goBin, "list", "-e", "-json=ImportPath,Imports,Error", "./...")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < len(order) {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func TestLayers(t *testing.T) {
	for _, v := range violations(list(t)) {
		t.Error(v)
	}
}

// The check itself: a reverse import, a production import of a kit and a package in
// no layer are each reported, naming the packages; imports downwards, sideways and
// from a kit are not.
func TestViolations(t *testing.T) {
	m := func(rel string) string { return module + "/" + rel }
	pkgs := []pkg{
		{ImportPath: m("crypto/verify"), Imports: []string{m("messages"), m("crypto/keys"), "fmt"}},
		{ImportPath: m("messages"), Imports: []string{m("crypto/keys")}},
		{ImportPath: m("actors"), Imports: []string{m("internal/testpki"), m("transports")}},
		{ImportPath: m("internal/testpki"), Imports: []string{m("crypto/issuer"), m("actors")}},
		{ImportPath: m("cmd/mdocgate"), Imports: []string{m("supervisor"), m("messages")}},
		{ImportPath: m("tools/gen"), Imports: []string{m("messages")}},
	}
	got := violations(pkgs)
	want := []string{
		"messages imports crypto/keys: messages may not import crypto",
		"actors imports internal/testpki: the kits under internal/ are for tests only",
		"tools/gen is in no layer",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d violations, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("violation %d: %q, want it to start with %q", i, got[i], want[i])
		}
	}
}

// readerPackages run at a gate; testOnly are the test issuing authority and the
// simulated holder's presenting code, which no gate may link.
var (
	readerPackages = []string{"supervisor/daemon", "actors/readersession", "crypto/verify", "crypto/profile", "crypto/trust", "crypto/request"}
	testOnly       = []string{"crypto/issuer", "crypto/holder", "actors/holdersession"}
)

// deps returns the transitive module-relative dependencies of each package.
func deps(t *testing.T, rels []string) map[string][]string {
	t.Helper()
	pkgs := list(t)
	imports := map[string][]string{}
	for _, p := range pkgs {
		from, _ := strings.CutPrefix(p.ImportPath, module+"/")
		for _, imp := range p.Imports {
			if to, ok := strings.CutPrefix(imp, module+"/"); ok {
				imports[from] = append(imports[from], to)
			}
		}
	}
	out := map[string][]string{}
	for _, rel := range rels {
		seen := map[string]bool{}
		var walk func(string)
		walk = func(p string) {
			for _, d := range imports[p] {
				if !seen[d] {
					seen[d] = true
					walk(d)
				}
			}
		}
		walk(rel)
		for d := range seen {
			out[rel] = append(out[rel], d)
		}
		slices.Sort(out[rel])
	}
	return out
}

// The reader's packages, the gate daemon among them, link neither the test issuing
// authority nor the simulated holder.
func TestReaderLinksNoTestAuthority(t *testing.T) {
	for rel, ds := range deps(t, readerPackages) {
		for _, bad := range testOnly {
			if slices.Contains(ds, bad) {
				t.Errorf("%s depends on %s (a test-only package)", rel, bad)
			}
		}
	}
}
