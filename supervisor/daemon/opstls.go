package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"os"

	"github.com/mdocgate/mdocgate/crypto/verify"
)

// OpsTLSConfig serves the operations endpoints (http_addr) over HTTPS (`ops_tls:`), which
// client certificates (ops_auth.client_ca) need. The files are read once, at start.
type OpsTLSConfig struct {
	// Cert and Key are the server's certificate chain, leaf first, and its key (PEM).
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ClientCA, when set, makes every connection present a client certificate under
	// it, /healthz and /metrics included (a listener for a management network only).
	// Operators are authenticated by ops_auth.client_ca either way.
	ClientCA string `yaml:"client_ca"`
}

// opsTLS builds the operations listener's TLS configuration: client certificates are
// asked for when ops_auth names a CA (the guard verifies them), required and verified
// at the handshake when ops_tls does.
func (c *Config) opsTLS() (*tls.Config, error) {
	t := c.OpsTLS
	if t == nil {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.path(t.Cert), c.path(t.Key))
	if err != nil {
		return nil, &fieldError{"ops_tls", err}
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	pool := x509.NewCertPool()
	add := func(field, file string) error {
		data, err := os.ReadFile(c.path(file))
		if err != nil {
			return &fieldError{field, err}
		}
		certs, err := verify.ParseCertificates(data)
		if err != nil || len(certs) == 0 {
			return bad(field, "no certificate: %v", err)
		}
		for _, cert := range certs {
			pool.AddCert(cert)
		}
		return nil
	}
	if a := c.OpsAuth; a != nil && a.ClientCA != "" {
		if err := add("ops_auth.client_ca", a.ClientCA); err != nil {
			return nil, err
		}
		// asked for, checked by the guard: a foreign certificate gets a 401, not a
		// failed handshake, and /healthz still answers it
		cfg.ClientAuth = tls.RequestClientCert
	}
	if t.ClientCA != "" {
		if err := add("ops_tls.client_ca", t.ClientCA); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	cfg.ClientCAs = pool
	return cfg, nil
}
