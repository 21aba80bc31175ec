package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/webholder"
	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/web"
)

// The attacks of RunAttack (issue 15), each run by Attackers clients of its own.
const (
	// AttackAmplifyTrusted completes the handshake and answers with as many copies of
	// a trusted mDL as the lane's response limit lets through (one with a forged device
	// signature, so the session is not accepted).
	AttackAmplifyTrusted = "amplify_trusted"
	// AttackAmplifyForeign answers with as many documents as fit, under a self-made
	// issuer, with brainpoolP512r1 device keys (the dearest curve to verify) and
	// device signatures that do not verify.
	AttackAmplifyForeign = "amplify_foreign"
	// AttackHangup sends the foreign response and hangs up at once: its verification
	// job is queued for a holder that is gone.
	AttackHangup = "hangup"
	// AttackEngage asks for engagements (GET /engage) as fast as it is answered, every
	// other one with a QR image (?qr=png).
	AttackEngage = "engage_flood"
	// AttackSilent starts sessions (the handshake) and goes quiet, more at once than
	// its share.
	AttackSilent = "silent"
	// AttackConnFlood opens idle connections from many addresses, together more than
	// the gate's file limit, and reopens them as the gate closes them.
	AttackConnFlood = "conn_flood"
)

// AttackKinds are the attacks in the order RunAttack reports them.
var AttackKinds = []string{AttackAmplifyTrusted, AttackAmplifyForeign, AttackHangup, AttackEngage, AttackSilent, AttackConnFlood}

// AttackConfig is an attack benchmark: a real gate (`mdocgate serve`, a process of its
// own with its own file limit, so that its CPU time and memory are its own), legitimate
// holders alone, then the same holders with the attackers.
type AttackConfig struct {
	// Gate runs `mdocgate serve`; RunAttack adds --config with a gate of two web
	// lanes (websocket and http, profile mdl, the shipped limits).
	Gate []string
	// Attackers runs the attackers' process (RunAttackersFile); RunAttack adds the
	// file of its AttackersConfig. It runs at the lowest scheduling priority (nice 19):
	// the attackers' own CPU must not slow the gate or the legitimate holders on a
	// shared machine, as attackers on other machines would not.
	AttackersCommand []string
	// FileLimit is the gate's open file limit (ulimit -n; default 4096).
	FileLimit int
	// Attackers of each kind (default 16), Kinds the attacks (default AttackKinds).
	Attackers int
	Kinds     []string
	// Rate is the legitimate holders arriving a second (default 100), at most Holders at
	// once (default 64), each from its own address, for Duration (default 20 s) in each
	// phase: a gate with room to spare, as gates run.
	Rate     float64
	Holders  int
	Duration time.Duration
	// CostSessions normal sessions (default 300) and amplifying messages of each kind
	// (at least CostMessages, default 4, and enough for a second of gate CPU), one at a
	// time, measure the gate's CPU per message.
	CostSessions, CostMessages int
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// AttackReport is what RunAttack measured.
type AttackReport struct {
	FileLimit      int `json:"gate_file_limit"`
	MaxConnections int `json:"gate_max_connections"`
	ResponseLimit  int `json:"response_limit_bytes"`
	Attackers      int `json:"attackers_per_kind"`
	// Cost is the gate's CPU time per message, alone on the gate.
	Cost AttackCost `json:"cost"`
	// Baseline is the holders alone, UnderAttack with every attack running.
	Baseline    HolderPhase `json:"baseline"`
	UnderAttack HolderPhase `json:"under_attack"`
	// P99Ratio is UnderAttack's p99 latency over Baseline's.
	P99Ratio float64 `json:"p99_ratio"`
	// Attack is what the attackers did and how they were answered, from their own
	// process.
	Attack *AttackersReport `json:"attack"`
	// BusyAtEngage is the latency of the 503 answers before any key exchange that the
	// legitimate side got under attack: a prober asking GET /engage past its client's
	// rate every 10 ms, and the legitimate holders.
	BusyAtEngage Latency `json:"busy_at_engage_ms"`
	BusyAnswers  int64   `json:"busy_answers"`
	// Ops are the probes of /healthz and /metrics (a new connection each) under attack.
	Ops OpsProbe `json:"ops"`
	// Gate are counters read from the gate's /metrics at the end.
	Gate map[string]float64 `json:"gate_metrics"`
	// Lost are sessions the gate started without a verdict (started - ended, plus
	// session_lost verdicts).
	Lost int64 `json:"lost"`
	// ClientCPUSeconds is this process's CPU time (holders and attackers share the
	// machine with the gate).
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
}

// AttackCost is the gate's CPU per message.
type AttackCost struct {
	NormalSessionMs float64       `json:"normal_session_cpu_ms"`
	Messages        []MessageCost `json:"messages"`
	// MaxRatio is the dearest message's cost over a normal session's.
	MaxRatio float64 `json:"max_ratio"`
}

// MessageCost is one amplifying message's cost.
type MessageCost struct {
	Kind      string  `json:"kind"`
	Bytes     int     `json:"bytes"`
	Documents int     `json:"documents"`
	CPUMs     float64 `json:"cpu_ms"`
	Ratio     float64 `json:"ratio"`
}

// HolderPhase is the legitimate holders' view of a phase, with the gate's CPU and memory.
type HolderPhase struct {
	Attempts   int64   `json:"attempts"`
	Completed  int64   `json:"completed"`
	Busy       int64   `json:"busy"`
	Failed     int64   `json:"failed"`
	Acceptance float64 `json:"acceptance"`
	// GateAccepted are the accepted verdicts the gate counted in the phase (only
	// legitimate holders can be accepted).
	GateAccepted float64  `json:"gate_accepted"`
	Latency      Latency  `json:"latency_ms"`
	Seconds      float64  `json:"seconds"`
	PerSecond    float64  `json:"sessions_per_second"`
	GateCPUShare float64  `json:"gate_cpu_cores"`
	GatePeakRSS  int64    `json:"gate_peak_rss_bytes"`
	Examples     []string `json:"failure_examples,omitempty"`
}

// AttackCounts are one attack's requests and how they were answered.
type AttackCounts struct {
	Attempts  int64 `json:"attempts"`
	Completed int64 `json:"completed"`
	Busy      int64 `json:"busy"`
	Refused   int64 `json:"refused"`
}

// OpsProbe counts the probes of the operations endpoints.
type OpsProbe struct {
	Probes  int64   `json:"probes"`
	OK      int64   `json:"ok"`
	Latency Latency `json:"latency_ms"`
}

// hist is a latencyHist for concurrent use.
type hist struct {
	mu sync.Mutex
	h  latencyHist
}

func (h *hist) add(d time.Duration) {
	h.mu.Lock()
	h.h.add(d)
	h.mu.Unlock()
}

func (h *hist) merge(o *hist) {
	o.mu.Lock()
	defer o.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.h.merge(&o.h)
}

func (h *hist) percentiles() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.h.percentiles()
}

