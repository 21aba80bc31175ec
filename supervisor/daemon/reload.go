package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/supervisor/metrics"
	"github.com/mdocgate/mdocgate/transports"
)

// Reload applies the configuration again (SIGHUP): a gate loaded from a file
// (LoadConfig) re-reads the file. It takes effect for new sessions only — a session
// under way finishes on the trust, request and profile it started with — and it
// applies:
//
//   - trust: the IACA folder, files and VICAL (and vical_anchor for the next fetch);
//   - reader_auth: the key and chain;
//   - per lane: profile (the profiles file is read again), holder_verification,
//     operator_timeout, actuator and actuator_options (an action goes to the actuator
//     configured when its verdict is out; actions queued before the reload go to the
//     old one, which is then closed);
//   - log_element_values;
//   - tls and ops_tls: the certificate, key and client CA files (a handshake after the
//     reload uses them; connections already open keep theirs).
//
// Everything else is read at start only: lanes (added, removed, renamed, another
// bearer, reader, BLE settings, max_in_flight, timeouts: a lane owns a listener, a
// bearer and its sessions, and the engine has no way to take a lane away while its
// sessions finish), the listeners (listen, origin, http_addr, tls or ops_tls switched
// on or off), the audit log, the venue and a lane's zone, status (but its files),
// vical_url and its refresh settings, name, shutdown_timeout and log_level. A changed one is named in the event's RestartNeeded and logged; the
// rest of the reload still applies. A reload that fails — a file unreadable, the new
// configuration invalid — changes nothing. Either way Options.OnEvent hears of it.
func (g *Gate) Reload() error {
	g.reloading.Lock()
	defer g.reloading.Unlock()
	restart, err := g.reload()
	if err != nil {
		g.log.Error("reload failed; the current trust, profiles, certificates and actuators stay", zap.Error(err))
		g.event(Event{Event: "trust_reload_failed", Error: err.Error()})
		return configError(err)
	}
	if len(restart) > 0 {
		g.log.Warn("reload: changed settings that need a restart were left as they are", zap.Strings("restart_needed", restart))
	}
	st := g.trust.Load()
	g.log.Info("trust reloaded", zap.Int("anchors", st.ts.Len()))
	g.event(Event{Event: "trust_reloaded", Anchors: st.ts.Len(), RestartNeeded: restart})
	return nil
}

// reload builds everything the new configuration asks for, then swaps it in; nothing
// is swapped when a part fails.
func (g *Gate) reload() (restart []string, err error) {
	next := g.cfg
	if g.cfg.file != "" {
		if next, err = LoadConfig(g.cfg.file); err != nil {
			return nil, err
		}
		next.keepStartOnly(g.cfg)
	}
	restart = g.restartNeeded(next)
	ts, err := next.loadTrustWith(time.Now(), g.vical.current())
	if err != nil {
		return nil, err
	}
	readAuth, err := next.loadReaderAuth()
	if err != nil {
		return nil, err
	}
	webCerts, opsCerts := g.webCerts.clone(), g.opsCerts.clone()
	if err := webCerts.reload(next); err != nil {
		return nil, err
	}
	if err := opsCerts.reload(next); err != nil {
		return nil, err
	}
	rules := make([]*laneRules, len(g.lanes))
	acts := make([]*laneActuator, len(g.lanes))
	closeNew := func() {
		for _, a := range acts {
			if a != nil && a.sink != nil {
				a.sink.Close()
			}
		}
	}
	for i, l := range g.lanes {
		nl, j := next.lane(l.cfg.Name)
		if nl == nil || nl.plain() != l.cfg.plain() || (nl.HolderVerification == hvOperator && g.desk == nil) {
			r := *l.rules.Load() // a lane whose rules cannot change without a restart keeps them
			r.readAuth = readAuth
			rules[i] = &r
			continue
		}
		if rules[i], err = g.newRules(j, next, readAuth); err != nil {
			closeNew()
			return nil, err
		}
		if l.cfg.isOnline() && !reflect.DeepEqual(rules[i].request, l.rules.Load().request) {
			// the online lane's transactions ask with the request it started with
			restart = append(restart, fmt.Sprintf("lanes[%d].profile (%s: what an online lane requests)", j, l.cfg.Name))
			r := *l.rules.Load()
			rules[i] = &r
		}
		if l.act != nil && actuatorChanged(l.actFrom, nl) {
			if acts[i], err = g.newActuator(j, nl); err != nil {
				closeNew()
				return nil, err
			}
		}
	}
	if g.status != nil { // the last step that can fail; on an error the client keeps its files
		if err := next.loadStatusFiles(g.status); err != nil {
			closeNew()
			return nil, err
		}
	}
	// everything is built: swap
	g.webCerts.take(webCerts)
	g.opsCerts.take(opsCerts)
	for i, l := range g.lanes {
		l.rules.Store(rules[i])
		if acts[i] != nil {
			l.actFrom, _ = next.lane(l.cfg.Name)
			acts[i].connect()
			l.act.swap(acts[i])
		}
	}
	g.applyMessageLimits()
	g.logValues.Store(next.LogElementValues)
	g.live.Store(next)
	g.setTrust(ts)
	return restart, nil
}

