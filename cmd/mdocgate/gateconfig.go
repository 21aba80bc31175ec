package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap/zapcore"
	"gopkg.in/yaml.v3"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/transports/web"
)

// gateConfig is the YAML configuration of `mdocgate serve --config` (see
// examples/gate.yaml for every field with comments). Relative paths are relative to the
// configuration file.
type gateConfig struct {
	Name            string            `yaml:"name"`
	Listen          string            `yaml:"listen"`
	Origin          string            `yaml:"origin"`
	RequireOrigin   bool              `yaml:"require_origin"`
	HTTPAddr        string            `yaml:"http_addr"`
	LogLevel        string            `yaml:"log_level"`
	ShutdownTimeout time.Duration     `yaml:"shutdown_timeout"`
	Trust           trustConfig       `yaml:"trust"`
	ReaderAuth      *readerAuthConfig `yaml:"reader_auth"`
	// LogElementValues (debug only) adds the disclosed element values, binary ones
	// left out, to the gate action log lines.
	LogElementValues bool         `yaml:"log_element_values"`
	Lanes            []laneConfig `yaml:"lanes"`

	dir string // the configuration file's folder
}

// trustConfig names the IACA anchors: a folder and, optionally, a VICAL.
type trustConfig struct {
	IACADir     string `yaml:"iaca_dir"`
	VICAL       string `yaml:"vical"`
	VICALAnchor string `yaml:"vical_anchor"`
}

// readerAuthConfig is the reader-authentication key and its certificate chain.
type readerAuthConfig struct {
	Key   string `yaml:"key"`
	Chain string `yaml:"chain"`
}

// laneConfig is one lane of the gate.
type laneConfig struct {
	Name              string        `yaml:"name"`
	Bearer            string        `yaml:"bearer"`
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
	// Actuator is what carries out the lane's actions: log.
	Actuator string `yaml:"actuator"`
}

// Bearers a configured lane may use: the web server's two session transports and every
// bearer of the supervisor's registry that serve runs lanes on.
const (
	bearerNFC       = "nfc"
	bearerNFCPCSC   = "nfc-pcsc"
	bearerBLE       = "ble"
	bearerWiFiAware = "wifiaware"
	bearerMemory    = "memory"
)

var gateBearers = map[string]bool{web.BearerHTTP: true, web.BearerWebSocket: true, bearerNFC: true, bearerNFCPCSC: true,
	bearerBLE: true, bearerWiFiAware: true, bearerMemory: true}

const gateBearerList = "websocket, http, nfc, nfc-pcsc, ble, wifiaware or memory"

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
func (l *laneConfig) isWeb() bool {
	return l.Bearer == web.BearerHTTP || l.Bearer == web.BearerWebSocket
}

// bearerOptions are the supervisor bearer options of a radio lane.
func (l *laneConfig) bearerOptions() map[string]string {
	switch l.Bearer {
	case bearerNFCPCSC:
		return map[string]string{"reader": l.Reader}
	case bearerBLE:
		return map[string]string{"ble-mode": bleModes[l.BLEMode], "l2cap": fmt.Sprint(l.BLEL2CAP)}
	}
	return nil
}

// profile returns the lane's built-in profile, compiled, with holder
// verification switched on when the lane asks for it; the error names the field.
func (l *laneConfig) profile() (*profile.Profile, error) {
	p := profile.Builtin(l.Profile)
	if p == nil {
		return nil, fmt.Errorf("profile: unknown profile %q (want mdl, photoid or age_over_18)", l.Profile)
	}
	return withHolderVerification(p, l.HolderVerification)
}

// withHolderVerification compiles a fresh (not yet compiled) profile for a lane whose
// holder_verification is hv: a profile asking for holder verification needs a matcher,
// and a matcher needs a profile that requests the portrait. The error names the field
// (after the lane's prefix).
func withHolderVerification(p *profile.Profile, hv string) (*profile.Profile, error) {
	switch {
	case hv == hvNone && p.HolderVerification:
		return nil, fmt.Errorf("holder_verification: profile %s asks for holder verification: give operator, test-accept or test-reject", p.Name)
	case hv != hvNone:
		p.HolderVerification = true
		if err := p.Compile(); err != nil {
			return nil, fmt.Errorf("holder_verification: %s needs a profile requesting the portrait: %w", hv, err)
		}
	}
	if err := p.Compile(); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	return p, nil
}

