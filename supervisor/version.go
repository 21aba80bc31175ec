package supervisor

import (
	"runtime"
	"runtime/debug"
)

// BuildInfo is what the running binary was built from, as the Go toolchain stamped it.
type BuildInfo struct {
	// Version is the main module's version: a release tag, a pseudo-version of the
	// commit (with +dirty when the tree had changes) or "(devel)".
	Version string `json:"version"`
	// Commit and CommitTime are the VCS revision and its time; empty when the binary
	// was built without VCS information (go run, -buildvcs=false).
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	// Modified reports uncommitted changes in the tree that was built.
	Modified bool `json:"modified,omitempty"`
	// Go is the toolchain's version.
	Go string `json:"go"`
}

// Set with -ldflags "-X github.com/mdocgate/mdocgate/supervisor.version=… -X …commit=…"
// where the build has no VCS information to stamp (a container build without .git);
// they win over what the toolchain stamped.
var version, commit string

// ReadBuildInfo returns the running binary's BuildInfo.
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Version: "(unknown)", Go: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.CommitTime = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		b.Version = version
	}
	if commit != "" {
		b.Commit = commit
	}
	return b
}