// keepStartOnly copies into c, a configuration re-read by a reload, what serve set on
// the configuration the gate started with after loading it (--listen, --http-addr,
// --log-level, --trust): those flags are not in the file.
func (c *Config) keepStartOnly(started *Config) {
	if started.file != "" && len(started.Trust.IACAFiles) > started.fileIACAFiles {
		c.Trust.IACAFiles = append(c.Trust.IACAFiles, started.Trust.IACAFiles[started.fileIACAFiles:]...)
	}
	if c.Listen == started.fileListen {
		c.Listen = started.Listen
	}
	if c.HTTPAddr == started.fileHTTPAddr {
		c.HTTPAddr = started.HTTPAddr
	}
	if c.LogLevel == started.fileLogLevel {
		c.LogLevel = started.LogLevel
	}
}

// lane returns the lane named name and its index; nil when there is none.
func (c *Config) lane(name string) (*LaneConfig, int) {
	for i := range c.Lanes {
		if c.Lanes[i].Name == name {
			return &c.Lanes[i], i
		}
	}
	return nil, -1
}

// restartNeeded names the settings of next that differ from the running gate's and
// that only a restart applies.
func (g *Gate) restartNeeded(next *Config) []string {
	cur := g.cfg
	var out []string
	diff := func(field string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, field)
		}
	}
	diff("name", cur.Name, next.Name)
	diff("listen", cur.Listen, next.Listen)
	diff("origin", cur.Origin, next.Origin)
	diff("require_origin", cur.RequireOrigin, next.RequireOrigin)
	diff("http_addr", cur.HTTPAddr, next.HTTPAddr)
	diff("log_level", cur.LogLevel, next.LogLevel)
	diff("shutdown_timeout", cur.ShutdownTimeout, next.ShutdownTimeout)
	diff("tls", cur.TLS.on(), next.TLS.on())
	diff("ops_tls", cur.OpsTLS != nil, next.OpsTLS != nil)
	diff("audit_log", cur.AuditLog, next.AuditLog)
	diff("trust.vical_url", cur.Trust.VICALURL, next.Trust.VICALURL)
	diff("trust.vical_refresh", cur.Trust.VICALRefresh, next.Trust.VICALRefresh)
	diff("trust.vical_max_age", cur.Trust.VICALMaxAge, next.Trust.VICALMaxAge)
	diff("trust.expiry_warning_days", cur.Trust.ExpiryWarningDays, next.Trust.ExpiryWarningDays)
	curStatus, nextStatus := cur.Status, next.Status // the files are reloaded, the rest is not
	curStatus.StatusListFiles, curStatus.CRLFiles, nextStatus.StatusListFiles, nextStatus.CRLFiles = nil, nil, nil, nil
	diff("status", curStatus, nextStatus)
	diff("venue", cur.Venue, next.Venue)
	diff("online", cur.Online, next.Online)
	type shape struct {
		Name, Bearer, Reader, BLEMode, Zone string
		BLEL2CAP                            bool
		MaxInFlight                         int
		EngagementTimeout, Inactivity       time.Duration
		Plain                               bool
	}
	shapeOf := func(l *LaneConfig) shape {
		return shape{l.Name, l.Bearer, l.Reader, l.BLEMode, l.Zone, l.BLEL2CAP, l.MaxInFlight, l.EngagementTimeout, l.InactivityTimeout, l.plain()}
	}
	if len(cur.Lanes) != len(next.Lanes) {
		out = append(out, "lanes (added or removed)")
	}
	for i := range cur.Lanes {
		nl, _ := next.lane(cur.Lanes[i].Name)
		switch {
		case nl == nil:
			out = append(out, fmt.Sprintf("lanes[%d] (%s removed)", i, cur.Lanes[i].Name))
		case shapeOf(&cur.Lanes[i]) != shapeOf(nl):
			out = append(out, fmt.Sprintf("lanes[%d] (%s: bearer, reader, BLE settings, zone, max_in_flight or timeouts)", i, cur.Lanes[i].Name))
		case cur.Lanes[i].isOnline() && !reflect.DeepEqual(cur.Lanes[i].OnlineLaneConfig, nl.OnlineLaneConfig):
			out = append(out, fmt.Sprintf("lanes[%d] (%s: the online lane's settings)", i, cur.Lanes[i].Name))
		case nl.HolderVerification == hvOperator && g.desk == nil:
			out = append(out, fmt.Sprintf("lanes[%d].holder_verification (operator: the gate started without an operator desk)", i))
		}
	}
	for i := range next.Lanes {
		if l, _ := cur.lane(next.Lanes[i].Name); l == nil {
			out = append(out, fmt.Sprintf("lanes[%d] (%s added)", i, next.Lanes[i].Name))
		}
	}
	return out
}

