package online

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/mdocgate/mdocgate/transports/oid4vp"
	"github.com/mdocgate/mdocgate/transports/qr"
)

// Paths served by Handler.
const (
	OID4VPTransactions = "/oid4vp/transactions"
	DCAPITransactions  = "/dcapi/transactions"
	VerifyPath         = "/verify/"
)

// Handler serves the online lanes' routes (the package documentation lists them), all
// under /oid4vp/, /dcapi/ and /verify/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+OID4VPTransactions, s.createOID4VP)
	mux.HandleFunc("GET "+OID4VPTransactions+"/{id}/qr.png", s.qrPNG)
	mux.HandleFunc("GET "+OID4VPTransactions+"/{id}/status", s.status)
	mux.HandleFunc("/oid4vp/lanes/{lane}/", s.wallet)
	mux.HandleFunc("POST /oid4vp/lanes/{lane}/response/{rid}", s.walletResponse)
	mux.HandleFunc("POST "+DCAPITransactions, s.createDCAPI)
	mux.HandleFunc("POST "+DCAPITransactions+"/{id}/response", s.dcapiResponse)
	mux.HandleFunc("GET "+DCAPITransactions+"/{id}/status", s.status)
	mux.HandleFunc("GET "+VerifyPath+"{lane}", s.page)
	mux.HandleFunc("GET "+VerifyPath+"{lane}/lane.json", s.laneJSON)
	return mux
}

// Errors answered by the HTTP handlers (beside transports/oid4vp's).
var (
	errUnknownLane = errors.New("online: unknown lane")
	errOrigin      = errors.New("online: origin not served by this lane")
	errDraining    = errors.New("online: the gate is shutting down")
)

func (s *Server) fail(w http.ResponseWriter, lane, reason string, err error) {
	s.refused(lane, reason)
	switch {
	case errors.Is(err, errUnknownLane):
		writeError(w, http.StatusNotFound, "unknown_lane", err.Error())
	case errors.Is(err, errOrigin):
		writeError(w, http.StatusForbidden, "invalid_request", err.Error())
	case errors.Is(err, errDraining):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error())
	default:
		oid4vp.WriteError(w, err)
	}
}

// reasonOf is the refusal reason (OnRefused) of an error of transports/oid4vp.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, oid4vp.ErrUnknownTransaction):
		return "unknown_transaction"
	case errors.Is(err, oid4vp.ErrExpired):
		return "expired"
	case errors.Is(err, oid4vp.ErrReplay):
		return "replay"
	case errors.Is(err, oid4vp.ErrTooLarge):
		return "too_large"
	case errors.Is(err, oid4vp.ErrBusy):
		return "busy"
	case errors.Is(err, oid4vp.ErrState):
		return "state"
	case errors.Is(err, oid4vp.ErrDecrypt):
		return "decryption"
	}
	return "malformed"
}

func writeError(w http.ResponseWriter, code int, kind, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": kind, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// readJSON reads a small JSON object body (an empty body is allowed when optional).
func readJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCreateBody))
	if err != nil {
		return fmt.Errorf("%w: body: %v", oid4vp.ErrMalformed, err)
	}
	if len(bytes.TrimSpace(b)) == 0 && optional {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body is not the expected JSON object: %v", oid4vp.ErrMalformed, err)
	}
	return nil
}

// pick finds the lane a request names, or the first lane of bearer when it names none.
func (s *Server) pick(name, bearer string) (*lane, error) {
	if name == "" {
		for _, l := range s.order {
			if l.cfg.Bearer == bearer {
				return l, nil
			}
		}
		return nil, fmt.Errorf("%w: no %s lane", errUnknownLane, bearer)
	}
	l := s.lanes[name]
	if l == nil {
		return nil, fmt.Errorf("%w: %q", errUnknownLane, name)
	}
	if l.cfg.Bearer != bearer {
		return nil, fmt.Errorf("%w: lane %q is a %s lane, not %s", errUnknownLane, name, l.cfg.Bearer, bearer)
	}
	return l, nil
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// createOID4VP is POST /oid4vp/transactions.
func (s *Server) createOID4VP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Lane string `json:"lane"`
	}
	if err := readJSON(w, r, &body, true); err != nil {
		s.fail(w, "", "malformed", err)
		return
	}
	l, err := s.pick(body.Lane, BearerOID4VP)
	if err != nil {
		s.fail(w, body.Lane, "unknown_lane", err)
		return
	}
	if s.isDraining() {
		s.fail(w, l.cfg.Name, "draining", errDraining)
		return
	}
	client := s.client(r)
	if err := s.admitBegin(l.cfg.Name, client); err != nil {
		s.fail(w, l.cfg.Name, "busy", err)
		return
	}
	tx, err := l.v.Begin(oid4vp.RequestOptions{Query: l.query, Encrypted: l.cfg.Encrypted, RequestURIMethod: l.cfg.RequestURIMethod,
		Client: client})
	if err != nil {
		s.fail(w, l.cfg.Name, reasonOf(err), err)
		return
	}
	status := s.cfg.Origin + OID4VPTransactions + "/" + tx.ID + "/status"
	w.Header().Set("Location", status)
	writeJSON(w, http.StatusCreated, map[string]any{"id": tx.ID, "authorization_request_uri": tx.InvocationURI,
		"request_uri": tx.RequestURI, "status_uri": status, "lane": l.cfg.Name, "expires": tx.Expires.UTC().Format(time.RFC3339)})
}

