package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// OpsAuthConfig says who may use the operator desk (/operator/) and the dashboard
// (/dashboard/) on http_addr (`ops_auth:`, documented in examples/gate.yaml): a bearer
// token of TokenFile, or a client certificate under ClientCA (over ops_tls). /healthz
// stays open, and /metrics unless ProtectMetrics.
type OpsAuthConfig struct {
	// TokenFile holds one operator a line, "NAME:TOKEN" (NAME is who decided, in the
	// verdicts and the audit lines; a TOKEN alone is named "operator"); tokens of at
	// least 16 characters, '#' comments and blank lines ignored.
	TokenFile string `yaml:"token_file"`
	// ClientCA holds the certificates (PEM or DER) client certificates must chain to;
	// the operator is named by the certificate's subject common name. Needs ops_tls.
	ClientCA string `yaml:"client_ca"`
	// AllowedHosts are the host names (or addresses) operators' browsers use to reach
	// http_addr: any other Host header, or an Origin naming another host, is refused
	// (DNS rebinding). Default: localhost, 127.0.0.1, ::1 and http_addr's host; a
	// wildcard http_addr needs them named.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// ProtectMetrics puts /metrics behind the same credentials.
	ProtectMetrics bool `yaml:"protect_metrics"`
}

// minTokenLength is the shortest operator token accepted.
const minTokenLength = 16

// operatorToken is one operator's token: its name and the SHA-256 of the token (compared
// in constant time, never the token itself).
type operatorToken struct {
	name string
	hash [32]byte
}

// opsGuard authenticates requests to the protected operations endpoints and checks
// their Host, Origin and CSRF token.
type opsGuard struct {
	tokens   []operatorToken
	certs    *x509.CertPool // ops_auth.client_ca; nil: no certificate authenticates
	open     bool           // no credentials configured (loopback only): everyone is "local"
	hosts    map[string]bool
	metrics  bool // /metrics protected
	csrfKey  []byte
	log      *zap.Logger
	failures *prometheus.CounterVec
}

// How an operator was authenticated.
const (
	authToken       = "token"
	authCertificate = "certificate"
	authLocal       = "local" // no authentication configured, loopback only
)

// CSRFHeader carries the CSRF token on every state-changing request to the operations
// endpoints; GET /operator/pending returns it (csrf_token) and every authenticated
// answer carries it in this header.
const CSRFHeader = "X-CSRF-Token"

// validateOps checks ops_auth against http_addr and ops_tls: a http_addr reachable
// from other hosts needs credentials, certificates need TLS, a wildcard address needs
// its host names. Files are read later, by New.
func (c *Config) validateOps() error {
	a, t := c.OpsAuth, c.OpsTLS // ops_tls itself: validateOpsTLS
	if a != nil {
		switch {
		case a.TokenFile == "" && a.ClientCA == "":
			return bad("ops_auth", "give token_file or client_ca (or both)")
		case a.ClientCA != "" && t == nil:
			return bad("ops_auth.client_ca", "client certificates need the operations endpoints over TLS: add ops_tls")
		}
		for i, h := range a.AllowedHosts {
			if h == "" || strings.ContainsAny(h, "/ :") && net.ParseIP(h) == nil {
				return bad(fmt.Sprintf("ops_auth.allowed_hosts[%d]", i), "%q: want a host name or address, no scheme or port", h)
			}
		}
	}
	if c.HTTPAddr == "" {
		return nil
	}
	host, _, _ := net.SplitHostPort(c.HTTPAddr)
	if !loopbackHost(host) && (a == nil || a.TokenFile == "" && a.ClientCA == "") {
		return bad("ops_auth", "http_addr %s is reachable from other hosts and would hand portraits and gate decisions to anyone: "+
			"give ops_auth.token_file or ops_auth.client_ca, or bind http_addr to loopback", c.HTTPAddr)
	}
	if wildcardHost(host) && (a == nil || len(a.AllowedHosts) == 0) {
		return bad("ops_auth.allowed_hosts", "http_addr %s listens on every address: name the hosts operators reach it by", c.HTTPAddr)
	}
	return nil
}

// loopbackHost reports whether host (of a listen address) is loopback only.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// wildcardHost reports whether host (of a listen address) means every address.
func wildcardHost(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// newOpsGuard reads the token file and the client CA; errors name the field.
func (c *Config) newOpsGuard(log *zap.Logger) (*opsGuard, error) {
	g := &opsGuard{hosts: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}, log: log,
		csrfKey: make([]byte, 32),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mdocgate_ops_refused_total",
			Help: "Requests to the operator desk or the dashboard refused, by why (credentials, host, origin, csrf)."}, []string{"why"})}
	if _, err := rand.Read(g.csrfKey); err != nil {
		return nil, err
	}
	if host, _, err := net.SplitHostPort(c.HTTPAddr); err == nil && !wildcardHost(host) {
		g.hosts[strings.ToLower(host)] = true
	}
	a := c.OpsAuth
	if a == nil {
		g.open = true
		return g, nil
	}
	if len(a.AllowedHosts) > 0 {
		g.hosts = map[string]bool{}
		for _, h := range a.AllowedHosts {
			g.hosts[strings.ToLower(strings.Trim(h, "[]"))] = true
		}
	}
	g.metrics = a.ProtectMetrics
	if a.TokenFile != "" {
		tokens, err := readTokens(c.path(a.TokenFile))
		if err != nil {
			return nil, &fieldError{"ops_auth.token_file", err}
		}
		g.tokens = tokens
	}
	if a.ClientCA != "" {
		data, err := messages.ReadFileLimited(c.path(a.ClientCA), trust.MaxAnchorFileSize)
		if err != nil {
			return nil, &fieldError{"ops_auth.client_ca", err}
		}
		certs, err := verify.ParseCertificates(data)
		if err != nil || len(certs) == 0 {
			return nil, bad("ops_auth.client_ca", "no certificate: %v", err)
		}
		g.certs = x509.NewCertPool()
		for _, cert := range certs {
			g.certs.AddCert(cert)
		}
	}
	return g, nil
}