// actuatorChanged reports whether a reload builds lane a's actuator anew: its kind or
// options changed, or it reads a file or program that may have (webhook, exec). An
// MQTT connection is kept while its settings stay.
func actuatorChanged(a, b *LaneConfig) bool {
	return a.Actuator != b.Actuator || !reflect.DeepEqual(a.ActuatorOptions, b.ActuatorOptions) || b.Actuator == actWebhook || b.Actuator == actExec
}

// readyParts registers the gate's readiness parts: not shutting down; trust loaded and
// not all expired; every lane's bearer up (a PC/SC reader present); the VICAL of
// vical_url fresh; status lists fresh (statusListsReady).
func (g *Gate) readyParts() {
	g.ready.add("serving", func(context.Context) error {
		if g.stopping.Load() {
			return fmt.Errorf("shutting down")
		}
		return nil
	})
	g.ready.add("trust", g.trustReady)
	for _, l := range g.lanes {
		check := func(context.Context) error { return nil }
		if rc, ok := l.bearer.(transports.ReadyChecker); ok {
			check = rc.Ready
		}
		g.ready.add("lane "+l.cfg.Name, check)
	}
	if g.vical != nil {
		g.ready.add("vical", g.vical.ready)
	}
	if check := g.statusListsReady(); check != nil {
		g.ready.add("status_lists", check)
	}
}

// statusListsReady is the readiness part of revocation checking: every status list and
// CRL the gate uses fresh, or stale within status.stale_if_error (RevocationFresh);
// nil (no part) with revocation checks off.
func (g *Gate) statusListsReady() func(context.Context) error {
	if g.status == nil {
		return nil
	}
	return func(context.Context) error {
		if ok, problems := g.RevocationFresh(); !ok {
			return errors.New(strings.Join(problems, "; "))
		}
		return nil
	}
}

