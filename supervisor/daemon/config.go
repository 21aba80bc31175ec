package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"gopkg.in/yaml.v3"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/online"
	"github.com/mdocgate/mdocgate/transports/web"
)

// Config is a gate: its YAML (`mdocgate serve --config`; examples/gate.yaml documents
// every field) or built in code. Relative paths are relative to Dir.
type Config struct {
	Name          string `yaml:"name"`
	Listen        string `yaml:"listen"`
	Origin        string `yaml:"origin"`
	RequireOrigin bool   `yaml:"require_origin"`
	// TLS, when set, serves the web lanes over HTTPS; OpsTLS the operations endpoints
	// (tls.go).
	TLS      *TLSConfig    `yaml:"tls"`
	OpsTLS   *OpsTLSConfig `yaml:"ops_tls"`
	HTTPAddr string        `yaml:"http_addr"`
	// LogLevel is the level the caller builds Options.Log with (serve does); New does
	// not apply it.
	LogLevel        string            `yaml:"log_level"`
	ShutdownTimeout time.Duration     `yaml:"shutdown_timeout"`
	Trust           TrustConfig       `yaml:"trust"`
	ReaderAuth      *ReaderAuthConfig `yaml:"reader_auth"`
	// Status is revocation checking: status lists and CRLs (status.go).
	Status StatusConfig `yaml:"status"`
	// Online are the settings of the oid4vp and dcapi lanes (online.go).
	Online OnlineConfig `yaml:"online"`
	// Profiles is a YAML file of named profiles (examples/profiles.yaml) lanes may name
	// besides the built-in ones. It is read by Validate, not again on a trust reload.
	Profiles string `yaml:"profiles"`
	// LogElementValues (debug only) adds the disclosed element values, binary ones
	// left out, to the gate action log lines and the actuators' events.
	LogElementValues bool         `yaml:"log_element_values"`
	Lanes            []LaneConfig `yaml:"lanes"`
	// AuditLog, when set, appends every verdict and operator decision to a JSONL file
	// (audit.go).
	AuditLog *AuditConfig `yaml:"audit_log"`
	// Venue, when set, makes the gate one of a venue's (venue.go).
	Venue *VenueConfig `yaml:"venue"`
	// Limits bound what strangers can make the gate hold or do (limits.go).
	Limits LimitsConfig `yaml:"limits"`
	// OpsAuth says who may use the operator desk and the dashboard (opsauth.go).
	OpsAuth *OpsAuthConfig `yaml:"ops_auth"`
	// Pprof serves Go's profiles (net/http/pprof) at /debug/pprof/ on http_addr, behind
	// ops_auth like the dashboard. Off by default: a profile costs the gate CPU.
	Pprof bool `yaml:"pprof"`

	// Dir is the folder relative paths are resolved against: LoadConfig sets the
	// configuration file's; "" is the working directory.
	Dir string `yaml:"-"`

	custom map[string]*yaml.Node // the profiles of the Profiles file by name (Validate)
	// file is the configuration file (LoadConfig), read again by a reload; fileListen,
	// fileHTTPAddr and fileLogLevel are its values before serve's flags override them.
	file                                   string
	fileListen, fileHTTPAddr, fileLogLevel string
	// fileIACAFiles is how many of Trust.IACAFiles the file names: serve --trust adds
	// the others.
	fileIACAFiles int
}

// TrustConfig names the IACA anchors: a folder, files, and a VICAL (at least one).
type TrustConfig struct {
	IACADir string `yaml:"iaca_dir"`
	// IACAFiles are certificate files (PEM or DER) trusted as they are, expired or not
	// (serve --trust).
	IACAFiles   []string `yaml:"iaca_files"`
	VICAL       string   `yaml:"vical"`
	VICALAnchor string   `yaml:"vical_anchor"`
	// VICALURL is fetched every VICALRefresh and verified against VICALAnchor; the
	// last good list stays in use when a fetch fails; VICALMaxAge is how old it may get
	// before the gate is not ready (vical.go).
	VICALURL     string        `yaml:"vical_url"`
	VICALRefresh time.Duration `yaml:"vical_refresh"`
	VICALMaxAge  time.Duration `yaml:"vical_max_age"`
	// ExpiryWarningDays: anchors expiring within this many days are logged at every
	// trust load and once a day, and counted in mdocgate_trust_anchors_expiring (default 30).
	ExpiryWarningDays int `yaml:"expiry_warning_days"`
	// TrustRules: scoped IACA folders, strict, clock skew, crypto budget (trustrules.go).
	TrustRules `yaml:",inline"`
}

