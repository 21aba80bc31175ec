package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/mdocgate/mdocgate/supervisor"
)

func init() {
	register(command{"version", "print the version, commit and Go version this binary was built from", runVersion})
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", stderr)
	asJSON := fs.Bool("json", false, `print {"version","commit","commit_time","modified","go"}`)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fail(stderr, "version", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	b := supervisor.ReadBuildInfo()
	if *asJSON {
		out, _ := json.Marshal(b)
		fmt.Fprintln(stdout, string(out))
		return exitOK
	}
	commit := b.Commit
	if commit == "" {
		commit = "unknown commit"
	}
	if b.Modified {
		commit += ", modified"
	}
	if b.CommitTime != "" {
		commit += ", " + b.CommitTime
	}
	fmt.Fprintf(stdout, "mdocgate %s (%s) %s\n", b.Version, commit, b.Go)
	return exitOK
}
