package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/gate"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/supervisor/audit"
)

// AuditConfig is the audit log (`audit_log:`): every verdict and operator decision, one
// JSON object a line (supervisor/audit documents the schema and the fsync policy), never
// element values. Read at start only.
type AuditConfig struct {
	Path string `yaml:"path"`
	// MaxSizeMB is the size in MiB past which the file is rotated (default 100);
	// MaxFiles how many rotated files (PATH.1 …) are kept (default 10).
	MaxSizeMB int `yaml:"max_size_mb"`
	MaxFiles  int `yaml:"max_files"`
	// Fsync is always (after every batch of records) or interval (once a second,
	// default).
	Fsync string `yaml:"fsync"`
}

// validate fills the defaults and checks the fields (named relative to audit_log).
func (a *AuditConfig) validate() error {
	if a == nil {
		return nil
	}
	switch {
	case a.Path == "":
		return bad("path", "give the file the audit log is appended to")
	case a.MaxSizeMB < 0:
		return bad("max_size_mb", "must not be negative")
	case a.MaxFiles < 0:
		return bad("max_files", "must not be negative")
	}
	if a.MaxSizeMB == 0 {
		a.MaxSizeMB = audit.DefaultMaxSize >> 20
	}
	if a.MaxFiles == 0 {
		a.MaxFiles = audit.DefaultMaxFiles
	}
	if a.Fsync == "" {
		a.Fsync = audit.FsyncInterval
	}
	if a.Fsync != audit.FsyncAlways && a.Fsync != audit.FsyncInterval {
		return bad("fsync", "%q: want always or interval", a.Fsync)
	}
	return nil
}

// openAudit opens the audit log; nil without audit_log.
func (c *Config) openAudit() (*audit.Log, error) {
	a := c.AuditLog
	if a == nil {
		return nil, nil
	}
	l, err := audit.Open(audit.Config{Path: c.path(a.Path), MaxSize: int64(a.MaxSizeMB) << 20, MaxFiles: a.MaxFiles, Fsync: a.Fsync})
	if err != nil {
		return nil, &fieldError{"audit_log.path", err}
	}
	return l, nil
}

// auditVerdict records a session's verdict; gv is the gate's verdict on a lane with a
// profile (nil on a plain lane).
func (g *Gate) auditVerdict(sv *actors.SessionVerdict, gv *gate.Verdict) {
	if g.audit == nil {
		return
	}
	started, ended := sv.Started, sv.Ended
	r := audit.Record{Time: ended, Kind: audit.KindVerdict, Gate: g.cfg.Name, Lane: sv.Lane, Session: sv.SessionID,
		Bearer: sv.Bearer, Outcome: string(sv.Outcome), Reason: sv.Reason, Started: &started, Ended: &ended,
		LatencyMs: float64(sv.Latency().Microseconds()) / 1000}
	r.DocType, r.IssuingCountry = documentOf(sv.Result)
	if gv != nil {
		r.Action = string(gv.Action)
		if gv.Match != nil {
			r.HolderVerification, r.Operator = string(gv.Match.Verdict), gv.Match.By
		}
	}
	if !g.audit.Write(r) {
		g.log.Error("audit log queue full: verdict not recorded", zap.String("session", sv.SessionID), zap.String("lane", sv.Lane))
	}
}

// auditDecision records an operator's answer at the desk.
func (g *Gate) auditDecision(id string, p *gate.OperatorRequest, match bool, operator string) {
	if g.audit == nil {
		return
	}
	d := string(gate.NoMatch)
	if match {
		d = string(gate.Match)
	}
	if !g.audit.Write(audit.Record{Kind: audit.KindOperatorDecision, Gate: g.cfg.Name, Lane: p.Portrait.LaneID,
		Session: p.Portrait.SessionID, DocType: p.Portrait.DocType, Decision: d, Operator: operator, Request: id}) {
		g.log.Error("audit log queue full: operator decision not recorded", zap.String("lane", p.Portrait.LaneID))
	}
}

// documentOf names the first presented document's type and its issuing_country (an
// ISO 3166-1 code of the issuer, in whichever name space carries it): the only element
// the audit log records.
func documentOf(res *verify.Result) (docType, country string) {
	if res == nil || len(res.Documents) == 0 {
		return "", ""
	}
	d := &res.Documents[0]
	for _, els := range d.Elements {
		if c, ok := els["issuing_country"].(string); ok && len(c) >= 2 && len(c) <= 3 {
			country = c
			break
		}
	}
	return d.DocType, country
}

// auditCollectors export the audit log's counts.
func auditCollectors(l *audit.Log) []prometheus.Collector {
	if l == nil {
		return nil
	}
	stat := func(i int) func() float64 {
		return func() float64 {
			w, d, f := l.Stats()
			return float64([]uint64{w, d, f}[i])
		}
	}
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mdocgate_audit_records_total", Help: "Audit log records written."}, stat(0)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mdocgate_audit_dropped_total", Help: "Audit log records dropped, the writer's queue full."}, stat(1)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mdocgate_audit_write_errors_total", Help: "Audit log records that could not be written (or synced)."}, stat(2)),
	}
}