// ReaderAuthConfig is the reader-authentication key and its certificate chain.
type ReaderAuthConfig struct {
	Key   string `yaml:"key"`
	Chain string `yaml:"chain"`
}

// LaneConfig is one lane of the gate.
type LaneConfig struct {
	Name string `yaml:"name"`
	// Bearer is websocket, http, nfc, nfc-pcsc, ble, wifiaware or memory.
	Bearer string `yaml:"bearer"`
	// Profile is a built-in profile (mdl, photoid, age_over_18) or one of Profiles.
	Profile           string        `yaml:"profile"`
	MaxInFlight       int           `yaml:"max_in_flight"`
	EngagementTimeout time.Duration `yaml:"engagement_timeout"`
	InactivityTimeout time.Duration `yaml:"inactivity_timeout"`
	// Reader is the PC/SC reader of an nfc-pcsc lane (name or unique substring).
	Reader string `yaml:"reader"`
	// BLEMode is the BLE mode of a ble lane: central_client, peripheral_server or both.
	BLEMode string `yaml:"ble_mode"`
	// BLEL2CAP moves a ble lane's data onto an L2CAP channel.
	BLEL2CAP bool `yaml:"ble_l2cap"`
	// HolderVerification is none, operator, test-accept or test-reject.
	HolderVerification string        `yaml:"holder_verification"`
	OperatorTimeout    time.Duration `yaml:"operator_timeout"`
	// Actuator is what carries out the lane's actions: log, webhook, mqtt or exec, with
	// its ActuatorOptions (actuators.go).
	Actuator        string           `yaml:"actuator"`
	ActuatorOptions *ActuatorOptions `yaml:"actuator_options"`
	// Zone is the part of the venue the lane admits to (the fleet view counts by zone).
	Zone string `yaml:"zone"`
	// Proximity: NFC data transfer, hand-off and QR scanner (proximity.go).
	ProximityLane `yaml:",inline"`
	// MaxResponseBytes bounds a holder's message on the lane; 0 derives it from what
	// the lane requests (request.MaxResponseSize).
	MaxResponseBytes int `yaml:"max_response_bytes"`
	// Request, set in code in place of Profile, makes a plain lane (serve without
	// --config): it asks for these documents and accepts exactly the valid responses,
	// with no profile, holder verification or actuator.
	Request []request.Doc `yaml:"-"`
	// OnlineLaneConfig holds the fields of the oid4vp and dcapi lanes (online.go).
	OnlineLaneConfig `yaml:",inline"`
}

// ConfigError is a configuration that cannot run. Field names the failing field as the
// YAML spells it ("listen", "lanes[0].bearer"), after the file it is in when that is
// not the configuration itself ("profiles: FILE: profiles[1].rule"); it is the file
// alone when the whole file cannot be read.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return "config: " + e.Field + ": " + e.Err.Error() }

func (e *ConfigError) Unwrap() error { return e.Err }

// fieldError is an error in a field named relative to where it was found; the
// exported functions turn it into a ConfigError.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }

func bad(field, format string, args ...any) *fieldError {
	return &fieldError{field: field, err: fmt.Errorf(format, args...)}
}

// within prefixes the field of a fieldError (lanes[0] + holder_verification); other
// errors get field itself.
func within(field string, err error) *fieldError {
	var fe *fieldError
	if errors.As(err, &fe) {
		return &fieldError{field: field + "." + fe.field, err: fe.err}
	}
	return &fieldError{field: field, err: err}
}

// configError makes a fieldError a ConfigError.
func configError(err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		return &ConfigError{Field: fe.field, Err: fe.err}
	}
	return err
}

// Bearers a configured lane may use: the web server's two session transports and every
// bearer of the supervisor's registry a gate runs lanes on.
const (
	bearerNFC       = "nfc"
	bearerNFCPCSC   = "nfc-pcsc"
	bearerBLE       = "ble"
	bearerWiFiAware = "wifiaware"
	bearerMemory    = "memory"
)

var gateBearers = map[string]bool{web.BearerHTTP: true, web.BearerWebSocket: true, bearerNFC: true, bearerNFCPCSC: true,
	bearerBLE: true, bearerWiFiAware: true, bearerMemory: true, online.BearerOID4VP: true, online.BearerDCAPI: true}

