package main

import (
	"context"
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
	c := venue.DenyCommand{Op: args[0]}
	fs := newFlags("deny "+c.Op, stderr)
	url := fs.String("venue", "", "a NATS URL of the venue's cluster (nats://HOST:PORT; comma-separated for several)")
	fs.StringVar(&c.Name, "name", "", "the venue's name (default: the one venue on the cluster)")
	fs.StringVar(&c.Note, "note", "", "add: why (kept with the entry)")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on the whole command")
	pos, code, ok := parseInterleaved(fs, args[1:])
	if !ok {
		return code
	}
	if *url == "" {
		return fail(stderr, "deny", errors.New("--venue: give a NATS URL of the venue"))
	}
	if (c.Op == "list") != (len(pos) == 0) || len(pos) > 1 {
		return fail(stderr, "deny", fmt.Errorf("%s takes %s", c.Op, map[bool]string{true: "no KEY", false: "one KEY: a credential key a gate logged (64 hex digits) or dk:DOCTYPE:THUMBPRINT / dn:COUNTRY:NUMBER"}[c.Op == "list"]))
	}
	if len(pos) == 1 {
		c.Key = pos[0]
	}
	c.URLs = strings.Split(*url, ",")
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	line, err := venue.Deny(ctx, c)
	if err != nil {
		return fail(stderr, "deny", err)
	}
	daemon.NewLines(stdout).Print(line)
	if line["was_listed"] == false { // remove of a credential that was not listed
		return exitInvalid
	}
	return exitOK
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := loadgen.Work(ctx, *url, *name, daemon.NewLines(stdout).Print); err != nil {
		return fail(stderr, "loadgen", err)
	}
	return exitOK
}