// Loopback blocks of the clients (see loopbackSource).
const (
	blockHolders  = 10
	blockCost     = 11 // 12 for the amplifying messages, 13 for the busy prober
	blockAttacks  = 20 // + the kind's index
	blockConnAddr = 40 // + the flooder's index: a /16 each
)

// RunAttack runs the attack benchmark: it starts the gate, measures the CPU of a normal
// session and of each amplifying message alone, runs the legitimate holders alone
// (baseline), then with every attack, and reads the gate's counters once the attackers
// have stopped.
func RunAttack(ctx context.Context, cfg AttackConfig) (*AttackReport, error) {
	if len(cfg.Gate) == 0 {
		return nil, errors.New("attack: the gate command is missing")
	}
	if cfg.FileLimit <= 0 {
		cfg.FileLimit = 4096
	}
	if cfg.Attackers <= 0 {
		cfg.Attackers = 16
	}
	if len(cfg.Kinds) == 0 {
		cfg.Kinds = AttackKinds
	}
	for _, k := range cfg.Kinds {
		if !slices.Contains(AttackKinds, k) {
			return nil, fmt.Errorf("attack: unknown kind %q (want %s)", k, strings.Join(AttackKinds, ", "))
		}
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 100
	}
	if cfg.Holders <= 0 {
		cfg.Holders = 64
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 20 * time.Second
	}
	if cfg.CostSessions <= 0 {
		cfg.CostSessions = 300
	}
	if cfg.CostMessages <= 0 {
		cfg.CostMessages = 4
	}
	logf := logTo(cfg.Log)
	dir, err := os.MkdirTemp("", "mdocgate-attack-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	w, err := newAttackWorld(dir)
	if err != nil {
		return nil, err
	}
	logf("starting the gate (file limit %d)", cfg.FileLimit)
	g, err := startGateProcess(ctx, cfg.Gate, w.config, cfg.FileLimit)
	if err != nil {
		return nil, err
	}
	defer g.stop()
	rep := &AttackReport{FileLimit: cfg.FileLimit, Attackers: cfg.Attackers, ResponseLimit: w.limit,
		MaxConnections: cfg.FileLimit - min(256, cfg.FileLimit/4) - 64}
	clientCPU0 := ownCPU()

	// the cost of one message, alone on the gate
	logf("cost: %d normal sessions, %d amplifying messages of each kind", cfg.CostSessions, cfg.CostMessages)
	if err := measureCost(ctx, g, w, cfg, rep); err != nil {
		return nil, err
	}
	logf("cost: normal session %.3f ms of gate CPU; dearest message %.1f×", rep.Cost.NormalSessionMs, rep.Cost.MaxRatio)

	logf("baseline: %g holders a second for %v", cfg.Rate, cfg.Duration)
	rep.Baseline = runHolders(ctx, g, w, cfg, nil)
	logf("baseline: %d/%d completed, p99 %.1f ms", rep.Baseline.Completed, rep.Baseline.Attempts, rep.Baseline.Latency.P99)

	// the attack, from a process of its own at the lowest priority
	acfg := AttackersConfig{Origin: g.origin, Credential: w.credDir, Canned: w.cannedFiles, Kinds: cfg.Kinds,
		Attackers: cfg.Attackers, FloodConns: (cfg.FileLimit*5/4)/cfg.Attackers + 1}
	attackers, err := startAttackers(ctx, cfg.AttackersCommand, dir, acfg)
	if err != nil {
		return nil, err
	}
	defer attackers.kill()
	logf("attack: %d attackers of each of %s; warming up", cfg.Attackers, strings.Join(cfg.Kinds, ", "))
	select {
	case <-time.After(3 * time.Second):
	case <-ctx.Done():
	}
	probeCtx, stopProbe := context.WithCancel(ctx)
	probed, busyProbed := make(chan OpsProbe, 1), make(chan *hist, 1)
	var busyN atomic.Int64
	go func() { probed <- probeOps(probeCtx, g) }()
	go func() { busyProbed <- probeBusy(probeCtx, g, &busyN) }()
	busy := &hist{}
	rep.UnderAttack = runHolders(ctx, g, w, cfg, &holderBusy{h: busy, n: &busyN})
	stopProbe()
	rep.Ops = <-probed
	busy.merge(<-busyProbed)
	rep.BusyAtEngage, rep.BusyAnswers = busy.percentiles(), busyN.Load()
	logf("attack: %d/%d completed, p99 %.1f ms; stopping the attackers", rep.UnderAttack.Completed, rep.UnderAttack.Attempts,
		rep.UnderAttack.Latency.P99)
	if rep.Attack, err = attackers.stop(); err != nil {
		return rep, err
	}
	if rep.Baseline.Latency.P99 > 0 {
		rep.P99Ratio = round3(rep.UnderAttack.Latency.P99 / rep.Baseline.Latency.P99)
	}
	// every session the gate started ends with a verdict
	if err := g.waitIdle(ctx, 60*time.Second); err != nil {
		logf("%v", err)
	}
	m, err := g.metrics(ctx)
	if err != nil {
		return rep, err
	}
	rep.Gate = map[string]float64{}
	for _, k := range []string{"mdocgate_sessions_started_total", "mdocgate_sessions_ended_total", "mdocgate_sessions_in_flight",
		"mdocgate_busy_rejections_total", "mdocgate_crypto_busy_total", "mdocgate_crypto_dropped_total", "mdocgate_actor_panics_total"} {
		rep.Gate[k] = m.sum(k, nil)
	}
	for _, what := range []string{"engagements", "engagement_rate", "sessions", "qr"} {
		rep.Gate["mdocgate_client_refusals_total{what=\""+what+"\"}"] = m.sum("mdocgate_client_refusals_total", map[string]string{"what": what})
	}
	for _, f := range []string{"refused", "evicted", "expired"} {
		name := "mdocgate_connections_" + f + "_total"
		rep.Gate[name+"{listener=\"web\"}"] = m.sum(name, map[string]string{"listener": "web"})
	}
	for _, reason := range []string{"message_too_large", "link_closed", "engagement_timeout", "crypto_busy",
		"response.crypto_budget", "response.repeated_doc_type", "response.unrequested_document"} {
		rep.Gate["mdocgate_sessions_total{reason=\""+reason+"\"}"] = m.sum("mdocgate_sessions_total", map[string]string{"reason": reason})
	}
	lostVerdicts := m.sum("mdocgate_sessions_total", map[string]string{"reason": "session_lost"})
	rep.Lost = int64(m.sum("mdocgate_sessions_started_total", nil)-m.sum("mdocgate_sessions_ended_total", nil)) + int64(lostVerdicts)
	rep.ClientCPUSeconds = round3((ownCPU() - clientCPU0).Seconds())
	return rep, nil
}

// attackWorld is what the run needs: the gate's configuration, the legitimate
// credential, and the amplifying responses prepared once.
type attackWorld struct {
	config string
	// credDir holds cred (issuer.WriteDir), cannedFiles the canned responses by kind:
	// for the attackers' process
	credDir     string
	cannedFiles map[string]string
	cred        *issuer.Credential
	index       *holder.Index
	limit       int                       // the lanes' response limit, as the gate derives it
	canned      map[string]cannedResponse // by kind
}

type cannedResponse struct {
	plain     []byte
	documents int
}

// newAttackWorld writes the gate's configuration (two web lanes, profile mdl, the
// shipped limits) trusting a fresh IACA, and prepares the amplifying responses.
func newAttackWorld(dir string) (*attackWorld, error) {
	iaca, ds, cred, err := freshIssuer("attack bench")
	if err != nil {
		return nil, err
	}
	now := time.Now().Truncate(time.Second)
	if err := os.MkdirAll(filepath.Join(dir, "iaca"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "iaca", "iaca.pem"), iaca.CertificatePEM(), 0o644); err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "gate.yaml")
	yaml := "name: attack-bench\nlisten: 127.0.0.1:0\nhttp_addr: 127.0.0.1:0\nlog_level: error\ntrust: {iaca_dir: iaca}\n" +
		"lanes:\n  - {name: web-ws, bearer: websocket, profile: mdl}\n  - {name: web-http, bearer: http, profile: mdl}\n"
	if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	mdl := profile.Builtin("mdl")
	if err := mdl.Compile(); err != nil {
		return nil, err
	}
	w := &attackWorld{config: config, cred: cred, index: holder.NewIndex(), limit: request.MaxResponseSize(mdl.Request()),
		canned: map[string]cannedResponse{}}
	// the trusted mDL again and again, with a device signature for another session
	trusted, err := fillResponse(w.limit, cred)
	if err != nil {
		return nil, err
	}
	w.canned[AttackAmplifyTrusted] = trusted
	// a document of a self-made issuer with a brainpoolP512r1 device key
	fiaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "self-made IACA", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		return nil, err
	}
	fds, err := fiaca.NewDocumentSigner(issuer.DSOptions{CommonName: "self-made DS", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		return nil, err
	}
	dk, err := keys.Generate(messages.CurveBrainpoolP512r1, nil)
	if err != nil {
		return nil, err
	}
	fc, err := fds.Issue(issuer.IssueRequest{DocType: issuer.DocTypeMDL, DeviceKey: dk.COSEKey(),
		NameSpaces: []issuer.NameSpace{{Name: "org.iso.18013.5.1", Elements: []issuer.Element{{Identifier: "age_over_18", Value: true}}}},
		Signed:     now.Add(-time.Minute), ValidFrom: now.Add(-time.Minute), ValidUntil: now.Add(24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	fc.DevicePrivateKey = dk
	foreign, err := fillResponse(w.limit, fc)
	if err != nil {
		return nil, err
	}
	w.canned[AttackAmplifyForeign], w.canned[AttackHangup] = foreign, foreign
	w.credDir, w.cannedFiles = filepath.Join(dir, "cred"), map[string]string{}
	if err := issuer.WriteDir(w.credDir, iaca, ds, cred, cred.DevicePrivateKey); err != nil {
		return nil, err
	}
	for kind, c := range w.canned {
		f := filepath.Join(dir, kind+".cbor")
		if err := os.WriteFile(f, c.plain, 0o644); err != nil {
			return nil, err
		}
		w.cannedFiles[kind] = f
	}
	return w, nil
}

// attackersProcess is the attackers' process.
type attackersProcess struct {
	cmd  *exec.Cmd
	out  *tailBuffer
	errs *tailBuffer
	done chan error
}

// startAttackers writes cfg into dir and starts command with it at nice 19.
func startAttackers(ctx context.Context, command []string, dir string, cfg AttackersConfig) (*attackersProcess, error) {
	if len(command) == 0 {
		return nil, errors.New("attack: the attackers' command is missing")
	}
	f := filepath.Join(dir, "attackers.json")
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(f, data, 0o644); err != nil {
		return nil, err
	}
	args := append([]string{"-n", "19"}, command...)
	p := &attackersProcess{cmd: exec.CommandContext(ctx, "nice", append(args, f)...), out: &tailBuffer{max: 1 << 20},
		errs: &tailBuffer{max: 8 << 10}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errs
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.done <- p.cmd.Wait() }()
	return p, nil
}

// stop ends the attackers (SIGTERM) and reads their report.
func (p *attackersProcess) stop() (*AttackersReport, error) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			return nil, fmt.Errorf("attack: the attackers' process: %v: %s", err, p.errs.String())
		}
	case <-time.After(30 * time.Second):
		p.kill()
		return nil, errors.New("attack: the attackers did not stop")
	}
	var rep AttackersReport
	if err := json.Unmarshal([]byte(p.out.String()), &rep); err != nil {
		return nil, fmt.Errorf("attack: the attackers' report: %w: %s", err, p.errs.String())
	}
	return &rep, nil
}

