package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
)

// CheckReport is what Check found in a configuration that can run.
type CheckReport struct {
	Lanes   int `json:"lanes"`
	Anchors int `json:"anchors"`
	// Skipped names what Check cannot know without starting the gate.
	Skipped []string `json:"skipped,omitempty"`
}

// Check validates cfg (filling its defaults) and everything it names that can be read
// without binding a port or reaching another host: trust anchors, the reader
// authentication key and chain, the profiles, the TLS certificates and client CAs,
// every actuator's secret file and program, the audit log's folder. Its errors are
// *ConfigError naming the field. What it cannot know is in the report's Skipped: the
// VICAL of vical_url (only its anchor is read), PC/SC readers, whether the ports are
// free and the MQTT brokers and webhooks reachable.
func Check(cfg *Config) (*CheckReport, error) {
	rep, err := check(cfg)
	return rep, configError(err)
}

func check(cfg *Config) (*CheckReport, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rep := &CheckReport{Lanes: len(cfg.Lanes)}
	for i, l := range cfg.Lanes {
		if l.HolderVerification == hvOperator && cfg.HTTPAddr == "" {
			return nil, bad(fmt.Sprintf("lanes[%d].holder_verification", i), "operator needs http_addr (the operator answers at /operator/)")
		}
	}
	if cfg.Trust.VICALURL != "" {
		if _, err := cfg.vicalAnchors(); err != nil {
			return nil, err
		}
		rep.Skipped = append(rep.Skipped, "trust.vical_url: not fetched")
	}
	ts, err := cfg.loadTrustWith(time.Now(), nil)
	if err != nil {
		return nil, err
	}
	rep.Anchors = ts.Len()
	if _, err := cfg.loadReaderAuth(); err != nil {
		return nil, err
	}
	if _, err := cfg.newWebCerts(); err != nil {
		return nil, err
	}
	if _, err := cfg.newOpsCerts(); err != nil {
		return nil, err
	}
	if cfg.HTTPAddr != "" { // ops_auth's token file and client CAs
		if _, err := cfg.newOpsGuard(zap.NewNop()); err != nil {
			return nil, err
		}
	}
	for i := range cfg.Lanes {
		l := &cfg.Lanes[i]
		switch l.Actuator {
		case actWebhook, actMQTT, actExec:
			if _, err := cfg.actuatorSink(l, cfg.Name); err != nil {
				return nil, within(fmt.Sprintf("lanes[%d]", i), err)
			}
		}
		if l.Bearer == bearerNFCPCSC {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("lanes[%d].reader: PC/SC reader not looked for", i))
		}
		if err := l.checkScanner(); err != nil {
			return nil, within(fmt.Sprintf("lanes[%d]", i), err)
		}
	}
	if a := cfg.AuditLog; a != nil {
		dir := filepath.Dir(cfg.path(a.Path))
		if st, err := os.Stat(dir); err != nil {
			return nil, &fieldError{"audit_log.path", err}
		} else if !st.IsDir() {
			return nil, bad("audit_log.path", "%s is not a folder", dir)
		}
	}
	rep.Skipped = append(rep.Skipped, "listen, http_addr: ports not bound")
	return rep, nil
}
