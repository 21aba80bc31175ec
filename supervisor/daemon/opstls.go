package daemon

// OpsTLSConfig serves the operations endpoints (http_addr) over HTTPS: `ops_tls:`.
// ClientCA, when set, makes every connection present a client certificate chaining to
// one of its certificates (PEM or DER), /healthz, /readyz and /metrics included. The
// files are read at start and again on SIGHUP (certSource, tls.go).
type OpsTLSConfig struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"`
}

// validateOpsTLS checks ops_tls against http_addr; the files are read by New and Check.
func (c *Config) validateOpsTLS() error {
	t := c.OpsTLS
	switch {
	case t == nil:
		return nil
	case t.Cert == "" || t.Key == "":
		return bad("ops_tls", "cert and key go together")
	case c.HTTPAddr == "":
		return bad("ops_tls", "no http_addr to serve over TLS")
	}
	return nil
}

// newOpsCerts reads the operations listener's certificate and client CAs; nil without
// ops_tls.
func (c *Config) newOpsCerts() (*certSource, error) {
	if c.OpsTLS == nil {
		return nil, nil
	}
	s := &certSource{field: "ops_tls"}
	return s, s.reload(c)
}