const gateBearerList = "websocket, http, nfc, nfc-pcsc, ble, wifiaware or memory), or an online lane's (oid4vp or dcapi"

// BLE modes of a ble lane (18013-5 names: mdoc central client mode, mdoc peripheral
// server mode), with the supervisor's ble-mode option each maps onto.
var bleModes = map[string]string{"central_client": "central", "peripheral_server": "peripheral", "both": "both"}

// Holder verification settings of a lane.
const (
	hvNone       = "none"
	hvOperator   = "operator"
	hvTestAccept = "test-accept"
	hvTestReject = "test-reject"
)

// isWeb reports whether the lane takes its sessions from the web server.
func (l *LaneConfig) isWeb() bool {
	return l.Bearer == web.BearerHTTP || l.Bearer == web.BearerWebSocket
}

// plain reports whether the lane runs without a profile (Request).
func (l *LaneConfig) plain() bool { return l.Profile == "" && len(l.Request) > 0 }

// bearerOptions are the supervisor bearer options of a radio lane (for its
// openedBearer).
func (l *LaneConfig) bearerOptions() map[string]string {
	o := l.proximityOptions()
	switch {
	case l.QRScanner != "":
	case l.Bearer == bearerNFCPCSC:
		o["reader"] = l.Reader
	case l.Bearer == bearerBLE:
		o["ble-mode"], o["l2cap"] = bleModes[l.BLEMode], fmt.Sprint(l.BLEL2CAP)
	}
	return o
}

// profile returns the lane's profile, fresh and compiled, with holder verification
// switched on when the lane asks for it; the error names the field (after the lane's
// prefix).
func (c *Config) profile(l *LaneConfig) (*profile.Profile, error) {
	p := c.profileNamed(l.Profile)
	if p == nil {
		return nil, bad("profile", "unknown profile %q (want %s)", l.Profile, c.profileList())
	}
	return withHolderVerification(p, l.HolderVerification)
}

// profileNamed returns a new, not yet compiled profile: a built-in one or one of the
// Profiles file; nil when there is none of that name.
func (c *Config) profileNamed(name string) *profile.Profile {
	if p := profile.Builtin(name); p != nil {
		return p
	}
	n := c.custom[name]
	if n == nil {
		return nil
	}
	p := &profile.Profile{}
	if n.Decode(p) != nil { // decoded once already by Validate
		return nil
	}
	return p
}

// profileList names the profiles a lane may use, for errors.
func (c *Config) profileList() string {
	if len(c.custom) == 0 {
		return "mdl, photoid or age_over_18"
	}
	return fmt.Sprintf("mdl, photoid, age_over_18 or a profile of %s", c.path(c.Profiles))
}

// withHolderVerification compiles a fresh (not yet compiled) profile for a lane whose
// holder_verification is hv: a profile asking for holder verification needs a matcher,
// and a matcher needs a profile that requests the portrait. The error names the field
// (after the lane's prefix).
func withHolderVerification(p *profile.Profile, hv string) (*profile.Profile, error) {
	switch {
	case hv == hvNone && p.HolderVerification:
		return nil, bad("holder_verification", "profile %s asks for holder verification: give operator, test-accept or test-reject", p.Name)
	case hv != hvNone:
		p.HolderVerification = true
		if err := p.Compile(); err != nil {
			return nil, bad("holder_verification", "%s needs a profile requesting the portrait: %w", hv, err)
		}
	}
	if err := p.Compile(); err != nil {
		return nil, &fieldError{field: "profile", err: err}
	}
	return p, nil
}

// LoadConfig reads a configuration file (unknown fields are errors) and validates it.
// Its errors are *ConfigError.
func LoadConfig(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, &ConfigError{Field: path, Err: err}
	}
	cfg := &Config{}
	if err := decodeYAML(data, cfg); err != nil {
		return nil, &ConfigError{Field: path, Err: err}
	}
	cfg.Dir = filepath.Dir(path)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.file, cfg.fileListen, cfg.fileHTTPAddr, cfg.fileLogLevel = path, cfg.Listen, cfg.HTTPAddr, cfg.LogLevel
	cfg.fileIACAFiles = len(cfg.Trust.IACAFiles)
	return cfg, nil
}