// qrPNG is GET /oid4vp/transactions/{id}/qr.png: the authorization request URI as a QR
// code, made by at most QRConcurrency requests at once.
func (s *Server) qrPNG(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var tx *oid4vp.Transaction
	for _, l := range s.order {
		if t, ok := l.v.Transaction(id); ok && t.Kind == oid4vp.KindRedirect {
			tx = t
			break
		}
	}
	if tx == nil {
		s.fail(w, "", "unknown_transaction", fmt.Errorf("%w: %q (or no longer open)", oid4vp.ErrUnknownTransaction, id))
		return
	}
	if q := s.cfg.Clients.QR; q != nil && !q.Allow(s.client(r), time.Now()) {
		s.fail(w, "", "busy", fmt.Errorf("%w: QR images for this client beyond its rate", oid4vp.ErrBusy))
		return
	}
	select {
	case s.qr <- struct{}{}:
		defer func() { <-s.qr }()
	default:
		s.fail(w, "", "busy", fmt.Errorf("%w: %d QR images being made", oid4vp.ErrBusy, cap(s.qr)))
		return
	}
	png, err := qr.PNG(tx.InvocationURI, 384)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(png)
}

// status is GET /{oid4vp,dcapi}/transactions/{id}/status.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, l := range s.order {
		state, reason, verdict, ok := l.v.Status(id)
		if !ok {
			continue
		}
		out := map[string]any{"state": state, "reason": reason}
		if verdict != nil {
			out["verdict"] = verdict
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	s.fail(w, "", "unknown_transaction", fmt.Errorf("%w: %q", oid4vp.ErrUnknownTransaction, id))
}

// wallet serves the wallet's endpoints of a lane: its verifier's request and response
// URIs.
func (s *Server) wallet(w http.ResponseWriter, r *http.Request) {
	l := s.lanes[r.PathValue("lane")]
	if l == nil || l.cfg.Bearer != BearerOID4VP {
		s.fail(w, "", "unknown_lane", fmt.Errorf("%w: %q", errUnknownLane, r.PathValue("lane")))
		return
	}
	l.v.Handler().ServeHTTP(&refusals{ResponseWriter: w, lane: l.cfg.Name, srv: s}, r)
}

// walletResponse is the wallet's answer to an oid4vp lane: it runs as one of its
// client's sessions, and busy is answered before it is read.
func (s *Server) walletResponse(w http.ResponseWriter, r *http.Request) {
	l := s.lanes[r.PathValue("lane")]
	if l == nil || l.cfg.Bearer != BearerOID4VP {
		s.wallet(w, r)
		return
	}
	release, ok := s.admitAnswer(w, r, l.cfg.Name)
	if !ok {
		return
	}
	defer release()
	s.wallet(w, r)
}

// refusals counts the verifier's error answers to a wallet (OnRefused).
type refusals struct {
	http.ResponseWriter
	lane string
	srv  *Server
}

func (rw *refusals) WriteHeader(code int) {
	if code >= 400 {
		rw.srv.refused(rw.lane, refusalOfStatus(code))
	}
	rw.ResponseWriter.WriteHeader(code)
}

func refusalOfStatus(code int) string {
	switch code {
	case http.StatusNotFound:
		return "unknown_transaction"
	case http.StatusConflict:
		return "replay"
	case http.StatusGone:
		return "expired"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusServiceUnavailable:
		return "busy"
	}
	return "malformed"
}

