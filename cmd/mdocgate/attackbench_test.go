package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/supervisor/load"
)

// attackbench runs end to end on a small scale (the built binary: it starts itself as
// the gate and as the attackers' process): legitimate holders, a process of attackers;
// the engage flooders are answered busy, the ops endpoints answer, nothing is lost.
func TestAttackBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gate and an attackers' process")
	}
	bin := gateBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "attackbench", "--attackers", "2", "--rate", "20", "--holders", "8", "--duration", "1s",
		"--cost-sessions", "40", "--cost-messages", "1", "--kinds", "engage_flood,silent,conn_flood", "--file-limit", "1024", "--json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var rep load.AttackReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
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
