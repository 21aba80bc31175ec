package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/supervisor"
	"github.com/mdocgate/mdocgate/supervisor/load"
)

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", stderr)
	jsonOut := fs.Bool("json", false, "print the summary as one JSON object")
	holders := fs.Int("holders", 300, "simulated holders")
	lanes := fs.Int("lanes", 1, "reader lanes per bearer")
	bearers := fs.String("transports", "memory,nfc,nfc>ble-central,ble,wifiaware", "bearers to run lanes on (see loadtest --help); ENGAGEMENT>DATA engages on one and hands the session to the other (nfc>ble-central, nfc>wifiaware, ...)")
	concurrency := fs.Int("concurrency", 48, "holders at the gates at once")
	single := fs.Bool("single", false, "run one session and print every check of its verdict")
	onlineHolders := fs.Int("online", 60, "simulated wallets at the online lanes (an oid4vp and a dcapi lane, as serve runs them); 0: none")
	logLevel := fs.String("log-level", "warn", "log level on stderr: debug, info, warn, error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *single {
		return runSingleDemo(stdout, stderr)
	}
	log, err := supervisor.NewLogger(stderr, *logLevel)
	if err != nil {
		return fail(stderr, "demo", err)
	}
	defer log.Sync()
	if !*jsonOut {
		fmt.Fprintf(stdout, "mdocgate demo: %d simulated holders (valid, slow, tampered, expired, untrusted issuer, forged device auth, silent, dropping link, garbage) at %d lane(s) on each of %s (ENGAGEMENT>DATA: engaged on one, handed to the other)\n",
			*holders, *lanes, *bearers)
	}
	cfg := load.Config{Transports: strings.Split(*bearers, ","), Lanes: *lanes, Holders: *holders, Concurrency: *concurrency,
		Mix: load.DemoMix, Timeout: 1500 * time.Millisecond, Think: 2 * time.Millisecond, Log: log}
	rep, code := runWithProgress(func(ctx context.Context, progress func(done, total int64)) (*load.Report, error) {
		cfg.Progress = progress
		return load.Run(ctx, cfg)
	}, stderr)
	if rep == nil {
		return code
	}
	var online *load.Report
	if *onlineHolders > 0 && code == exitOK {
		if !*jsonOut {
			fmt.Fprintf(stdout, "mdocgate demo: %d simulated wallets (the same mix) at an OpenID4VP lane and a Digital Credentials API lane\n", *onlineHolders)
		}
		ocfg := load.Config{Transport: load.TransportOID4VP, Lanes: 2, Holders: *onlineHolders, Concurrency: min(*concurrency, 16),
			Mix: load.DemoMix, Timeout: 1500 * time.Millisecond, Think: 2 * time.Millisecond, Log: log}
		if online, code = runWithProgress(func(ctx context.Context, progress func(done, total int64)) (*load.Report, error) {
			ocfg.Progress = progress
			return load.RunOID4VP(ctx, ocfg)
		}, stderr); online == nil {
			return code
		}
	}
	if *jsonOut {
		writeJSON(stdout, stderr, "demo", struct {
			*load.Report
			Online *load.Report `json:"online,omitempty"`
		}{rep, online})
	} else {
		rep.WriteText(stdout, "demo")
		if online != nil {
			online.WriteText(stdout, "demo: online lanes")
		}
	}
	if rep.Lost != 0 || rep.Mismatched != 0 || online != nil && (online.Lost != 0 || online.Mismatched != 0) {
		return exitInvalid
	}
	return code
}

// runSingleDemo runs one session and prints its verdict with every check.
func runSingleDemo(stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := load.RunSingle(ctx)
	if err != nil {
		return fail(stderr, "demo", err)
	}
	fmt.Fprintf(stdout, "verdict: %s", v.Outcome)
	if v.Reason != "" {
		fmt.Fprintf(stdout, " (%s: %s)", v.Reason, v.Detail)
	}
	fmt.Fprintln(stdout)
	if v.Result != nil {
		v.Result.WriteText(stdout)
	}
	if v.Outcome != readersession.Accepted {
		return exitInvalid
	}
	return exitOK
}
