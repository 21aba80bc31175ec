package daemon

import (
	"syscall"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/admission"
)

// LimitsConfig bounds what strangers can make the gate hold or do (`limits:`; every
// field is documented in examples/gate.yaml, zero values take the defaults below). The
// per-lane response size is a lane's field (LaneConfig.MaxResponseBytes).
type LimitsConfig struct {
	// ClientPrefixV4 and ClientPrefixV6 say which addresses count as one client (bits
	// kept): default 32 (one IPv4 address) and 64 (one IPv6 /64).
	ClientPrefixV4 int `yaml:"client_prefix_v4"`
	ClientPrefixV6 int `yaml:"client_prefix_v6"`
	// EngagementsPerClient: engagements one client holds waiting for their holder,
	// with its open online transactions (default 64). EngagementTTL: how long one waits before it is forgotten (default
	// 30s), apart from the lanes' session timeouts.
	EngagementsPerClient int           `yaml:"engagements_per_client"`
	EngagementTTL        time.Duration `yaml:"engagement_ttl"`
	// EngagementsPerSecond, EngagementBurst: how often one client gets an engagement
	// or begins an online transaction (default 2 a second on average, bursts of 20).
	EngagementsPerSecond float64 `yaml:"engagements_per_second"`
	EngagementBurst      int     `yaml:"engagement_burst"`
	// SessionsPerClient: web sessions one client runs at once, online answers being
	// verified included (default 32).
	SessionsPerClient int `yaml:"sessions_per_client"`
	// QRPerSecond, QRBurst: QR images (GET /engage?qr=png, an online transaction's
	// qr.png) made for one client (default 1 a second, bursts of 4).
	QRPerSecond float64 `yaml:"qr_per_second"`
	QRBurst     int     `yaml:"qr_burst"`
	// ConnectionsPerClient: connections one client holds on the web listener and on the
	// operations listener (default 128).
	ConnectionsPerClient int `yaml:"connections_per_client"`
	// MaxConnections: connections at once on the web listener (default: what the
	// process's file limit leaves after the operations listener's and a reserve for
	// files and devices). OpsMaxConnections: on the operations listener (default 64).
	MaxConnections    int `yaml:"max_connections"`
	OpsMaxConnections int `yaml:"ops_max_connections"`
	// HeaderTimeout: a request's headers must arrive within it (default 5s).
	// IdleTimeout: a keep-alive connection waits this long for its next request
	// (default 30s). ConnLifetime: a connection older than this is closed when next
	// idle (default 10m). On both listeners.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	IdleTimeout   time.Duration `yaml:"idle_timeout"`
	ConnLifetime  time.Duration `yaml:"conn_lifetime"`
	// CryptoQueuePerLane: verification jobs of one lane waiting for a crypto worker
	// (default 512); beyond it a session ends with crypto_busy.
	CryptoQueuePerLane int `yaml:"crypto_queue_per_lane"`
}

// Defaults of LimitsConfig.
const (
	defaultEngagementsPerClient = 64
	defaultEngagementTTL        = 30 * time.Second
	defaultSessionsPerClient    = 32
	defaultEngagementsPerSecond = 2
	defaultEngagementBurst      = 20
	defaultQRPerSecond          = 1
	defaultQRBurst              = 4
	defaultConnectionsPerClient = 128
	defaultOpsMaxConnections    = 64
	defaultHeaderTimeout        = 5 * time.Second
	defaultIdleTimeout          = 30 * time.Second
	defaultConnLifetime         = 10 * time.Minute
	// fileReserve is kept out of the connection budget: configuration and trust files,
	// logs, PC/SC, radio simulations, the runtime's own descriptors.
	fileReserve = 256
)

