package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors/gate"
)

// operatorDesk is where the operator of the lanes with holder_verification: operator
// answers: their gate.OperatorMatchers hand each portrait over requests, the desk keeps
// it until the operator answers over HTTP (on http_addr) or its deadline passes.
//
//	GET  /operator/pending             {"pending":[{"id","lane","doc_type","media_type","capture_date","deadline"}]}
//	GET  /operator/{id}/portrait       the portrait image (an element value: the one place serve shows one)
//	POST /operator/{id}/confirm        the person is the holder: the lane opens
//	POST /operator/{id}/reject         not the holder: the lane denies (holder_verification.no_match)
//
// The desk is served behind the operations guard (ops_auth): who decided is the
// authenticated operator (a token's name, a client certificate's subject), never a
// parameter of the request; confirm and reject need the operator's CSRF token
// (X-CSRF-Token, given in the pending list as csrf_token) and each is audited (a log line
// "operator decision", and the audit log's record with audit_log). An unknown or expired id is 404. A request nobody answers in the
// lane's operator_timeout calls staff (holder_verification.undecided).
type operatorDesk struct {
	requests chan *gate.OperatorRequest
	stop     chan struct{}
	done     chan struct{}
	log      *zap.Logger

	mu      sync.Mutex
	pending map[string]*gate.OperatorRequest
	// onAnswer, when set before the desk serves, hears of every operator's answer (the
	// audit log).
	onAnswer func(id string, r *gate.OperatorRequest, match bool, operator string)
}

func newOperatorDesk(log *zap.Logger) *operatorDesk {
	d := &operatorDesk{requests: make(chan *gate.OperatorRequest, 64), stop: make(chan struct{}), done: make(chan struct{}),
		pending: map[string]*gate.OperatorRequest{}, log: log}
	go d.run()
	return d
}

// matcher returns a lane's matcher: requests go to this desk, answers are awaited for
// timeout.
func (d *operatorDesk) matcher(timeout time.Duration) *gate.OperatorMatcher {
	return &gate.OperatorMatcher{Requests: d.requests, Timeout: timeout}
}

func (d *operatorDesk) run() {
	defer close(d.done)
	for {
		select {
		case r := <-d.requests:
			var b [8]byte
			_, _ = rand.Read(b[:])
			d.mu.Lock()
			d.expireLocked(time.Now())
			d.pending[hex.EncodeToString(b[:])] = r
			d.mu.Unlock()
		case <-d.stop:
			return
		}
	}
}

// close stops taking requests; those still pending time out in their matcher. A nil
// desk (no operator lane) has nothing to close.
func (d *operatorDesk) close() {
	if d == nil {
		return
	}
	close(d.stop)
	<-d.done
}

func (d *operatorDesk) expireLocked(now time.Time) {
	for id, r := range d.pending {
		if !r.Deadline.IsZero() && now.After(r.Deadline) {
			delete(d.pending, id)
		}
	}
}

func (d *operatorDesk) lookup(id string, remove bool) *gate.OperatorRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked(time.Now())
	r := d.pending[id]
	if remove {
		delete(d.pending, id)
	}
	return r
}

type operatorPending struct {
	ID          string     `json:"id"`
	Lane        string     `json:"lane"`
	DocType     string     `json:"doc_type"`
	MediaType   string     `json:"media_type,omitempty"`
	CaptureDate *time.Time `json:"capture_date,omitempty"`
	Deadline    time.Time  `json:"deadline"`
}

func (d *operatorDesk) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /operator/pending", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.expireLocked(time.Now())
		list := make([]operatorPending, 0, len(d.pending))
		for id, p := range d.pending {
			list = append(list, operatorPending{ID: id, Lane: p.Portrait.LaneID, DocType: p.Portrait.DocType,
				MediaType: p.Portrait.MediaType, CaptureDate: p.Portrait.CaptureDate, Deadline: p.Deadline})
		}
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"pending": list, "operator": operatorOf(r).name,
			"csrf_token": w.Header().Get(CSRFHeader)})
	})
	mux.HandleFunc("GET /operator/{id}/portrait", func(w http.ResponseWriter, r *http.Request) {
		p := d.lookup(r.PathValue("id"), false)
		if p == nil {
			http.NotFound(w, r)
			return
		}
		mt := p.Portrait.MediaType
		if mt == "" {
			mt = "application/octet-stream"
		}
		w.Header().Set("Content-Type", mt)
		w.Header().Set("Cache-Control", "no-store")
		w.Write(p.Portrait.Image)
	})
	answer := func(match bool, decision string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Has("operator") {
				http.Error(w, "operator: who decides comes from the credential (ops_auth), not from the request", http.StatusBadRequest)
				return
			}
			id := r.PathValue("id")
			p := d.lookup(id, true)
			if p == nil {
				http.NotFound(w, r)
				return
			}
			op := operatorOf(r)
			d.log.Info("operator decision", zap.String("decision", decision), zap.String("operator", op.name),
				zap.String("auth", op.how), zap.String("request", id), zap.String("lane", p.Portrait.LaneID),
				zap.String("doc_type", p.Portrait.DocType), zap.String("remote", r.RemoteAddr))
			p.Answer(match, op.name)
			if d.onAnswer != nil {
				d.onAnswer(id, p, match, op.name)
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	mux.HandleFunc("POST /operator/{id}/confirm", answer(true, "confirm"))
	mux.HandleFunc("POST /operator/{id}/reject", answer(false, "reject"))
}
