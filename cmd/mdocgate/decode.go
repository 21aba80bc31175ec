package main

import (
	"fmt"
	"io"

	"github.com/mdocgate/mdocgate/messages"
)

func runDecode(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("decode", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mdocgate decode FILE   (CBOR or hex; - for standard input)")
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	data, err := readInput(fs.Arg(0))
	if err != nil {
		return fail(stderr, "decode", err)
	}
	kind, v, err := messages.Describe(data)
	if err != nil {
		return fail(stderr, "decode", err)
	}
	return writeJSON(stdout, stderr, "decode", map[string]any{"kind": kind, "value": v})
}