// readTokens reads a token file: "NAME:TOKEN" a line.
func readTokens(path string) ([]operatorToken, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var out []operatorToken
	seen := map[[32]byte]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, token, ok := strings.Cut(line, ":")
		if !ok {
			name, token = "operator", line
		}
		name, token = strings.TrimSpace(name), strings.TrimSpace(token)
		switch {
		case name == "":
			return nil, fmt.Errorf("line %d: empty operator name", n)
		case len(token) < minTokenLength:
			return nil, fmt.Errorf("line %d: token of %s shorter than %d characters", n, name, minTokenLength)
		}
		h := sha256.Sum256([]byte(token))
		if seen[h] {
			return nil, fmt.Errorf("line %d: the token of %s is another operator's too", n, name)
		}
		seen[h] = true
		out = append(out, operatorToken{name: name, hash: h})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no token")
	}
	return out, nil
}

// operator is who a request to the operations endpoints comes from.
type operator struct {
	name string
	how  string // authToken, authCertificate or authLocal
}

type operatorKey struct{}

// operatorOf is the authenticated operator of a request that passed the guard.
func operatorOf(r *http.Request) operator {
	op, _ := r.Context().Value(operatorKey{}).(operator)
	return op
}

// identify authenticates a request: a client certificate under client_ca, a bearer
// token, or anyone when no credentials are configured.
func (g *opsGuard) identify(r *http.Request) (operator, bool) {
	if g.open {
		return operator{name: "local", how: authLocal}, true
	}
	if g.certs != nil && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		leaf := r.TLS.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, c := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: g.certs, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
			name := leaf.Subject.CommonName
			if name == "" {
				name = leaf.Subject.String()
			}
			return operator{name: name, how: authCertificate}, true
		}
	}
	auth := r.Header.Get("Authorization")
	if scheme, token, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") && len(g.tokens) > 0 {
		h := sha256.Sum256([]byte(strings.TrimSpace(token)))
		found := -1
		for i := range g.tokens { // every entry compared: the time says nothing of which matched
			if subtle.ConstantTimeCompare(h[:], g.tokens[i].hash[:]) == 1 {
				found = i
			}
		}
		if found >= 0 {
			return operator{name: g.tokens[found].name, how: authToken}, true
		}
	}
	return operator{}, false
}

// csrfToken is the CSRF token of an operator: bound to the credential and to this run
// of the gate.
func (g *opsGuard) csrfToken(op operator) string {
	m := hmac.New(sha256.New, g.csrfKey)
	m.Write([]byte(op.how + "\x00" + op.name))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:24])
}

// hostAllowed checks a Host header (or an Origin's host) against the allow-list.
func (g *opsGuard) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return g.hosts[strings.ToLower(strings.Trim(host, "[]"))]
}

// refuse answers a refused request and counts why.
func (g *opsGuard) refuse(w http.ResponseWriter, r *http.Request, code int, why, msg string) {
	g.failures.WithLabelValues(why).Inc()
	g.log.Debug("operations request refused", zap.String("why", why), zap.String("path", r.URL.Path),
		zap.String("remote", r.RemoteAddr))
	http.Error(w, msg, code)
}

// protect puts h behind the guard: the Host and any Origin must be allowed hosts, a
// browser's cross-site request is refused, the request must carry a credential, and a
// request that changes something (any method but GET and HEAD) the operator's CSRF
// token. h sees the operator (operatorOf). With loginPage, a GET without credentials
// gets h's answer (a page that asks for them, holding no data) with status 401.
func (g *opsGuard) protect(h http.Handler, loginPage bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostAllowed(r.Host) {
			g.refuse(w, r, http.StatusMisdirectedRequest, "host", "host "+r.Host+" not allowed (ops_auth.allowed_hosts)")
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || !g.hostAllowed(u.Host) {
				g.refuse(w, r, http.StatusForbidden, "origin", "origin "+o+" not allowed")
				return
			}
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			g.refuse(w, r, http.StatusForbidden, "origin", "cross-site request refused")
			return
		}
		op, ok := g.identify(r)
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mdocgate operations"`)
			if loginPage && safe {
				g.failures.WithLabelValues("credentials").Inc()
				h.ServeHTTP(&statusAs{ResponseWriter: w, code: http.StatusUnauthorized}, r)
				return
			}
			g.refuse(w, r, http.StatusUnauthorized, "credentials", "operator credentials required (ops_auth)")
			return
		}
		csrf := g.csrfToken(op)
		if !safe && !hmac.Equal([]byte(r.Header.Get(CSRFHeader)), []byte(csrf)) {
			g.refuse(w, r, http.StatusForbidden, "csrf", "missing or wrong "+CSRFHeader+" (GET /operator/pending returns it)")
			return
		}
		w.Header().Set(CSRFHeader, csrf)
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), operatorKey{}, op)))
	})
}

// statusAs answers with code where the handler answers 200.
type statusAs struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusAs) WriteHeader(code int) {
	if !s.wrote && code == http.StatusOK {
		code = s.code
	}
	s.wrote = true
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusAs) Write(b []byte) (int, error) {
	if !s.wrote {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}
