package online

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"
)

//go:embed page.html
var pageHTML string

// pageCSP lets the page run its own inline script and style, show its QR images and
// portraits (data: URLs) and talk to this server only.
const pageCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// laneInfo is what the page (and lane.json) knows of a lane.
type laneInfo struct {
	Lane   string `json:"lane"`
	Bearer string `json:"bearer"`
	// Origin is the gate's: the host its request and response URIs name.
	Origin    string   `json:"origin"`
	Title     string   `json:"title"`
	Protocols []string `json:"protocols,omitempty"`
	Origins   []string `json:"origins,omitempty"`
	Fallback  string   `json:"fallback,omitempty"`
}

func (l *lane) info() laneInfo {
	i := laneInfo{Lane: l.cfg.Name, Bearer: l.cfg.Bearer, Origin: l.srv.cfg.Origin, Title: l.cfg.Title, Fallback: l.cfg.Fallback}
	if l.cfg.Bearer == BearerDCAPI {
		i.Protocols, i.Origins = l.cfg.Protocols, l.cfg.Origins
	}
	return i
}

// page is GET /verify/{lane}: the verifier page, everything inline.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	l := s.lanes[r.PathValue("lane")]
	if l == nil {
		s.fail(w, "", "unknown_lane", fmt.Errorf("%w: %q", errUnknownLane, r.PathValue("lane")))
		return
	}
	info, err := json.Marshal(l.info()) // escapes <, > and &: safe inside <script>
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	page := strings.NewReplacer("{{TITLE}}", html.EscapeString(l.cfg.Title), "{{LANE}}", string(info)).Replace(pageHTML)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write([]byte(page))
}

// laneJSON is GET /verify/{lane}/lane.json.
func (s *Server) laneJSON(w http.ResponseWriter, r *http.Request) {
	l := s.lanes[r.PathValue("lane")]
	if l == nil {
		s.fail(w, "", "unknown_lane", fmt.Errorf("%w: %q", errUnknownLane, r.PathValue("lane")))
		return
	}
	writeJSON(w, http.StatusOK, l.info())
}