// decodeYAML decodes data into v, refusing unknown fields. A type error names the
// field on its line ("lanes[0]: line 7: cannot unmarshal ...").
func decodeYAML(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, e := range te.Errors {
		var line int
		if _, serr := fmt.Sscanf(e, "line %d:", &line); serr == nil {
			if p := pathAt(&root, "", line); p != "" {
				e = p + ": " + e
			}
		}
		msgs[i] = e
	}
	return errors.New(strings.Join(msgs, "; "))
}

// pathAt names the deepest field whose value is on line, in block style; on a line
// holding several fields (flow style) it names their parent.
func pathAt(n *yaml.Node, path string, line int) string {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			return pathAt(n.Content[0], path, line)
		}
	case yaml.MappingNode:
		var at *yaml.Node
		key, onLine := "", 0
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Line <= line {
				at, key = n.Content[i+1], k.Value
				if k.Line == line {
					onLine++
				}
			}
		}
		if at == nil || onLine > 1 {
			return path
		}
		if path != "" {
			key = path + "." + key
		}
		return pathAt(at, key, line)
	case yaml.SequenceNode:
		at, onLine := -1, 0
		for i, c := range n.Content {
			if c.Line <= line {
				at = i
				if c.Line == line {
					onLine++
				}
			}
		}
		if at < 0 || onLine > 1 {
			return path
		}
		return pathAt(n.Content[at], fmt.Sprintf("%s[%d]", path, at), line)
	}
	return path
}

// Validate fills the defaults and checks every field, reading the Profiles file; the
// error is a *ConfigError. It may be called again after a change (New does).
func (c *Config) Validate() error { return configError(c.validate()) }

func (c *Config) validate() error {
	if c.Name == "" {
		c.Name = "mdocgate"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8443"
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return &fieldError{"listen", err}
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return &fieldError{"http_addr", err}
		}
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		return &fieldError{"log_level", err}
	}
	if c.ShutdownTimeout < 0 {
		return bad("shutdown_timeout", "must not be negative")
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if c.Trust.IACADir == "" && len(c.Trust.IACAFiles) == 0 && c.Trust.VICAL == "" && len(c.Trust.IACAFolders) == 0 && c.Trust.VICALURL == "" {
		return bad("trust.iaca_dir", "give an IACA folder (or trust.iaca_files, trust.iaca_folders, trust.vical or trust.vical_url)")
	}
	if err := c.Trust.TrustRules.validate(); err != nil {
		return within("trust", err)
	}
	if c.Trust.VICAL != "" && c.Trust.VICALAnchor == "" {
		return bad("trust.vical_anchor", "a VICAL needs its provider's anchor certificate")
	}
	if err := c.Trust.validateRefresh(); err != nil {
		return within("trust", err)
	}
	if err := c.AuditLog.validate(); err != nil {
		return within("audit_log", err)
	}
	if c.ReaderAuth != nil && (c.ReaderAuth.Key == "") != (c.ReaderAuth.Chain == "") {
		return bad("reader_auth", "key and chain go together")
	}
	if err := c.Limits.validate(fileLimit()); err != nil {
		return limitsField(err)
	}
	if err := c.validateOps(); err != nil {
		return err
	}
	if err := c.Status.validate(); err != nil {
		return within("status", err)
	}
	c.custom = nil
	if c.Profiles != "" {
		file := "profiles: " + c.path(c.Profiles)
		custom, err := loadProfiles(c.path(c.Profiles))
		var fe *fieldError
		switch {
		case errors.As(err, &fe):
			return &fieldError{file + ": " + fe.field, fe.err}
		case err != nil:
			return &fieldError{file, err}
		}
		c.custom = custom
	}
	if len(c.Lanes) == 0 {
		return bad("lanes", "configure at least one lane")
	}
	names, bearers, readers, scanners := map[string]bool{}, map[string]bool{}, map[string]string{}, map[string]string{}
	for i := range c.Lanes {
		l := &c.Lanes[i]
		field := fmt.Sprintf("lanes[%d]", i)
		switch {
		case l.Name == "":
			return bad(field+".name", "missing")
		case names[l.Name]:
			return bad(field+".name", "duplicate lane %q", l.Name)
		case !gateBearers[l.Bearer]:
			return bad(field+".bearer", "unknown bearer %q (want %s)", l.Bearer, gateBearerList)
		case l.isWeb() && bearers[l.Bearer]:
			return bad(field+".bearer", "a second %s lane (one lane per web bearer)", l.Bearer)
		case l.Profile != "" && len(l.Request) > 0:
			return bad(field+".profile", "a lane has a profile or a request, not both")
		case !l.plain() && c.profileNamed(l.Profile) == nil:
			return bad(field+".profile", "unknown profile %q (want %s)", l.Profile, c.profileList())
		case l.MaxInFlight < 0:
			return bad(field+".max_in_flight", "must not be negative")
		case l.EngagementTimeout < 0:
			return bad(field+".engagement_timeout", "must not be negative")
		case l.InactivityTimeout < 0:
			return bad(field+".inactivity_timeout", "must not be negative")
		}
		if err := checkResponseBytes(l.MaxResponseBytes); err != nil {
			return within(field, err)
		}
		if err := l.validateBearerFields(readers); err != nil {
			return within(field, err)
		}
		if err := l.validateGateFields(); err != nil {
			return within(field, err)
		}
		if err := l.validateOnline(c.ReaderAuth != nil); err != nil {
			return within(field, err)
		}
		if err := l.validateProximity(scanners); err != nil {
			return within(field, err)
		}
		if l.QRScanner != "" {
			scanners[l.QRScanner] = field
		}
		if !l.plain() {
			p, err := c.profile(l)
			if err != nil {
				return within(field, err)
			}
			if err := p.CheckLane(c.ReaderAuth != nil); err != nil {
				return within(field+".profile", err)
			}
		}
		names[l.Name], bearers[l.Bearer] = true, true
		if l.Reader != "" {
			readers[l.Reader] = field
		}
		if l.MaxInFlight == 0 {
			l.MaxInFlight = 10_000
		}
		if l.EngagementTimeout == 0 {
			l.EngagementTimeout = 60 * time.Second
		}
		if l.InactivityTimeout == 0 {
			l.InactivityTimeout = 60 * time.Second
		}
	}
	if err := c.validateOnlineLanes(); err != nil {
		return err
	}
	return c.validateVenue()
}

