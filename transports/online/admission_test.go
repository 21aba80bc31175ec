package online

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testnet"

	"github.com/mdocgate/mdocgate/transports/admission"
	"github.com/mdocgate/mdocgate/transports/oid4vp"
)

// busy checks a refusal is the contract's busy answer: 503, temporarily_unavailable,
// Retry-After.
func checkBusy(t *testing.T, what string, code int, e map[string]any) {
	t.Helper()
	if code != http.StatusServiceUnavailable || e["error"] != "temporarily_unavailable" {
		t.Fatalf("%s: %d %v, want 503 temporarily_unavailable", what, code, e)
	}
}

const dcBody = `{"protocol":"openid4vp-v1-unsigned","origin":"https://shop.example"}`

// A client's open transactions count in the listener's pending share (with its web
// engagements: Clients.Pending): a client holding its share is busy on either lane,
// before a key is made; another client is not.
func TestClientsPendingShared(t *testing.T) {
	shared := admission.NewLimiter(3, 0)
	w := newWorld(t, func(c *Config) { c.Clients.Pending = shared })
	one, two := testnet.ClientFrom(t, "127.0.0.2"), testnet.ClientFrom(t, "127.0.0.3")
	oneP := netip.MustParsePrefix("127.0.0.2/32")
	if !shared.Acquire(oneP) { // an engagement of the web lanes
		t.Fatal("engagement")
	}
	if code, _, raw := w.doFrom(t, one, "POST", OID4VPTransactions, nil); code != 201 {
		t.Fatalf("first transaction: %d %s", code, raw)
	}
	if code, _, raw := w.doFrom(t, one, "POST", DCAPITransactions, dcBody); code != 201 {
		t.Fatalf("second transaction: %d %s", code, raw)
	}
	code, e, _ := w.doFrom(t, one, "POST", OID4VPTransactions, nil)
	checkBusy(t, "a fourth of one client's share", code, e)
	code, e, _ = w.doFrom(t, one, "POST", DCAPITransactions, dcBody)
	checkBusy(t, "a fourth (DC API)", code, e)
	if shared.Held(oneP) != 3 || shared.Refused() != 2 {
		t.Fatalf("the share holds %d, refused %d", shared.Held(oneP), shared.Refused())
	}
	if code, _, raw := w.doFrom(t, two, "POST", OID4VPTransactions, nil); code != 201 {
		t.Fatalf("another client: %d %s", code, raw)
	}
	shared.Release(oneP) // the engagement ended: room for one transaction
	if code, _, raw := w.doFrom(t, one, "POST", DCAPITransactions, dcBody); code != 201 {
		t.Fatalf("after the engagement ended: %d %s", code, raw)
	}
}

// How often a client begins transactions counts in the listener's engagement rate
// (Clients.PendingRate).
func TestClientsPendingRate(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.Clients.PendingRate = admission.NewRate(0.001, 2, 0) })
	one, two := testnet.ClientFrom(t, "127.0.0.4"), testnet.ClientFrom(t, "127.0.0.5")
	for i := 0; i < 2; i++ {
		if code, _, raw := w.doFrom(t, one, "POST", OID4VPTransactions, nil); code != 201 {
			t.Fatalf("%d: %d %s", i, code, raw)
		}
	}
	code, e, _ := w.doFrom(t, one, "POST", DCAPITransactions, dcBody)
	checkBusy(t, "over the rate", code, e)
	if code, _, raw := w.doFrom(t, two, "POST", DCAPITransactions, dcBody); code != 201 {
		t.Fatalf("another client: %d %s", code, raw)
	}
}

