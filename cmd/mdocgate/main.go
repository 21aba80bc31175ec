// Command mdocgate is the mdoc reader engine's command line: the gate daemon (serve),
// demo, load and soak runs, and tools to verify, decode, issue, present and engage. It
// parses flags, calls a library and prints.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/supervisor"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitInvalid = 1 // the input was read and found not valid
	exitUsage   = 2 // the input could not be read or parsed, or the command line is wrong
)

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// registered holds commands that register themselves from their own file (init),
// so that adding a command touches no shared list.
var registered []command

func register(c command) { registered = append(registered, c) }

func commands() []command {
	return append([]command{
		{"demo", "run hundreds of simulated holders at in-process lanes and summarize the verdicts", runDemo},
		{"loadtest", "drive simulated holders against in-process reader lanes and report throughput", runLoadtest},
		{"soak", "run a steady load for a long time and watch RSS and goroutines for growth", runSoak},
		{"verify", "verify a DeviceResponse against a SessionTranscript", runVerify},
		{"decode", "print any mdoc CBOR structure as JSON", runDecode},
		{"issue", "create a test IACA, DS, device key and credential", runIssue},
		{"present", "build a DeviceResponse from a credential", runPresent},
		{"engage", "show an engagement QR code (--qr) or read one from an image (--read)", runEngage},
	}, registered...)
}

func main() {
	// Throughput settings for the collector (supervisor.TuneGC), except for soak: a leak
	// hunt wants Go's default pacing, under which the heap settles within seconds, so that
	// growth after warm-up is the process's and not the collector's (with GOGC=400 the
	// heap takes minutes to reach its steady size).
	if len(os.Args) < 2 || os.Args[1] != "soak" {
		supervisor.TuneGC()
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "mdocgate: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mdocgate <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'mdocgate <command> -h' for a command's flags.")
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mdocgate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses and maps -h to exit 0 and other errors to exit 2.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

// fail prints a one-line error and returns exit code 2.
func fail(stderr io.Writer, cmd string, err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintf(stderr, "mdocgate %s: %s\n", cmd, msg)
	return exitUsage
}

// writeJSON prints v as indented JSON; it returns the exit code (2 when it cannot).
func writeJSON(stdout, stderr io.Writer, cmd string, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fail(stderr, cmd, err)
	}
	return exitOK
}

// readInput reads a CBOR input file given raw or as hex text (messages.ReadInput); "-"
// reads standard input.
func readInput(path string) ([]byte, error) {
	r := io.Reader(os.Stdin)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := messages.ReadInput(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
