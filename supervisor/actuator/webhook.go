package actuator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"
)

// SignatureHeader carries a webhook body's signature: "sha256=" and the hex of
// HMAC-SHA256(secret, body). A receiver recomputes it over the bytes it received and
// compares in constant time.
const SignatureHeader = "X-Mdocgate-Signature"

// DefaultTimeout bounds one attempt of a webhook or a command.
const DefaultTimeout = 5 * time.Second

// Sign returns the SignatureHeader value of body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Webhook POSTs each event as application/json to URL, signed with Secret. A 2xx answer
// delivers it; anything else, a redirect included (a signed event goes to the URL
// configured or nowhere), is a failed attempt.
type Webhook struct {
	URL     string
	Secret  []byte
	Timeout time.Duration // one attempt, answer included (default DefaultTimeout)
	// Client, when set, sends the requests (tests); its redirect policy is kept.
	Client *http.Client
}

// Kind implements Sink.
func (w *Webhook) Kind() string { return "webhook" }

// Send implements Sink.
func (w *Webhook) Send(ctx context.Context, _ *Event, body []byte) error {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mdocgate")
	req.Header.Set(SignatureHeader, Sign(w.Secret, body))
	resp, err := w.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST %s: status %d", w.URL, resp.StatusCode)
	}
	return nil
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (w *Webhook) client() *http.Client {
	if w.Client != nil {
		return w.Client
	}
	return noRedirects
}

// Close implements Sink.
func (w *Webhook) Close() error {
	if w.Client == nil {
		noRedirects.CloseIdleConnections()
	}
	return nil
}