// An answer runs as one of its client's sessions (Clients.Sessions, shared with the web
// lanes' sessions): a client running its share is busy before its answer is read, and
// its transaction stays open for the answer sent again.
func TestClientsSessions(t *testing.T) {
	sessions := admission.NewLimiter(1, 0)
	w := newWorld(t, func(c *Config) { c.Clients.Sessions = sessions })
	self := netip.MustParsePrefix("127.0.0.1/32") // the world's own client (and its wallet)
	// DC API: the page posts the answer
	_, tx, _ := w.do(t, "POST", DCAPITransactions, dcBody)
	id := tx["id"].(string)
	req, _ := json.Marshal(tx["request"])
	data, err := w.wallet.AnswerDCAPI(req, "https://shop.example")
	if err != nil {
		t.Fatal(err)
	}
	if !sessions.Acquire(self) { // a WebSocket session of the same client
		t.Fatal("session")
	}
	code, e, _ := w.do(t, "POST", DCAPITransactions+"/"+id+"/response", data)
	checkBusy(t, "an answer beyond the client's sessions", code, e)
	if _, s, _ := w.do(t, "GET", DCAPITransactions+"/"+id+"/status", nil); s["state"] != "pending" {
		t.Fatalf("the refused answer was read: %v", s)
	}
	// OpenID4VP: the wallet posts to the response URI
	_, tx2, _ := w.do(t, "POST", OID4VPTransactions, nil)
	err = w.wallet.Present(context.Background(), tx2["authorization_request_uri"].(string))
	if !errors.Is(err, oid4vp.ErrBusy) && (err == nil || !strings.Contains(err.Error(), "503")) {
		t.Fatalf("a wallet's answer beyond the client's sessions: %v", err)
	}
	sessions.Release(self)
	code, v, raw := w.do(t, "POST", DCAPITransactions+"/"+id+"/response", data)
	if code != 200 || v["outcome"] != "accepted" {
		t.Fatalf("the answer sent again: %d %s", code, raw)
	}
	<-w.ids
	if sessions.Held(self) != 0 {
		t.Fatalf("the answer's session slot is still held: %d", sessions.Held(self))
	}
}

// QR images count in the listener's QR rate (Clients.QR).
func TestClientsQRRate(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.Clients.QR = admission.NewRate(0.001, 1, 0) })
	one, two := testnet.ClientFrom(t, "127.0.0.6"), testnet.ClientFrom(t, "127.0.0.7")
	_, tx, _ := w.doFrom(t, one, "POST", OID4VPTransactions, nil)
	png := OID4VPTransactions + "/" + tx["id"].(string) + "/qr.png"
	if code, _, _ := w.doFrom(t, one, "GET", png, nil); code != 200 {
		t.Fatalf("first image: %d", code)
	}
	code, e, _ := w.doFrom(t, one, "GET", png, nil)
	checkBusy(t, "a second image within the rate", code, e)
	if code, _, _ := w.doFrom(t, two, "GET", png, nil); code != 200 {
		t.Fatalf("another client: %d", code)
	}
}

// A busy lane (Busy) answers 503 before any key is made or any answer read.
func TestBusyLane(t *testing.T) {
	var busy atomic.Bool
	w := newWorld(t, func(c *Config) { c.Busy = func(lane string) bool { return busy.Load() && lane == "dc" } })
	_, tx, _ := w.do(t, "POST", DCAPITransactions, dcBody)
	req, _ := json.Marshal(tx["request"])
	data, _ := w.wallet.AnswerDCAPI(req, "https://shop.example")
	busy.Store(true)
	code, e, _ := w.do(t, "POST", DCAPITransactions, dcBody)
	checkBusy(t, "a transaction on a busy lane", code, e)
	code, e, _ = w.do(t, "POST", DCAPITransactions+"/"+tx["id"].(string)+"/response", data)
	checkBusy(t, "an answer to a busy lane", code, e)
	if code, _, raw := w.do(t, "POST", OID4VPTransactions, nil); code != 201 {
		t.Fatalf("another lane: %d %s", code, raw)
	}
	busy.Store(false)
	if code, v, raw := w.do(t, "POST", DCAPITransactions+"/"+tx["id"].(string)+"/response", data); code != 200 || v["outcome"] != "accepted" {
		t.Fatalf("the answer sent again: %d %s", code, raw)
	}
	<-w.ids
}