// createDCAPI is POST /dcapi/transactions.
func (s *Server) createDCAPI(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Lane     string `json:"lane"`
		Protocol string `json:"protocol"`
		Origin   string `json:"origin"`
	}
	if err := readJSON(w, r, &body, false); err != nil {
		s.fail(w, "", "malformed", err)
		return
	}
	l, err := s.pick(body.Lane, BearerDCAPI)
	if err != nil {
		s.fail(w, body.Lane, "unknown_lane", err)
		return
	}
	name := l.cfg.Name
	switch {
	case s.isDraining():
		s.fail(w, name, "draining", errDraining)
		return
	case body.Protocol == "" || !slices.Contains(l.cfg.Protocols, body.Protocol):
		s.fail(w, name, "protocol", fmt.Errorf("%w: protocol %q (lane %s takes %v)", oid4vp.ErrMalformed, body.Protocol, name, l.cfg.Protocols))
		return
	case !slices.Contains(l.cfg.Origins, body.Origin):
		s.fail(w, name, "origin", fmt.Errorf("%w: %q (lane %s serves %v)", errOrigin, body.Origin, name, l.cfg.Origins))
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != body.Origin {
		s.fail(w, name, "origin", fmt.Errorf("%w: the request comes from %q, not %q", errOrigin, o, body.Origin))
		return
	}
	client := s.client(r)
	if err := s.admitBegin(name, client); err != nil {
		s.fail(w, name, "busy", err)
		return
	}
	tx, err := l.v.BeginDCAPI(oid4vp.DCAPIOptions{Protocol: body.Protocol, Origin: body.Origin,
		RequestOptions: oid4vp.RequestOptions{Query: l.query, Encrypted: l.cfg.Encrypted, Client: client}})
	if err != nil {
		s.fail(w, name, reasonOf(err), err)
		return
	}
	status := s.cfg.Origin + DCAPITransactions + "/" + tx.ID + "/status"
	w.Header().Set("Location", status)
	writeJSON(w, http.StatusCreated, map[string]any{"id": tx.ID, "request": tx.Request, "status_uri": status, "lane": name,
		"protocol": tx.Protocol, "expires": tx.Expires.UTC().Format(time.RFC3339)})
}

// dcapiResponse is POST /dcapi/transactions/{id}/response: the wallet's data in, the
// verdict JSON out once the gate has it (202 with the status URI if it takes longer
// than ResponseTimeout).
func (s *Server) dcapiResponse(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var l *lane
	for _, c := range s.order {
		if _, _, _, ok := c.v.Status(id); ok {
			l = c
			break
		}
	}
	if l == nil || l.cfg.Bearer != BearerDCAPI {
		s.fail(w, "", "unknown_transaction", fmt.Errorf("%w: %q", oid4vp.ErrUnknownTransaction, id))
		return
	}
	release, ok := s.admitAnswer(w, r, l.cfg.Name)
	if !ok {
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ResponseTimeout)
	defer cancel()
	limit := int64(oid4vp.MaxDCAPIData)
	if n := l.cfg.MaxResponse; n > 0 {
		limit = min(limit, oid4vp.BodyLimit(n))
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var out *oid4vp.Outcome
	var mbe *http.MaxBytesError
	switch {
	case err != nil && !errors.As(err, &mbe): // the body did not arrive whole: not an answer
		s.fail(w, l.cfg.Name, "malformed", fmt.Errorf("%w: body: %v", oid4vp.ErrMalformed, err))
		return
	case err != nil:
		// over the lane's limit, unread: the transaction ends in its verdict
		// (message_too_large), answered 413 below; or it cannot be answered (without
		// the lane's MaxResponse: refused, the transaction open)
		err = fmt.Errorf("%w: a DC API answer over %d bytes (%v)", oid4vp.ErrTooLarge, limit, err)
		t, terr := l.v.TooLargeDCAPI(id, err)
		if terr != nil {
			s.fail(w, l.cfg.Name, reasonOf(terr), terr)
			return
		}
		if out, err = l.v.Wait(ctx, t); err != nil {
			out = nil
		}
	default:
		if out, err = l.v.HandleDCAPIResponse(ctx, id, data); err != nil {
			s.fail(w, l.cfg.Name, reasonOf(err), err)
			return
		}
	}
	if out == nil || out.Verdict == nil {
		state, reason, verdict, _ := l.v.Status(id)
		if verdict == nil {
			writeJSON(w, http.StatusAccepted, map[string]any{"state": state, "reason": reason,
				"status_uri": s.cfg.Origin + DCAPITransactions + "/" + id + "/status"})
			return
		}
		out = &oid4vp.Outcome{Verdict: verdict, Reason: reason}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if out.Reason == oid4vp.ReasonTooLarge { // the verdict, under the status of the refusal
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	}
	_, _ = w.Write(out.Verdict)
}