// kill ends the attackers at once, if they still run.
func (p *attackersProcess) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
	}
}

// probeBusy asks GET /engage every 10 ms from one address, past its rate after the
// first burst, and collects the latency of the 503 answers.
func probeBusy(ctx context.Context, g *gateProcess, n *atomic.Int64) *hist {
	client := sourceClient(loopbackSource(blockCost+2, 0), 2)
	defer client.CloseIdleConnections()
	h := &hist{}
	for ctx.Err() == nil {
		t0 := time.Now()
		_, err := web.FetchEngagement(ctx, client, g.origin, false)
		if errors.Is(err, transports.ErrBusy) && ctx.Err() == nil {
			h.add(time.Since(t0))
			n.Add(1)
		}
		pause(ctx, 10*time.Millisecond)
	}
	return h
}

// fillResponse builds, once, a DeviceResponse of doc's document repeated as often as
// fits in limit (with room for the session encryption). Its issuer and device
// signatures are real, the device signature made over a transcript of no session, so it
// fails on the gate only after the gate has verified it.
func fillResponse(limit int, doc *issuer.Credential) (cannedResponse, error) {
	transcript := messages.NewProximityTranscript(messages.NewEncodedCBOR([]byte{0xa0}), messages.NewEncodedCBOR([]byte{0xa0}), messages.QRHandover())
	p := holder.Presenter{Credentials: []*issuer.Credential{doc}}
	one, err := p.BuildResponse(nil, transcript, holder.PresentOptions{})
	if err != nil {
		return cannedResponse{}, err
	}
	var best cannedResponse
	resp := &messages.DeviceResponse{Version: "1.0", Status: messages.ResponseOK}
	for {
		resp.Documents = append(resp.Documents, one.Documents[0])
		b, err := messages.Marshal(resp)
		if err != nil {
			return best, err
		}
		if len(b)+256 > limit {
			break
		}
		best = cannedResponse{plain: b, documents: len(resp.Documents)}
	}
	if best.plain == nil {
		return best, errors.New("attack: not even one document fits the response limit")
	}
	return best, nil
}

