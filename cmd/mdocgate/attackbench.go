package main

import (
	"context"

	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mdocgate/mdocgate/supervisor/load"
)

func init() {
	register(command{"attackbench", "run a gate (serve) under every attack of issue 15 next to legitimate holders, and measure", runAttackBench})
}

func runAttackBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attackbench", stderr)
	attackers := fs.Int("attackers", 16, "attackers of each kind, each from its own loopback address")
	rate := fs.Float64("rate", 100, "legitimate holders arriving a second, each from its own loopback address")
	holders := fs.Int("holders", 64, "legitimate holders at once at most")
	duration := fs.Duration("duration", 20*time.Second, "length of the baseline and of the attack phase")
	fileLimit := fs.Int("file-limit", 4096, "the gate's open file limit (ulimit -n)")
	kinds := fs.String("kinds", strings.Join(load.AttackKinds, ","), "attacks to run")
	costSessions := fs.Int("cost-sessions", 300, "normal sessions timed one at a time for the CPU of one")
	costMessages := fs.Int("cost-messages", 4, "amplifying messages of each kind timed one at a time")
	jsonOut := fs.Bool("json", false, "print the report as JSON (otherwise text)")
	child := fs.String("attackers-child", "", "(internal) run the attackers of this file until SIGTERM and print what they did")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *child != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := load.RunAttackersFile(ctx, *child, stdout); err != nil {
			return fail(stderr, "attackbench", err)
		}
		return exitOK
	}
	self, err := os.Executable()
	if err != nil {
		return fail(stderr, "attackbench", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := load.RunAttack(ctx, load.AttackConfig{Gate: []string{self, "serve"},
		AttackersCommand: []string{self, "attackbench", "--attackers-child"}, FileLimit: *fileLimit, Attackers: *attackers,
		Kinds: strings.Split(*kinds, ","), Rate: *rate, Holders: *holders, Duration: *duration, CostSessions: *costSessions,
		CostMessages: *costMessages, Log: stderr})
	if rep == nil {
		return fail(stderr, "attackbench", err)
	}
	if *jsonOut {
		if code := writeJSON(stdout, stderr, "attackbench", rep); code != exitOK {
			return code
		}
	} else {
		rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mdocgate attackbench: %v\n", err)
		return exitInvalid
	}
	if rep.Lost != 0 {
		fmt.Fprintln(stderr, "mdocgate attackbench: sessions lost")
		return exitInvalid
	}
	return exitOK
}
