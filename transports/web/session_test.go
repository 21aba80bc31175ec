package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/actors/webholder"
	"github.com/mdocgate/mdocgate/transports/qr"
	"github.com/mdocgate/mdocgate/transports/web"
)

func expectAccepted(t *testing.T, r *reader) {
	t.Helper()
	v := r.verdict(t)
	if v.Outcome != readersession.Accepted {
		t.Fatalf("verdict %s (%s): %s", v.Outcome, v.Reason, v.Detail)
	}
}

func TestSessionDeepLink(t *testing.T) {
	r := startReader(t, web.Config{RequireOrigin: true})
	for _, ws := range []bool{false, true} {
		e := r.engagement(t, false)
		if !strings.HasPrefix(e.MdocURI, "mdoc://") || !strings.HasPrefix(e.SessionURL, r.base+"/session/") {
			t.Fatalf("engagement %+v", e)
		}
		if err := webholder.Present(context.Background(), e.MdocURI, getWorld(t).holder(), "", web.DialOptions{WebSocket: ws}); err != nil {
			t.Fatalf("websocket=%v: %v", ws, err)
		}
		expectAccepted(t, r)
	}
	if n := r.srv.Pending(); n != 0 {
		t.Fatalf("%d sessions still known", n)
	}
}

func TestSessionQR(t *testing.T) {
	r := startReader(t, web.Config{})
	for _, ws := range []bool{false, true} {
		e := r.engagement(t, true)
		png, err := base64.StdEncoding.DecodeString(e.QRPNGBase64)
		if err != nil || len(png) == 0 {
			t.Fatalf("qr_png_base64: %v", err)
		}
		text, err := qr.DecodePNG(bytes.NewReader(png))
		if err != nil {
			t.Fatal(err)
		}
		if text != e.MdocURI {
			t.Fatalf("QR says %q, want %q", text, e.MdocURI)
		}
		if err := webholder.Present(context.Background(), text, getWorld(t).holder(), "", web.DialOptions{WebSocket: ws}); err != nil {
			t.Fatalf("websocket=%v: %v", ws, err)
		}
		expectAccepted(t, r)
	}
}

func TestSessionUniversalLink(t *testing.T) {
	r := startReader(t, web.Config{})
	e := r.engagement(t, false)
	// a browser opening the universal link is sent on to the deep link
	resp, err := noRedirect().Get(e.UniversalLink)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != e.MdocURI {
		t.Fatalf("universal link: %s → %q", resp.Status, resp.Header.Get("Location"))
	}
	// an app opening it takes the engagement from the link itself
	if err := webholder.Present(context.Background(), e.UniversalLink, getWorld(t).holder(), "", web.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	expectAccepted(t, r)
	re, url, err := web.ParseLink(e.UniversalLink)
	if err != nil || !bytes.Equal(re, e.ReaderEngagement) || url != e.SessionURL {
		t.Fatalf("ParseLink: %v", err)
	}
}

func TestOriginSpellings(t *testing.T) {
	r := startReader(t, web.Config{})
	for _, origin := range []string{r.base, strings.ToUpper(r.base[:4]) + r.base[4:], strings.TrimPrefix(r.base, "http://")} {
		e := r.engagement(t, false)
		if err := webholder.Present(context.Background(), e.MdocURI, getWorld(t).holder(), origin, web.DialOptions{}); err != nil {
			t.Fatalf("origin %q: %v", origin, err)
		}
		expectAccepted(t, r)
	}
}