// measureCost times, alone on the gate and one at a time, normal sessions and each
// kind of amplifying message, in gate CPU.
func measureCost(ctx context.Context, g *gateProcess, w *attackWorld, cfg AttackConfig, rep *AttackReport) error {
	// a session from the next address each time: within every client's rate
	pool := newClientPool(blockCost, nil)
	defer pool.close()
	for i := 0; i < 20; i++ { // warm up: caches, the runtime's heap
		if err := presentOnce(ctx, g, w, pool.get(i), i%2 == 0); err != nil {
			return fmt.Errorf("attack: a legitimate session fails: %w", err)
		}
	}
	c0 := g.cpu()
	for i := 0; i < cfg.CostSessions; i++ {
		if err := presentOnce(ctx, g, w, pool.get(20+i), i%2 == 0); err != nil {
			return fmt.Errorf("attack: a legitimate session fails: %w", err)
		}
	}
	normal := g.cpu() - c0
	rep.Cost.NormalSessionMs = round3(ms(normal) / float64(cfg.CostSessions))
	attackers := newClientPool(blockCost+1, nil)
	defer attackers.close()
	for _, kind := range []string{AttackAmplifyTrusted, AttackAmplifyForeign} {
		canned := w.canned[kind]
		// at least CostMessages, and enough for a second of gate CPU (its clock ticks
		// 10 ms), at most 50 times CostMessages
		c0 := g.cpu()
		n := 0
		for ; n < cfg.CostMessages || (g.cpu()-c0 < time.Second && n < 50*cfg.CostMessages); n++ {
			if _, err := amplifyOnce(ctx, g.origin, attackers.get(n), canned.plain, true, false); err != nil {
				return fmt.Errorf("attack: %s: %w", kind, err)
			}
		}
		cpu := ms(g.cpu()-c0) / float64(n)
		mc := MessageCost{Kind: kind, Bytes: len(canned.plain), Documents: canned.documents, CPUMs: round3(cpu)}
		if rep.Cost.NormalSessionMs > 0 {
			mc.Ratio = round3(cpu / rep.Cost.NormalSessionMs)
		}
		rep.Cost.Messages = append(rep.Cost.Messages, mc)
		rep.Cost.MaxRatio = max(rep.Cost.MaxRatio, mc.Ratio)
	}
	return nil
}

