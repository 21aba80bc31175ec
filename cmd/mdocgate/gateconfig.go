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

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/profile"
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
	Lanes           []laneConfig      `yaml:"lanes"`

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
}

// gateBearers are the bearers a configured lane may use today.
var gateBearers = map[string]bool{web.BearerHTTP: true, web.BearerWebSocket: true}

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
	names, bearers := map[string]bool{}, map[string]bool{}
	for i := range c.Lanes {
		l := &c.Lanes[i]
		field := fmt.Sprintf("lanes[%d]", i)
		switch {
		case l.Name == "":
			return fmt.Errorf("%s.name: missing", field)
		case names[l.Name]:
			return fmt.Errorf("%s.name: duplicate lane %q", field, l.Name)
		case !gateBearers[l.Bearer]:
			return fmt.Errorf("%s.bearer: unknown bearer %q (want http or websocket)", field, l.Bearer)
		case bearers[l.Bearer]:
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
		if err := profile.Builtin(l.Profile).CheckLane(c.ReaderAuth != nil); err != nil {
			return fmt.Errorf("%s.profile: %w", field, err)
		}
		names[l.Name], bearers[l.Bearer] = true, true
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
func (c *gateConfig) loadReaderAuth() (holder.ReaderAuthSigner, error) {
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
	return &issuer.ReaderSigner{CertKey: issuer.CertKey{Certificate: certs[0], Key: key}, Chain: chain}, nil
}

// laneProfile returns the lane's built-in profile, compiled.
func laneProfile(name string) (*profile.Profile, error) {
	p := profile.Builtin(name)
	if p == nil {
		return nil, fmt.Errorf("unknown profile %q", name)
	}
	if err := p.Compile(); err != nil {
		return nil, err
	}
	return p, nil
}