// loadGateConfig reads, defaults and validates a configuration file. Its errors start
// with "config: " and name the failing field.
func loadGateConfig(path string) (*gateConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	cfg := &gateConfig{}
	if err := dec.Decode(cfg); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	cfg.dir = filepath.Dir(path)
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// validate fills defaults and checks every field; the error names the field.
func (c *gateConfig) validate() error {
	if c.Name == "" {
		c.Name = "mdocgate"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8443"
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return fmt.Errorf("http_addr: %w", err)
		}
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		return fmt.Errorf("log_level: %w", err)
	}
	if c.ShutdownTimeout < 0 {
		return errors.New("shutdown_timeout: must not be negative")
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Trust.IACADir == "" && c.Trust.VICAL == "" {
		return errors.New("trust.iaca_dir: give an IACA folder (or trust.vical)")
	}
	if c.Trust.VICAL != "" && c.Trust.VICALAnchor == "" {
		return errors.New("trust.vical_anchor: a VICAL needs its provider's anchor certificate")
	}
	if c.ReaderAuth != nil && (c.ReaderAuth.Key == "") != (c.ReaderAuth.Chain == "") {
		return errors.New("reader_auth: key and chain go together")
	}
	if len(c.Lanes) == 0 {
		return errors.New("lanes: configure at least one lane")
	}
	names, bearers, readers := map[string]bool{}, map[string]bool{}, map[string]string{}
	for i := range c.Lanes {
		l := &c.Lanes[i]
		field := fmt.Sprintf("lanes[%d]", i)
		switch {
		case l.Name == "":
			return fmt.Errorf("%s.name: missing", field)
		case names[l.Name]:
			return fmt.Errorf("%s.name: duplicate lane %q", field, l.Name)
		case !gateBearers[l.Bearer]:
			return fmt.Errorf("%s.bearer: unknown bearer %q (want %s)", field, l.Bearer, gateBearerList)
		case l.isWeb() && bearers[l.Bearer]:
			return fmt.Errorf("%s.bearer: a second %s lane (one lane per web bearer)", field, l.Bearer)
		case profile.Builtin(l.Profile) == nil:
			return fmt.Errorf("%s.profile: unknown profile %q (want mdl, photoid or age_over_18)", field, l.Profile)
		case l.MaxInFlight < 0:
			return fmt.Errorf("%s.max_in_flight: must not be negative", field)
		case l.EngagementTimeout < 0:
			return fmt.Errorf("%s.engagement_timeout: must not be negative", field)
		case l.InactivityTimeout < 0:
			return fmt.Errorf("%s.inactivity_timeout: must not be negative", field)
		}
		if err := l.validateBearerFields(field, readers); err != nil {
			return err
		}
		if err := l.validateGateFields(field); err != nil {
			return err
		}
		if _, err := l.profile(); err != nil {
			return fmt.Errorf("%s.%w", field, err)
		}
		if err := profile.Builtin(l.Profile).CheckLane(c.ReaderAuth != nil); err != nil {
			return fmt.Errorf("%s.profile: %w", field, err)
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
	return nil
}

// validateBearerFields checks (and defaults) the fields that belong to one bearer.
func (l *laneConfig) validateBearerFields(field string, readers map[string]string) error {
	switch {
	case l.Reader != "" && l.Bearer != bearerNFCPCSC:
		return fmt.Errorf("%s.reader: only nfc-pcsc lanes have a PC/SC reader (this lane is %s)", field, l.Bearer)
	case l.Bearer == bearerNFCPCSC && l.Reader == "":
		return fmt.Errorf("%s.reader: an nfc-pcsc lane needs its PC/SC reader's name (or a unique part of it)", field)
	case l.Reader != "" && readers[l.Reader] != "":
		return fmt.Errorf("%s.reader: reader %q is already the reader of %s", field, l.Reader, readers[l.Reader])
	case l.BLEMode != "" && l.Bearer != bearerBLE:
		return fmt.Errorf("%s.ble_mode: only ble lanes have a BLE mode (this lane is %s)", field, l.Bearer)
	case l.BLEL2CAP && l.Bearer != bearerBLE:
		return fmt.Errorf("%s.ble_l2cap: only ble lanes use L2CAP (this lane is %s)", field, l.Bearer)
	case l.BLEMode != "" && bleModes[l.BLEMode] == "":
		return fmt.Errorf("%s.ble_mode: unknown mode %q (want central_client, peripheral_server or both)", field, l.BLEMode)
	}
	if l.Bearer == bearerBLE && l.BLEMode == "" {
		l.BLEMode = "both"
	}
	return nil
}

// validateGateFields checks (and defaults) holder verification and the actuator.
func (l *laneConfig) validateGateFields(field string) error {
	if l.HolderVerification == "" {
		l.HolderVerification = hvNone // profile() refuses it for a profile asking for holder verification
	}
	switch l.HolderVerification {
	case hvNone, hvOperator, hvTestAccept, hvTestReject:
	default:
		return fmt.Errorf("%s.holder_verification: unknown matcher %q (want none, operator, test-accept or test-reject)", field, l.HolderVerification)
	}
	switch {
	case l.OperatorTimeout < 0:
		return fmt.Errorf("%s.operator_timeout: must not be negative", field)
	case l.OperatorTimeout != 0 && l.HolderVerification != hvOperator:
		return fmt.Errorf("%s.operator_timeout: only with holder_verification: operator", field)
	case l.OperatorTimeout == 0:
		l.OperatorTimeout = 30 * time.Second
	}
	if l.Actuator == "" {
		l.Actuator = "log"
	}
	if l.Actuator != "log" {
		return fmt.Errorf("%s.actuator: unknown actuator %q (want log)", field, l.Actuator)
	}
	return nil
}

// path resolves a configured path against the configuration file's folder.
func (c *gateConfig) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// loadTrust reads the IACA folder and the VICAL into one trust store. It is called at
// start and again on every SIGHUP.
func (c *gateConfig) loadTrust(now time.Time) (*verify.TrustStore, error) {
	store := &trust.Store{}
	if c.Trust.IACADir != "" {
		s, _, err := trust.LoadDir(c.path(c.Trust.IACADir), now)
		if err != nil {
			return nil, fmt.Errorf("trust.iaca_dir: %w", err)
		}
		store = s
	}
	if c.Trust.VICAL != "" {
		anchorData, err := os.ReadFile(c.path(c.Trust.VICALAnchor))
		if err != nil {
			return nil, fmt.Errorf("trust.vical_anchor: %w", err)
		}
		anchors, err := verify.ParseCertificates(anchorData)
		if err != nil {
			return nil, fmt.Errorf("trust.vical_anchor: %w", err)
		}
		data, err := os.ReadFile(c.path(c.Trust.VICAL))
		if err != nil {
			return nil, fmt.Errorf("trust.vical: %w", err)
		}
		v, err := trust.ParseVICAL(data, trust.VICALOptions{Anchors: verify.NewTrustStore(anchors...), Now: now})
		if err != nil {
			return nil, fmt.Errorf("trust.vical: %w", err)
		}
		if _, err := store.AddVICAL(v, now); err != nil {
			return nil, fmt.Errorf("trust.vical: %w", err)
		}
	}
	ts := store.TrustStore("", now)
	if ts.Len() == 0 {
		return nil, errors.New("trust: no anchor valid now")
	}
	return ts, nil
}

// loadReaderAuth reads the reader-authentication key and chain; nil without them.
func (c *gateConfig) loadReaderAuth() (request.Signer, error) {
	if c.ReaderAuth == nil || c.ReaderAuth.Key == "" {
		return nil, nil
	}
	keyData, err := os.ReadFile(c.path(c.ReaderAuth.Key))
	if err != nil {
		return nil, fmt.Errorf("reader_auth.key: %w", err)
	}
	key, err := keys.ParsePrivateKey(keyData)
	if err != nil {
		return nil, fmt.Errorf("reader_auth.key: %w", err)
	}
	chainData, err := os.ReadFile(c.path(c.ReaderAuth.Chain))
	if err != nil {
		return nil, fmt.Errorf("reader_auth.chain: %w", err)
	}
	certs, err := verify.ParseCertificates(chainData)
	if err != nil {
		return nil, fmt.Errorf("reader_auth.chain: %w", err)
	}
	if len(certs) == 0 {
		return nil, errors.New("reader_auth.chain: no certificate")
	}
	chain := make([][]byte, len(certs))
	for i, cert := range certs {
		chain[i] = cert.Raw
	}
	return &request.ReaderKey{Key: key, Chain: chain}, nil
}