// presentOnce runs one legitimate holder's session.
func presentOnce(ctx context.Context, g *gateProcess, w *attackWorld, client *http.Client, ws bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	e, err := web.FetchEngagement(ctx, client, g.origin, false)
	if err != nil {
		return err
	}
	hc := &holdersession.Config{Credentials: []*issuer.Credential{w.cred}, Index: w.index}
	return webholder.Present(ctx, e.MdocURI, hc, "", web.DialOptions{WebSocket: ws, Client: client, IdleTimeout: 20 * time.Second})
}

// holderBusy collects the latency of the busy answers holders get under attack.
type holderBusy struct {
	h *hist
	n *atomic.Int64
}

// runHolders runs the legitimate holders for the phase: each presents one session after
// the other from its own address.
func runHolders(ctx context.Context, g *gateProcess, w *attackWorld, cfg AttackConfig, busy *holderBusy) HolderPhase {
	m0, _ := g.metrics(ctx)
	c0, start := g.cpu(), time.Now()
	pctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var attempts, completed, busyN, failed atomic.Int64
	lat := &hist{}
	var exMu sync.Mutex
	var examples []string
	var wg sync.WaitGroup
	// holders arrive at cfg.Rate a second (an open loop: the arrivals do not wait for
	// the gate), at most cfg.Holders at once; each is another phone: its session comes
	// from the next address of the holders' block
	slots := make(chan struct{}, cfg.Holders)
	tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.Rate))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-pctx.Done():
		case <-tick.C:
		}
		if pctx.Err() != nil {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-pctx.Done():
		}
		if pctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			client := sourceClient(loopbackSource(blockHolders, n%60000), 2)
			t0 := time.Now()
			err := presentOnce(pctx, g, w, client, n%2 == 0)
			client.CloseIdleConnections()
			if pctx.Err() != nil {
				return // the phase ended under it: not counted
			}
			attempts.Add(1)
			switch {
			case err == nil:
				completed.Add(1)
				lat.add(time.Since(t0))
			case errors.Is(err, transports.ErrBusy):
				busyN.Add(1)
				if busy != nil {
					busy.h.add(time.Since(t0))
					busy.n.Add(1)
				}
			default:
				failed.Add(1)
				exMu.Lock()
				if len(examples) < 5 {
					examples = append(examples, err.Error())
				}
				exMu.Unlock()
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	cpu := g.cpu() - c0
	m1, _ := g.metrics(ctx)
	p := HolderPhase{Attempts: attempts.Load(), Completed: completed.Load(), Busy: busyN.Load(), Failed: failed.Load(),
		Latency: lat.percentiles(), Seconds: round3(secs), GatePeakRSS: g.peakRSS(), Examples: examples,
		GateAccepted: m1.sum("mdocgate_sessions_total", map[string]string{"outcome": "accepted"}) -
			m0.sum("mdocgate_sessions_total", map[string]string{"outcome": "accepted"})}
	if p.Attempts > 0 {
		p.Acceptance = round3(float64(p.Completed) / float64(p.Attempts))
	}
	p.PerSecond = round3(float64(p.Completed) / secs)
	p.GateCPUShare = round3(cpu.Seconds() / secs)
	return p
}

