package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/internal/chromium"
	"github.com/mdocgate/mdocgate/internal/testgate"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
	"github.com/mdocgate/mdocgate/transports/online"
	"github.com/mdocgate/mdocgate/transports/qr"
)

// pageView is what the verifier page shows, read from its DOM.
type pageView struct {
	State, Mode, Status, Banner, Detail string
	Polls                               string
	QR                                  bool // the QR image loaded
	Elements                            map[string]string
	HTML                                string
}

func readPage(ctx context.Context, t *testing.T, b *chromium.Browser) pageView {
	t.Helper()
	raw := b.Eval(ctx, t, `(() => {
		const els = {};
		for (const tr of document.querySelectorAll("#elements tr[data-element]")) els[tr.dataset.element] = tr.children[1].textContent;
		const qr = document.getElementById("qr");
		return { State: document.body.dataset.state || "", Mode: document.body.dataset.mode || "", Polls: document.body.dataset.polls || "",
			Status: document.getElementById("status").textContent, Banner: document.getElementById("banner").textContent,
			Detail: document.getElementById("detail").textContent, QR: !document.getElementById("cross").hidden && qr.complete && qr.naturalWidth > 0,
			Elements: els, HTML: document.documentElement.outerHTML };
	})()`)
	var v pageView
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// checkAcceptedPage checks the page shows the accepted verdict with the profile's shown
// elements and nothing else of the credential.
func checkAcceptedPage(t *testing.T, v pageView) {
	t.Helper()
	if v.State != "accepted" || v.Banner != "Accepted" || !strings.Contains(v.Detail, "The gate opens.") {
		t.Fatalf("page: %+v", v)
	}
	if len(v.Elements) != 3 || v.Elements["given_name"] != "Erika" || v.Elements["family_name"] != "Mustermann" || v.Elements["age_over_18"] != "true" {
		t.Fatalf("shown elements %v", v.Elements)
	}
	if strings.Contains(v.HTML, "expiry_date") || strings.Contains(v.HTML, "2034") {
		t.Error("the page shows an element the profile does not let it show")
	}
}

// TestVerifierPageCrossDevice opens the oid4vp lane's page in headless Chromium as it
// is: the page begins a transaction and shows its QR code, polls the status; a
// simulated wallet on "another device" (this test) presents with what the QR code says;
// the page shows the verdict.
func TestVerifierPageCrossDevice(t *testing.T) {
	bin := chromium.Find(t)
	a := testgate.NewAuthority(t, "online")
	g := runGate(t, onlineConfig(t, a))
	c := newOnlineClient(t, g)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := chromium.Start(ctx, t, bin, 900, 1000)
	b.Page(ctx, t, "Page.navigate", map[string]any{"url": c.origin + online.VerifyPath + "web-qr"}, nil)
	b.WaitEval(ctx, t, `!!document.body && document.body.dataset.state === "pending" && document.getElementById("qr").naturalWidth > 0`, "the QR code")
	v := readPage(ctx, t, b)
	if v.Mode != "cross-device" || !v.QR {
		t.Fatalf("page %+v", v)
	}
	var tx struct{ ID, Href string }
	if err := json.Unmarshal(b.Eval(ctx, t, `({ID: document.getElementById("qr").dataset.tx, Href: document.getElementById("open-wallet").href})`), &tx); err != nil {
		t.Fatal(err)
	}
	// the QR image the page shows says the authorization request URI
	resp, err := c.hc.Get(c.origin + online.OID4VPTransactions + "/" + tx.ID + "/qr.png")
	if err != nil {
		t.Fatal(err)
	}
	text, err := qr.DecodePNG(resp.Body)
	resp.Body.Close()
	if err != nil || text != tx.Href || !strings.HasPrefix(text, "openid4vp://?client_id=x509_san_dns%3Alocalhost&request_uri=") {
		t.Fatalf("QR %q (%v), link %q", text, err, tx.Href)
	}
	b.WaitEval(ctx, t, `Number(document.body.dataset.polls || 0) >= 1`, "the status polled")
	if err := c.wallet(t, a.Cred, nil).Present(ctx, text); err != nil {
		t.Fatal(err)
	}
	b.WaitEval(ctx, t, `document.body.dataset.state === "accepted"`, "the verdict")
	checkAcceptedPage(t, readPage(ctx, t, b))
	if gv := g.verdict(t); gv.Session != tx.ID || gv.Outcome != "accepted" {
		t.Fatalf("gate verdict %+v for transaction %s", gv, tx.ID)
	}
}

// testWallet replaces navigator.credentials.get in the page: headless Chromium has no
// wallet, so a TEST-ONLY stand-in hands digital.requests[0] to the simulated wallet of
// the test (through a DevTools binding) and resolves with its data, as a browser
// resolves with the wallet's DigitalCredential. DigitalCredential.userAgentAllowsProtocol
// says which protocol the page picks.
const testWallet = `(() => {
	const answers = {};
	let next = 0;
	if (typeof window.DigitalCredential !== "function") window.DigitalCredential = function DigitalCredential() {};
	Object.defineProperty(window.DigitalCredential, "userAgentAllowsProtocol", { configurable: true, value: (p) => p === %q });
	Object.defineProperty(CredentialsContainer.prototype, "get", { configurable: true, value: (opts) => new Promise((resolve, reject) => {
		const id = String(next++);
		answers[id] = { resolve, reject };
		window.mdocgateTestWallet(JSON.stringify({ id, request: opts.digital.requests[0], origin: location.origin }));
	}) });
	window.__testWalletAnswer = (id, protocol, data, err) => {
		if (err) answers[id].reject(new Error(err));
		else answers[id].resolve({ protocol, data: JSON.parse(data) });
	};
})();`

// TestVerifierPageDCAPI opens the dcapi lane's page with the test-only wallet in place of
// navigator.credentials.get (see testWallet), for each protocol: the button begins a
// transaction, the "browser" hands its request to the simulated wallet with the page's
// origin, the page posts the wallet's data and shows the verdict. Without a Digital
// Credentials API the same page falls back to its oid4vp lane's QR code.
func TestVerifierPageDCAPI(t *testing.T) {
	bin := chromium.Find(t)
	a := testgate.NewAuthority(t, "online")
	g := runGate(t, onlineConfig(t, a))
	c := newOnlineClient(t, g)
	w := c.wallet(t, a.Cred, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := chromium.Start(ctx, t, bin, 900, 1000)
	b.Page(ctx, t, "Page.enable", nil, nil) // scripts added for new documents run only with it
	b.Page(ctx, t, "Runtime.enable", nil, nil)
	b.Page(ctx, t, "Runtime.addBinding", map[string]any{"name": "mdocgateTestWallet"}, nil)
	for _, protocol := range online.Protocols {
		t.Run(protocol, func(t *testing.T) {
			var script struct{ Identifier string }
			b.Page(ctx, t, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": fmt.Sprintf(testWallet, protocol)}, &script)
			defer b.Page(ctx, t, "Page.removeScriptToEvaluateOnNewDocument", map[string]any{"identifier": script.Identifier}, nil)
			b.Page(ctx, t, "Page.navigate", map[string]any{"url": c.origin + online.VerifyPath + "web-dc"}, nil)
			b.WaitEval(ctx, t, `!!document.body && document.body.dataset.state === "ready" && !document.getElementById("dc").hidden`, "the DC API button")
			b.Eval(ctx, t, `document.getElementById("dc-button").click(), true`)
			// the page's request reaches the test wallet
			var call struct {
				ID      string          `json:"id"`
				Request json.RawMessage `json:"request"`
				Origin  string          `json:"origin"`
			}
			for call.ID == "" {
				select {
				case e := <-b.Events():
					var p struct{ Name, Payload string }
					if e.Method == "Runtime.bindingCalled" && json.Unmarshal(e.Params, &p) == nil && p.Name == "mdocgateTestWallet" {
						if err := json.Unmarshal([]byte(p.Payload), &call); err != nil {
							t.Fatal(err)
						}
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("the page never called navigator.credentials.get: %+v", readPage(ctx, t, b))
				}
			}
			var ro oid4vp.DCAPIRequestObject
			if err := json.Unmarshal(call.Request, &ro); err != nil || ro.Protocol != protocol || call.Origin != c.origin {
				t.Fatalf("request %s from %q (%v)", call.Request, call.Origin, err)
			}
			data, err := w.AnswerDCAPI(call.Request, call.Origin)
			if err != nil {
				t.Fatal(err)
			}
			js, _ := json.Marshal(string(data))
			b.Eval(ctx, t, fmt.Sprintf(`__testWalletAnswer(%q, %q, %s, ""), true`, call.ID, protocol, js))
			b.WaitEval(ctx, t, `["accepted","rejected","error"].includes(document.body.dataset.state)`, "the verdict")
			v := readPage(ctx, t, b)
			if v.Mode != "dcapi" {
				t.Fatalf("mode %q", v.Mode)
			}
			checkAcceptedPage(t, v)
			txID := string(b.Eval(ctx, t, `document.body.dataset.tx`))
			if gv := g.verdict(t); `"`+gv.Session+`"` != txID || gv.Bearer != "dcapi" || gv.Outcome != "accepted" {
				t.Fatalf("gate verdict %+v for transaction %s", gv, txID)
			}
		})
	}
	t.Run("no DC API: the fallback lane's QR code", func(t *testing.T) {
		var script struct{ Identifier string }
		b.Page(ctx, t, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": "delete window.DigitalCredential;"}, &script)
		defer b.Page(ctx, t, "Page.removeScriptToEvaluateOnNewDocument", map[string]any{"identifier": script.Identifier}, nil)
		b.Page(ctx, t, "Page.navigate", map[string]any{"url": c.origin + online.VerifyPath + "web-dc"}, nil)
		b.WaitEval(ctx, t, `!!document.body && document.body.dataset.state === "pending" && document.getElementById("qr").naturalWidth > 0`, "the QR code")
		if v := readPage(ctx, t, b); v.Mode != "cross-device" || !v.QR {
			t.Fatalf("page %+v", v)
		}
		// it is the oid4vp lane's transaction
		id := strings.Trim(string(b.Eval(ctx, t, `document.getElementById("qr").dataset.tx`)), `"`)
		if s := c.status(t, "oid4vp", id); s["state"] != "pending" {
			t.Fatalf("fallback transaction %s: %v", id, s)
		}
	})
	if code, _ := testgate.HTTPGet(t, c.origin+online.VerifyPath+"nope"); code != http.StatusNotFound {
		t.Fatalf("unknown lane page: %d", code)
	}
}
