package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mdocgate/mdocgate/supervisor/daemon"
	"github.com/mdocgate/mdocgate/supervisor/load"
	"github.com/mdocgate/mdocgate/supervisor/loadgen"
	"github.com/mdocgate/mdocgate/supervisor/venue"
)

func init() {
	register(command{"deny", "a venue's deny list: deny add|remove|list --venue NATS_URL [KEY]", runDeny})
	register(command{"loadgen", "a load worker of distributed load runs: loadgen --venue NATS_URL", runLoadgen})
}

// parseInterleaved parses flags that may come before or after the positional arguments
// and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var pos []string
	for {
		if code, ok := parseFlags(fs, args); !ok {
			return nil, code, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, exitOK, true
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func runDeny(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "add" && args[0] != "remove" && args[0] != "list") {
		return fail(stderr, "deny", errors.New("want deny add|remove|list --venue NATS_URL [--name VENUE] [KEY]"))
	}
	op := args[0]
	fs := newFlags("deny "+op, stderr)
	url := fs.String("venue", "", "a NATS URL of the venue's cluster (nats://HOST:PORT; comma-separated for several)")
	name := fs.String("name", "", "the venue's name (default: the one venue on the cluster)")
	note := fs.String("note", "", "add: why (kept with the entry)")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on the whole command")
	pos, code, ok := parseInterleaved(fs, args[1:])
	if !ok {
		return code
	}
	if *url == "" {
		return fail(stderr, "deny", errors.New("--venue: give a NATS URL of the venue"))
	}
	if (op == "list") != (len(pos) == 0) || len(pos) > 1 {
		return fail(stderr, "deny", fmt.Errorf("%s takes %s", op, map[bool]string{true: "no KEY", false: "one KEY: a credential key a gate logged (64 hex digits) or dk:DOCTYPE:THUMBPRINT / dn:COUNTRY:NUMBER"}[op == "list"]))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	urls := strings.Split(*url, ",")
	if *name == "" {
		n, err := venue.FindName(ctx, urls)
		if err != nil {
			return fail(stderr, "deny", err)
		}
		*name = n
	}
	v, err := venue.Connect(ctx, venue.Options{Name: *name, URLs: urls, Admin: true, SetupTimeout: *timeout})
	if err != nil {
		return fail(stderr, "deny", err)
	}
	defer v.Close()
	switch op {
	case "add":
		key, err := v.DenyAdd(ctx, pos[0], *note)
		if err != nil {
			return fail(stderr, "deny", err)
		}
		writeJSONLine(stdout, map[string]any{"venue": *name, "added": key})
	case "remove":
		key, found, err := v.DenyRemove(ctx, pos[0])
		if err != nil {
			return fail(stderr, "deny", err)
		}
		writeJSONLine(stdout, map[string]any{"venue": *name, "removed": key, "was_listed": found})
		if !found {
			return exitInvalid
		}
	case "list":
		list, err := v.DenyList(ctx)
		if err != nil {
			return fail(stderr, "deny", err)
		}
		writeJSONLine(stdout, map[string]any{"venue": *name, "deny": list})
	}
	return exitOK
}

func writeJSONLine(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	w.Write(append(b, '\n'))
}

func runLoadgen(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("loadgen", stderr)
	url := fs.String("venue", "", "a NATS URL of the venue's cluster (nats://HOST:PORT)")
	host, _ := os.Hostname()
	name := fs.String("name", fmt.Sprintf("%s-%d", strings.ReplaceAll(host, ".", "_"), os.Getpid()), "this worker's name in by_worker")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *url == "" {
		return fail(stderr, "loadgen", errors.New("--venue: give a NATS URL of the venue"))
	}
	nc, err := loadgen.Connect(*url, "mdocgate loadgen "+*name)
	if err != nil {
		return fail(stderr, "loadgen", err)
	}
	defer nc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lw := daemon.NewLines(stdout)
	lw.Print(map[string]any{"worker": *name, "venue": *url})
	err = loadgen.Serve(ctx, nc, *name, func(p loadgen.Plan, s *load.Shard, err error) {
		line := map[string]any{"worker": *name, "holders": p.Holders, "targets": p.Targets}
		if s != nil && s.Report != nil {
			line["sessions"], line["seconds"] = s.Report.Sessions, s.Report.Seconds
		}
		if err != nil {
			line["error"] = err.Error()
		}
		lw.Print(line)
	})
	if err != nil {
		return fail(stderr, "loadgen", err)
	}
	return exitOK
}