// probeOps asks /healthz and /metrics, each on a new connection, every 100 ms.
func probeOps(ctx context.Context, g *gateProcess) OpsProbe {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	lat := &hist{}
	var p OpsProbe
	for n := 0; ctx.Err() == nil; n++ {
		path := "/healthz"
		if n%2 == 1 {
			path = "/metrics"
		}
		t0 := time.Now()
		resp, err := client.Get(g.ops + path)
		p.Probes++
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.OK++
				lat.add(time.Since(t0))
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.Latency = lat.percentiles()
	return p
}

// WriteText prints the report with the targets of issue 15 next to the figures.
func (r *AttackReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "gate: file limit %d, web connections at most %d, response limit %d bytes; %d attackers of each kind\n",
		r.FileLimit, r.MaxConnections, r.ResponseLimit, r.Attackers)
	fmt.Fprintf(w, "\ncost (gate CPU, alone on the gate; target: dearest ≤ 3× a normal session)\n")
	fmt.Fprintf(w, "  normal session          %8.3f ms\n", r.Cost.NormalSessionMs)
	for _, m := range r.Cost.Messages {
		fmt.Fprintf(w, "  %-22s %9.3f ms  %6.1f×  (%d documents, %d bytes)\n", m.Kind, m.CPUMs, m.Ratio, m.Documents, m.Bytes)
	}
	phase := func(name string, p HolderPhase) {
		fmt.Fprintf(w, "  %-12s %6d attempts, %6d completed (%.1f %%), %d busy, %d failed; gate accepted %.0f; p50 %.1f ms, p99 %.1f ms; %.1f/s; gate %.2f cores, peak RSS %.1f MiB\n",
			name, p.Attempts, p.Completed, 100*p.Acceptance, p.Busy, p.Failed, p.GateAccepted, p.Latency.P50, p.Latency.P99,
			p.PerSecond, p.GateCPUShare, float64(p.GatePeakRSS)/(1<<20))
		for _, e := range p.Examples {
			fmt.Fprintf(w, "               failure: %s\n", e)
		}
	}
	fmt.Fprintf(w, "\nlegitimate holders (target under attack: ≥ 95 %% completed, p99 ≤ 2× baseline)\n")
	phase("baseline", r.Baseline)
	phase("under attack", r.UnderAttack)
	fmt.Fprintf(w, "  p99 ratio %.2f\n", r.P99Ratio)
	fmt.Fprintf(w, "\nbusy answers before any key exchange (target p99 ≤ 10 ms): %d, p50 %.2f ms, p99 %.2f ms\n",
		r.BusyAnswers, r.BusyAtEngage.P50, r.BusyAtEngage.P99)
	fmt.Fprintf(w, "ops endpoints under attack: %d/%d probes answered, p99 %.1f ms\n", r.Ops.OK, r.Ops.Probes, r.Ops.Latency.P99)
	if a := r.Attack; a != nil {
		fmt.Fprintf(w, "\nattacks (their own process at nice 19: %.1f s of CPU in %.1f s; connection flood at most %d held at once)\n",
			a.CPUSeconds, a.Seconds, a.FloodPeak)
		for _, k := range AttackKinds {
			if c := a.Attacks[k]; c != nil {
				fmt.Fprintf(w, "  %-16s %8d attempts, %8d completed, %8d busy, %8d refused or failed\n", k, c.Attempts, c.Completed, c.Busy, c.Refused)
			}
		}
	}
	fmt.Fprintf(w, "\ngate counters\n")
	names := make([]string, 0, len(r.Gate))
	for k := range r.Gate {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(w, "  %-62s %.0f\n", k, r.Gate[k])
	}
	fmt.Fprintf(w, "\nlost %d; this process (holders and attackers) used %.1f s of CPU\n", r.Lost, r.ClientCPUSeconds)
}