// collectors are the gate's own /metrics families (besides supervisor/metrics'):
// gate actions, build information, busy answers per lane, trust anchors by expiry,
// the VICAL's age, actuator deliveries, the audit log, certificate expiry.
func (g *Gate) collectors() []prometheus.Collector {
	out := []prometheus.Collector{g.actions, buildInfoCollector(), trustCollector{g}}
	for _, l := range g.lanes {
		out = append(out, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mdocgate_lane_busy_total",
			Help: "Arrivals a lane refused for lack of capacity (max_in_flight or the engine's bound), by lane.", ConstLabels: prometheus.Labels{"lane": l.cfg.Name}},
			func() float64 { return float64(l.busy.Load()) }))
	}
	if g.status != nil {
		out = append(out, metrics.NewRevocationCollector(g.status))
	}
	if g.refused != nil {
		out = append(out, g.refused)
	}
	if g.venue != nil {
		out = append(out, g.venue.v.Collectors()...)
	}
	if g.srv != nil {
		out = append(out, g.webCollectors()...)
	}
	out = append(out, g.actMetrics.Collectors()...)
	out = append(out, g.vical.collectors()...)
	out = append(out, auditCollectors(g.audit)...)
	return append(out, certCollectors(g.webCerts, g.opsCerts)...)
}

// opsErrorLog takes the operations server's own errors (failed TLS handshakes: clients
// without a certificate of client_ca) into the gate's log at debug level.
func opsErrorLog(l *zap.Logger) *log.Logger {
	std, err := zap.NewStdLogAt(l.Named("ops"), zap.DebugLevel)
	if err != nil { // only for a level zap does not know
		return zap.NewStdLog(l.Named("ops"))
	}
	return std
}

// opsTLS is the operations listener's TLS configuration; nil without ops_tls.
func (g *Gate) opsTLS() *tls.Config {
	if g.opsCerts == nil {
		return nil
	}
	c := g.opsCerts.config()
	if g.guard != nil && g.guard.certs != nil {
		// operators' certificates (ops_auth.client_ca) are asked for and checked by the
		// guard: a foreign one gets a 401, not a failed handshake (with ops_tls.client_ca
		// the handshake requires one of its own, operators' included)
		c.ClientAuth = tls.RequestClientCert
	}
	return c
}

// startBackground runs what the gate does on its own: VICAL fetches every
// vical_refresh, and a daily log of the anchors about to expire.
func (g *Gate) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	g.stopBg = cancel
	go func() {
		defer close(g.bgDone)
		if g.vical != nil {
			fetched := make(chan struct{})
			go func() {
				defer close(fetched)
				g.vical.run(ctx, g.vicalUpdated)
			}()
			defer func() { <-fetched }()
		}
		t := time.NewTicker(24 * time.Hour)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				g.warnExpiring(time.Now())
			}
		}
	}()
}

func (g *Gate) stopBackground() {
	if g.stopBg != nil {
		g.stopBg()
		<-g.bgDone
	}
}

// vicalUpdated rebuilds the trust after a good VICAL fetch.
func (g *Gate) vicalUpdated() {
	g.reloading.Lock()
	defer g.reloading.Unlock()
	ts, err := g.live.Load().loadTrustWith(time.Now(), g.vical.current())
	if err != nil {
		g.log.Error("trust rebuild after a VICAL fetch failed; the current trust stays", zap.Error(err))
		g.event(Event{Event: "trust_reload_failed", Error: err.Error()})
		return
	}
	g.setTrust(ts)
	g.event(Event{Event: "vical_updated", Anchors: ts.Len()})
}

func (g *Gate) closeAudit() {
	if g.audit != nil {
		if err := g.audit.Close(); err != nil {
			g.log.Error("audit log", zap.Error(err))
		}
	}
}
