package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/mdocgate/mdocgate/actors/gate"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/supervisor/venue"
)

// VenueConfig is the venue this gate belongs to (venue: in the YAML): the gates of a
// venue share anti-passback, a deny list and the fleet view over NATS JetStream
// (supervisor/venue). A gate without it starts nothing of NATS.
type VenueConfig struct {
	Name string    `yaml:"name"`
	NATS VenueNATS `yaml:"nats"`
	// AntiPassback: a credential admitted at any gate is refused (reason anti_passback,
	// action deny) for Window.
	AntiPassback AntiPassbackConfig `yaml:"anti_passback"`
	// OnPartition is deny (default), call_staff or admit_journal.
	OnPartition string `yaml:"on_partition"`
	// Journal is admit_journal's file (default venue-journal.jsonl next to the config).
	Journal string `yaml:"journal"`
}

// VenueNATS is the venue's JetStream cluster: the URLs of an existing one, or a server
// of it this gate runs (Embedded); Embedded's own client URL is used then.
type VenueNATS struct {
	URLs     []string      `yaml:"urls"`
	Embedded *EmbeddedNATS `yaml:"embedded"`
	Replicas int           `yaml:"replicas"`
}

// EmbeddedNATS is the JetStream server a gate runs in its process.
type EmbeddedNATS struct {
	Listen        string   `yaml:"listen"`
	ClusterListen string   `yaml:"cluster_listen"`
	Routes        []string `yaml:"routes"`
	StoreDir      string   `yaml:"store_dir"`
}

// AntiPassbackConfig is the window and what identifies a credential.
type AntiPassbackConfig struct {
	Window time.Duration `yaml:"window"`
	// Key is device_key (default: the docType and the device key's thumbprint) or
	// document_number (issuing country and document number; the lanes' profiles must
	// request both).
	Key string `yaml:"key"`
	// AttemptTimeout bounds one create call (default 1s), Timeout a whole decision with
	// its retries (default 3s); past it on_partition applies.
	AttemptTimeout time.Duration `yaml:"attempt_timeout"`
	Timeout        time.Duration `yaml:"timeout"`
}

// validateVenue checks (and defaults) the venue section.
func (c *Config) validateVenue() error {
	v := c.Venue
	if v == nil {
		return nil
	}
	if !venue.ValidName(v.Name) {
		return bad("venue.name", "want 1-64 letters, digits, '-' or '_', got %q", v.Name)
	}
	n := v.NATS
	switch {
	case len(n.URLs) == 0 && n.Embedded == nil:
		return bad("venue.nats", "give urls (an existing cluster) or embedded (a server in this gate)")
	case len(n.URLs) > 0 && n.Embedded != nil:
		return bad("venue.nats", "urls or embedded, not both")
	case n.Replicas < 0 || n.Replicas > 5:
		return bad("venue.nats.replicas", "want 1 to 5")
	}
	for i, u := range n.URLs {
		if err := natsURL(u); err != nil {
			return bad(fmt.Sprintf("venue.nats.urls[%d]", i), "%v", err)
		}
	}
	if e := n.Embedded; e != nil {
		if e.Listen == "" {
			e.Listen = "127.0.0.1:4222"
		}
		if _, _, err := net.SplitHostPort(e.Listen); err != nil {
			return &fieldError{"venue.nats.embedded.listen", err}
		}
		if e.ClusterListen != "" {
			if _, port, err := net.SplitHostPort(e.ClusterListen); err != nil || port == "0" {
				return bad("venue.nats.embedded.cluster_listen", "want HOST:PORT with a fixed port, got %q", e.ClusterListen)
			}
		}
		if len(e.Routes) > 0 && e.ClusterListen == "" {
			return bad("venue.nats.embedded.routes", "routes need cluster_listen")
		}
		for i, r := range e.Routes {
			if err := natsURL(r); err != nil {
				return bad(fmt.Sprintf("venue.nats.embedded.routes[%d]", i), "%v", err)
			}
		}
		if e.StoreDir == "" {
			return bad("venue.nats.embedded.store_dir", "missing (where JetStream keeps the venue's buckets)")
		}
		if n.Replicas == 0 && e.ClusterListen == "" {
			n.Replicas = 1 // a single server
		}
	}
	if n.Replicas == 0 {
		n.Replicas = venue.DefaultReplicas
	}
	v.NATS = n
	ap := &v.AntiPassback
	switch {
	case ap.Window < 0:
		return bad("venue.anti_passback.window", "must not be negative")
	case ap.AttemptTimeout < 0:
		return bad("venue.anti_passback.attempt_timeout", "must not be negative")
	case ap.Timeout < 0:
		return bad("venue.anti_passback.timeout", "must not be negative")
	}
	if ap.Window == 0 {
		ap.Window = venue.DefaultWindow
	}
	if ap.AttemptTimeout == 0 {
		ap.AttemptTimeout = venue.DefaultAttemptTimeout
	}
	if ap.Timeout == 0 {
		ap.Timeout = venue.DefaultTimeout
	}
	if ap.Timeout < ap.AttemptTimeout {
		return bad("venue.anti_passback.timeout", "shorter than attempt_timeout")
	}
	if ap.Key == "" {
		ap.Key = venue.KeyDeviceKey
	}
	switch ap.Key {
	case venue.KeyDeviceKey:
	case venue.KeyDocumentNumber:
		for i := range c.Lanes {
			l := &c.Lanes[i]
			if l.plain() {
				continue
			}
			if p := c.profileNamed(l.Profile); p != nil && !(requests(p, "document_number") && requests(p, "issuing_country")) {
				return bad("venue.anti_passback.key", "document_number needs lanes that request document_number and issuing_country (lane %s's profile %s does not)", l.Name, l.Profile)
			}
		}
	default:
		return bad("venue.anti_passback.key", "unknown key %q (want device_key or document_number)", ap.Key)
	}
	if v.OnPartition == "" {
		v.OnPartition = venue.PartitionDeny
	}
	switch v.OnPartition {
	case venue.PartitionDeny, venue.PartitionCallStaff, venue.PartitionAdmitJournal:
	default:
		return bad("venue.on_partition", "unknown policy %q (want deny, call_staff or admit_journal)", v.OnPartition)
	}
	if v.Journal == "" {
		v.Journal = "venue-journal.jsonl"
	}
	return nil
}

func natsURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls") {
		return fmt.Errorf("want nats://HOST:PORT, got %q", s)
	}
	return nil
}

// requests reports whether profile p (not yet compiled) asks for element id.
func requests(p *profile.Profile, id string) bool {
	if p.Compile() != nil {
		return false
	}
	for _, d := range p.Request() {
		for _, ns := range d.NameSpaces {
			for _, e := range ns.Elements {
				if e == id {
					return true
				}
			}
		}
	}
	return false
}

// gateVenue is a gate's venue at run time: the embedded server, if any, and the
// connection deciding on admissions.
type gateVenue struct {
	cfg    *VenueConfig
	server *venue.Server
	v      *venue.Venue
	log    *zap.Logger
}

// startVenue starts the embedded server (when configured), connects, and waits until
// the deny list is read; nil without a venue section.
func (g *Gate) startVenue() (*gateVenue, error) {
	vc := g.cfg.Venue
	if vc == nil {
		return nil, nil
	}
	gv := &gateVenue{cfg: vc, log: g.log.Named("venue")}
	urls := vc.NATS.URLs
	if e := vc.NATS.Embedded; e != nil {
		s, err := venue.StartServer(venue.ServerOptions{Name: g.cfg.Name + "@" + serverSuffix(e), Listen: e.Listen,
			ClusterListen: e.ClusterListen, Routes: e.Routes, Cluster: vc.Name, StoreDir: g.cfg.path(e.StoreDir)})
		if err != nil {
			return nil, &fieldError{"venue.nats.embedded", err}
		}
		gv.server, urls = s, []string{s.ClientURL()}
	}
	ap := vc.AntiPassback
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	v, err := venue.Connect(ctx, venue.Options{Name: vc.Name, URLs: urls, Gate: g.cfg.Name, Replicas: vc.NATS.Replicas,
		Window: ap.Window, AttemptTimeout: ap.AttemptTimeout, Timeout: ap.Timeout, OnPartition: vc.OnPartition,
		Journal: g.cfg.path(vc.Journal), Log: g.log})
	if err == nil {
		if err = v.WaitSynced(ctx); err != nil {
			v.Close()
		}
	}
	if err != nil {
		gv.stopServer()
		return nil, &fieldError{"venue.nats", err}
	}
	gv.v = v
	for _, l := range g.cfg.Lanes {
		v.AddLane(l.Name, l.Zone)
	}
	g.log.Info("venue connected", zap.String("venue", vc.Name), zap.Strings("nats", urls),
		zap.Bool("embedded", gv.server != nil), zap.Duration("window", ap.Window), zap.String("key", ap.Key))
	return gv, nil
}