// validateBearerFields checks (and defaults) the fields that belong to one bearer.
func (l *LaneConfig) validateBearerFields(readers map[string]string) error {
	switch {
	case l.Reader != "" && l.Bearer != bearerNFCPCSC:
		return bad("reader", "only nfc-pcsc lanes have a PC/SC reader (this lane is %s)", l.Bearer)
	case l.Bearer == bearerNFCPCSC && l.Reader == "":
		return bad("reader", "an nfc-pcsc lane needs its PC/SC reader's name (or a unique part of it)")
	case l.Reader != "" && readers[l.Reader] != "":
		return bad("reader", "reader %q is already the reader of %s", l.Reader, readers[l.Reader])
	case l.BLEMode != "" && l.Bearer != bearerBLE:
		return bad("ble_mode", "only ble lanes have a BLE mode (this lane is %s)", l.Bearer)
	case l.BLEL2CAP && l.Bearer != bearerBLE && !l.handsOffToBLE():
		return bad("ble_l2cap", "only ble lanes and lanes handing off to ble use L2CAP (this lane is %s)", l.Bearer)
	case l.BLEMode != "" && bleModes[l.BLEMode] == "":
		return bad("ble_mode", "unknown mode %q (want central_client, peripheral_server or both)", l.BLEMode)
	}
	if l.Bearer == bearerBLE && l.BLEMode == "" {
		l.BLEMode = "both"
	}
	return nil
}

// validateGateFields checks (and defaults) holder verification and the actuator.
func (l *LaneConfig) validateGateFields() error {
	if l.HolderVerification == "" {
		l.HolderVerification = hvNone // profile() refuses it for a profile asking for holder verification
	}
	switch l.HolderVerification {
	case hvNone, hvOperator, hvTestAccept, hvTestReject:
	default:
		return bad("holder_verification", "unknown matcher %q (want none, operator, test-accept or test-reject)", l.HolderVerification)
	}
	switch {
	case l.OperatorTimeout < 0:
		return bad("operator_timeout", "must not be negative")
	case l.OperatorTimeout != 0 && l.HolderVerification != hvOperator:
		return bad("operator_timeout", "only with holder_verification: operator")
	case l.OperatorTimeout == 0 && l.HolderVerification == hvOperator:
		l.OperatorTimeout = 30 * time.Second
	}
	if l.plain() {
		switch {
		case l.HolderVerification != hvNone:
			return bad("holder_verification", "a lane without a profile verifies no holder")
		case l.Actuator != "":
			return bad("actuator", "a lane without a profile has no gate actions")
		case l.ActuatorOptions != nil:
			return bad("actuator_options", "a lane without a profile has no gate actions")
		}
		return nil
	}
	return l.validateActuator()
}

