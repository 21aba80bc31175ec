package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/mdocgate/mdocgate/supervisor/load"
)

// TestMain lets attackbench run this test binary as `mdocgate serve` and as its
// attackers' process (it starts os.Executable()).
func TestMain(m *testing.M) {
	if os.Getenv("MDOCGATE_TEST_AS_CLI") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// attackbench runs end to end on a small scale: a gate process, legitimate holders, a
// process of attackers; the engage flooders are answered busy, the ops endpoints answer,
// nothing is lost.
func TestAttackBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gate and an attackers' process")
	}
	t.Setenv("MDOCGATE_TEST_AS_CLI", "1")
	code, stdout, stderr := runCLI(t, "attackbench", "--attackers", "2", "--rate", "20", "--holders", "8", "--duration", "1s",
		"--cost-sessions", "5", "--cost-messages", "1", "--kinds", "engage_flood,silent,conn_flood", "--file-limit", "1024", "--json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep load.AttackReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if rep.Lost != 0 || rep.Cost.NormalSessionMs <= 0 || len(rep.Cost.Messages) != 2 || rep.Baseline.Completed == 0 ||
		rep.UnderAttack.Attempts == 0 || rep.MaxConnections != 1024-256-64 {
		t.Fatalf("report %+v", rep)
	}
	if a := rep.Attack; a == nil || a.Attacks["engage_flood"] == nil || a.Attacks["engage_flood"].Busy == 0 || a.Attacks["conn_flood"].Attempts == 0 {
		t.Fatalf("attacks %+v", rep.Attack)
	}
	if rep.Gate[`mdocgate_client_refusals_total{what="engagement_rate"}`] == 0 || rep.Ops.Probes == 0 || rep.Ops.OK != rep.Ops.Probes {
		t.Fatalf("gate counters %v, ops %+v", rep.Gate, rep.Ops)
	}
}
