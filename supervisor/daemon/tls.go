package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// TLSConfig is the web listener's certificate chain, leaf first, and its private key
// (PEM): `tls:`. Both or neither.
type TLSConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// on reports whether the web listener serves TLS.
func (t *TLSConfig) on() bool { return t != nil && t.Cert != "" }

// validateTLS checks tls, ops_tls and the origin tls implies: an origin given with tls
// must be https://, since holders check the session URLs' scheme against it.
func (c *Config) validateTLS() error {
	if c.TLS != nil && (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return bad("tls", "cert and key go together")
	}
	if c.TLS.on() && c.Origin != "" && !strings.HasPrefix(c.Origin, "https://") {
		return bad("origin", "%q: with tls the origin is https://", c.Origin)
	}
	return c.validateOpsTLS()
}

// certSource is a listener's TLS material, swapped whole by reload: handshakes after a
// reload use the new certificate (and client CAs), connections already open keep the
// ones they were made with. TLS 1.2 is the lowest version offered.
type certSource struct {
	field string // the config field, for errors: tls or ops_tls
	cur   atomic.Pointer[certMaterial]
}

type certMaterial struct {
	cert      *tls.Certificate
	clientCAs *x509.CertPool // nil: no client certificate asked for
}

// newWebCerts reads the web listener's certificate; nil without tls.
func (c *Config) newWebCerts() (*certSource, error) {
	if !c.TLS.on() {
		return nil, nil
	}
	s := &certSource{field: "tls"}
	return s, s.reload(c)
}

// reload re-reads the files c names for the listener; on an error the current material
// stays. A listener whose TLS was switched on or off in c keeps what it has (that needs
// a restart; reload reports it).
func (s *certSource) reload(c *Config) error {
	if s == nil {
		return nil
	}
	var files TLSConfig
	var clientCA string
	switch s.field {
	case "tls":
		if !c.TLS.on() {
			return nil
		}
		files = *c.TLS
	default:
		if c.OpsTLS == nil {
			return nil
		}
		files, clientCA = TLSConfig{Cert: c.OpsTLS.Cert, Key: c.OpsTLS.Key}, c.OpsTLS.ClientCA
	}
	cert, err := tls.LoadX509KeyPair(c.path(files.Cert), c.path(files.Key))
	if err != nil {
		return &fieldError{s.field, err}
	}
	if cert.Leaf == nil {
		return bad(s.field+".cert", "no certificate")
	}
	m := &certMaterial{cert: &cert}
	if clientCA != "" {
		data, err := messages.ReadFileLimited(c.path(clientCA), trust.MaxAnchorFileSize)
		if err != nil {
			return &fieldError{s.field + ".client_ca", err}
		}
		certs, err := verify.ParseCertificates(data)
		if err == nil && len(certs) == 0 {
			err = errors.New("no certificate")
		}
		if err != nil {
			return &fieldError{s.field + ".client_ca", err}
		}
		m.clientCAs = x509.NewCertPool()
		for _, ca := range certs {
			m.clientCAs.AddCert(ca)
		}
	}
	s.cur.Store(m)
	return nil
}

// config is the listener's tls.Config: it looks the current material up at every
// handshake.
func (s *certSource) config() *tls.Config {
	getCert := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cur.Load().cert, nil }
	base := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		m := s.cur.Load()
		if m.clientCAs == nil {
			return nil, nil // the base configuration
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert,
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: m.clientCAs}, nil
	}
	return base
}

// clone returns a source holding the same material, for a reload to load into before
// it commits (take); nil stays nil.
func (s *certSource) clone() *certSource {
	if s == nil {
		return nil
	}
	c := &certSource{field: s.field}
	c.cur.Store(s.cur.Load())
	return c
}

// take makes the material a clone loaded the listener's.
func (s *certSource) take(from *certSource) {
	if s != nil {
		s.cur.Store(from.cur.Load())
	}
}

// notAfter is when the current certificate expires.
func (s *certSource) notAfter() time.Time { return s.cur.Load().cert.Leaf.NotAfter }

// certCollectors export when the listeners' certificates expire.
func certCollectors(sources ...*certSource) []prometheus.Collector {
	var out []prometheus.Collector
	for _, s := range sources {
		if s == nil {
			continue
		}
		listener := map[string]string{"tls": "web", "ops_tls": "ops"}[s.field]
		out = append(out, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mdocgate_tls_certificate_expiry_timestamp_seconds",
			Help: "When the listener's TLS certificate expires (Unix time), by listener (web, ops).", ConstLabels: prometheus.Labels{"listener": listener}},
			func() float64 { return float64(s.notAfter().Unix()) }))
	}
	return out
}