// path resolves a configured path against Dir.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// loadTrustWith reads the IACA folders, files and VICAL into one trust store, every
// anchor scoped to its docTypes, with the VICAL last fetched from trust.vical_url (nil
// when there is none yet: with vical_url the trust may then be empty, the gate not
// ready). It is called at start, on every reload and after every good VICAL fetch.
func (c *Config) loadTrustWith(now time.Time, fetched *trust.VICAL) (*verify.TrustStore, error) {
	store := &trust.Store{}
	if c.Trust.IACADir != "" {
		s, _, err := trust.LoadDir(c.path(c.Trust.IACADir), now)
		if err != nil {
			return nil, &fieldError{"trust.iaca_dir", err}
		}
		store = s
	}
	if err := c.Trust.addFolders(store, now, c.path); err != nil {
		return nil, err
	}
	if c.Trust.VICAL != "" {
		anchorData, err := messages.ReadFileLimited(c.path(c.Trust.VICALAnchor), trust.MaxAnchorFileSize)
		if err != nil {
			return nil, &fieldError{"trust.vical_anchor", err}
		}
		anchors, err := verify.ParseCertificates(anchorData)
		if err != nil {
			return nil, &fieldError{"trust.vical_anchor", err}
		}
		data, err := messages.ReadFileLimited(c.path(c.Trust.VICAL), trust.MaxVICALSize)
		if err != nil {
			return nil, &fieldError{"trust.vical", err}
		}
		v, err := trust.ParseVICAL(data, trust.VICALOptions{Anchors: verify.NewTrustStore(anchors...), Now: now})
		if err != nil {
			return nil, &fieldError{"trust.vical", err}
		}
		if _, err := store.AddVICAL(v, now); err != nil {
			return nil, &fieldError{"trust.vical", err}
		}
	}
	if fetched != nil {
		if _, err := store.AddVICAL(fetched, now); err != nil {
			return nil, &fieldError{"trust.vical_url", err}
		}
	}
	ts := store.TrustStore("", now)
	for i, f := range c.Trust.IACAFiles {
		field := fmt.Sprintf("trust.iaca_files[%d]", i)
		data, err := messages.ReadFileLimited(c.path(f), trust.MaxAnchorFileSize)
		if err != nil {
			return nil, &fieldError{field, err}
		}
		certs, err := verify.ParseCertificates(data)
		if err != nil {
			return nil, &fieldError{field, fmt.Errorf("%s: %w", f, err)}
		}
		ts.Add(certs...)
	}
	if ts.Len() == 0 && (c.Trust.VICALURL == "" || fetched != nil) {
		return nil, bad("trust", "no anchor valid now")
	}
	return ts, nil
}

// loadReaderAuth reads the reader-authentication key and chain; nil without them.
func (c *Config) loadReaderAuth() (request.Signer, error) {
	if c.ReaderAuth == nil || c.ReaderAuth.Key == "" {
		return nil, nil
	}
	keyData, err := messages.ReadFileLimited(c.path(c.ReaderAuth.Key), keys.MaxKeyFileSize)
	if err != nil {
		return nil, &fieldError{"reader_auth.key", err}
	}
	key, err := keys.ParsePrivateKey(keyData)
	if err != nil {
		return nil, &fieldError{"reader_auth.key", err}
	}
	chainData, err := messages.ReadFileLimited(c.path(c.ReaderAuth.Chain), trust.MaxAnchorFileSize)
	if err != nil {
		return nil, &fieldError{"reader_auth.chain", err}
	}
	certs, err := verify.ParseCertificates(chainData)
	if err != nil {
		return nil, &fieldError{"reader_auth.chain", err}
	}
	if len(certs) == 0 {
		return nil, bad("reader_auth.chain", "no certificate")
	}
	chain := make([][]byte, len(certs))
	for i, cert := range certs {
		chain[i] = cert.Raw
	}
	return &request.ReaderKey{Key: key, Chain: chain}, nil
}

// AddIACAFiles adds trust anchor files named on the command line (serve --trust),
// relative to the working directory rather than to the config file; a reload keeps them.
func (c *Config) AddIACAFiles(files ...string) error {
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("--trust: %w", err)
		}
		c.Trust.IACAFiles = append(c.Trust.IACAFiles, abs)
	}
	return nil
}