// serverSuffix makes the embedded server's name unique in the cluster: the cluster
// address (or the client address of a single server).
func serverSuffix(e *EmbeddedNATS) string {
	if e.ClusterListen != "" {
		return e.ClusterListen
	}
	return e.Listen
}

// close publishes the counts a last time, disconnects and stops the embedded server.
func (gv *gateVenue) close() {
	if gv == nil {
		return
	}
	gv.v.Close()
	gv.stopServer()
}

func (gv *gateVenue) stopServer() {
	if gv.server != nil {
		gv.server.Shutdown()
	}
}

// venueNote is what the verification job of a lane in a venue carries to its decision:
// the profile's decision and the credential's venue key (or why there is none).
type venueNote struct {
	decision profile.Decision
	key      string
	keyErr   error
}

// verify is the readersession Config.Verify of a lane in a venue: the profile decision
// on the crypto worker (SessionDecider.Run), then, for an accepted presentation, the
// credential's key, computed there with the DeviceResponse at hand.
func (r *laneRules) verifyForVenue(job *readersession.VerifyJob) readersession.Verification {
	vr := r.decider.Run(job)
	d, ok := r.decider.Decision(vr)
	if !ok || d.Outcome != profile.Accept {
		return vr
	}
	key, err := r.venue.credentialKey(r.profile, job.Response, vr.Result, d)
	return readersession.Verification{Result: vr.Result, Note: venueNote{decision: d, key: key, keyErr: err}}
}

// credentialKey names the deciding document's credential as the venue keys it.
func (gv *gateVenue) credentialKey(p *profile.Profile, resp *messages.DeviceResponse, res *verify.Result, d profile.Decision) (string, error) {
	if res == nil || d.Document < 0 || d.Document >= len(res.Documents) {
		return "", errors.New("no deciding document")
	}
	doc := &res.Documents[d.Document]
	if gv.cfg.AntiPassback.Key == venue.KeyDocumentNumber {
		view, err := p.NewView(doc)
		if err != nil {
			return "", err
		}
		number, err := textElement(view, "document_number")
		if err != nil {
			return "", err
		}
		country, err := textElement(view, "issuing_country")
		if err != nil {
			return "", err
		}
		return venue.CredentialKey(venue.DocumentNumberID(country, number)), nil
	}
	if resp == nil || d.Document >= len(resp.Documents) || resp.Documents[d.Document].DocType != doc.DocType {
		return "", errors.New("the deciding document is not in the response")
	}
	mso, err := messages.DecodeMSO(resp.Documents[d.Document].IssuerSigned.IssuerAuth.Payload)
	if err != nil {
		return "", fmt.Errorf("MSO: %w", err)
	}
	if mso.DeviceKeyInfo.DeviceKeyMissing {
		return "", errors.New("the MSO has no device key")
	}
	id, err := venue.DeviceKeyID(doc.DocType, &mso.DeviceKeyInfo.DeviceKey)
	if err != nil {
		return "", err
	}
	return venue.CredentialKey(id), nil
}

func textElement(view *profile.View, id string) (string, error) {
	raw, ok := view.Find(id)
	if !ok {
		return "", fmt.Errorf("%s not disclosed", id)
	}
	var s string
	if err := messages.Unmarshal(raw, &s); err != nil || s == "" {
		return "", fmt.Errorf("%s is not a non-empty text string", id)
	}
	return s, nil
}

// decide is the venue's word on a presentation the lane would open for (deny list,
// then anti-passback); it runs off the engine's workers (DecideMayWait) and bounds its
// own time. v is the lane's gate verdict, returned changed when the venue refuses.
func (gv *gateVenue) decide(n venueNote, v gate.Verdict) gate.Verdict {
	if n.keyErr != nil || n.key == "" {
		why := "no key"
		if n.keyErr != nil {
			why = n.keyErr.Error()
		}
		gv.log.Warn("credential cannot be identified for anti-passback: denied", zap.String("why", why))
		v.Action, v.Reason = gate.ActionDeny, gate.ReasonNoCredentialKey
		return v
	}
	v.Credential = n.key
	d := gv.v.Decide(context.Background(), n.key, presentationID())
	switch {
	case d.Admit:
	case d.CallStaff:
		v.Action, v.Reason = gate.ActionCallStaff, d.Reason
	default:
		v.Action, v.Reason = gate.ActionDeny, d.Reason
	}
	return v
}

// presentationID names one presentation's admission (retries of it reuse it).
func presentationID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