// validate fills the defaults and checks every field against the process's file limit;
// the error names the field (after "limits.").
func (l *LimitsConfig) validate(fileLimit int) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"client_prefix_v4", l.ClientPrefixV4}, {"client_prefix_v6", l.ClientPrefixV6},
		{"engagements_per_client", l.EngagementsPerClient}, {"sessions_per_client", l.SessionsPerClient},
		{"engagement_burst", l.EngagementBurst},
		{"qr_burst", l.QRBurst}, {"connections_per_client", l.ConnectionsPerClient},
		{"max_connections", l.MaxConnections}, {"ops_max_connections", l.OpsMaxConnections},
		{"crypto_queue_per_lane", l.CryptoQueuePerLane}} {
		if f.v < 0 {
			return bad(f.name, "must not be negative")
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"engagement_ttl", l.EngagementTTL}, {"header_timeout", l.HeaderTimeout}, {"idle_timeout", l.IdleTimeout},
		{"conn_lifetime", l.ConnLifetime}} {
		if f.v < 0 {
			return bad(f.name, "must not be negative")
		}
	}
	switch {
	case l.ClientPrefixV4 > 32:
		return bad("client_prefix_v4", "at most 32 bits")
	case l.ClientPrefixV6 > 128:
		return bad("client_prefix_v6", "at most 128 bits")
	case l.QRPerSecond < 0:
		return bad("qr_per_second", "must not be negative")
	case l.EngagementsPerSecond < 0:
		return bad("engagements_per_second", "must not be negative")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.ClientPrefixV4, admission.DefaultV4)
	def(&l.ClientPrefixV6, admission.DefaultV6)
	def(&l.EngagementsPerClient, defaultEngagementsPerClient)
	def(&l.SessionsPerClient, defaultSessionsPerClient)
	def(&l.QRBurst, defaultQRBurst)
	def(&l.ConnectionsPerClient, defaultConnectionsPerClient)
	def(&l.OpsMaxConnections, defaultOpsMaxConnections)
	def(&l.CryptoQueuePerLane, actors.DefaultCryptoQueuePerLane)
	defDur(&l.EngagementTTL, defaultEngagementTTL)
	defDur(&l.HeaderTimeout, defaultHeaderTimeout)
	defDur(&l.IdleTimeout, defaultIdleTimeout)
	defDur(&l.ConnLifetime, defaultConnLifetime)
	if l.QRPerSecond == 0 {
		l.QRPerSecond = defaultQRPerSecond
	}
	if l.EngagementsPerSecond == 0 {
		l.EngagementsPerSecond = defaultEngagementsPerSecond
	}
	def(&l.EngagementBurst, defaultEngagementBurst)
	budget := connectionBudget(fileLimit, l.OpsMaxConnections)
	switch {
	case budget < 16:
		return bad("ops_max_connections", "the file limit (%d descriptors) leaves %d for the web listener once %d are kept for the operations listener and %d for files: raise the limit (ulimit -n)",
			fileLimit, budget, l.OpsMaxConnections, reserve(fileLimit))
	case l.MaxConnections > budget:
		return bad("max_connections", "%d is more than the file limit (%d descriptors) allows: at most %d", l.MaxConnections, fileLimit, budget)
	case l.MaxConnections == 0:
		l.MaxConnections = budget
	}
	return nil
}

// prefixes are the client prefixes of the limits.
func (l *LimitsConfig) prefixes() admission.Prefixes {
	return admission.Prefixes{V4: l.ClientPrefixV4, V6: l.ClientPrefixV6}
}

// reserve is what the connection budget keeps for everything else.
func reserve(fileLimit int) int { return min(fileReserve, fileLimit/4) }

// connectionBudget is the web listener's share of the file limit.
func connectionBudget(fileLimit, ops int) int { return fileLimit - reserve(fileLimit) - ops }

// fileLimit is the process's open file limit (Go raises the soft limit to the hard one
// at start); a generous stand-in where it cannot be read.
func fileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur == 0 {
		return 4096
	}
	return int(min(r.Cur, 1<<24))
}

// maxMessage is a lane's message limit: its max_response_bytes, or what a response to
// its current request can need (request.MaxResponseSize; a reload may change it).
func (l *lane) maxMessage() int {
	if l.cfg.MaxResponseBytes > 0 {
		return l.cfg.MaxResponseBytes
	}
	return request.MaxResponseSize(l.rules.Load().request)
}

// applyMessageLimits gives the web server the web lanes' message limits (after a reload
// changed their requests).
func (g *Gate) applyMessageLimits() {
	if g.srv == nil {
		return
	}
	for _, l := range g.lanes {
		if l.cfg.isWeb() {
			g.srv.SetMaxMessage(l.cfg.Bearer, l.maxMessage())
		}
	}
}

// checkResponseBytes checks a lane's max_response_bytes.
func checkResponseBytes(n int) error {
	switch {
	case n < 0:
		return bad("max_response_bytes", "must not be negative")
	case n > messages.MaxMessageSize:
		return bad("max_response_bytes", "at most %d (the decoders' limit)", messages.MaxMessageSize)
	case n > 0 && n < 1024:
		return bad("max_response_bytes", "%d bytes hold no response: at least 1024", n)
	}
	return nil
}

// limitsField names a field of limits: for errors.
func limitsField(err error) error { return within("limits", err) }
