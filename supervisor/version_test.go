package supervisor

import (
	"runtime"
	"testing"
)

// String is the version line: the commit, whether it was modified and its time in
// parentheses, an unknown commit said so.
func TestBuildInfoString(t *testing.T) {
	for _, c := range []struct {
		b    BuildInfo
		want string
	}{
		{BuildInfo{Version: "v1.2.3", Commit: "abc123", CommitTime: "2025-01-02T03:04:05Z", Go: "go1.24.0"},
			"v1.2.3 (abc123, 2025-01-02T03:04:05Z) go1.24.0"},
		{BuildInfo{Version: "(devel)", Commit: "abc123", Modified: true, CommitTime: "2025-01-02T03:04:05Z", Go: "go1.24.0"},
			"(devel) (abc123, modified, 2025-01-02T03:04:05Z) go1.24.0"},
		{BuildInfo{Version: "(unknown)", Go: "go1.24.0"}, "(unknown) (unknown commit) go1.24.0"},
	} {
		if got := c.b.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.b, got, c.want)
		}
	}
	if b := ReadBuildInfo(); b.Go != runtime.Version() || b.Version == "" {
		t.Errorf("ReadBuildInfo: %+v", b)
	}
}
