package venue

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Partition policies: what a gate does when the store cannot commit an admission in time.
const (
	PartitionDeny         = "deny"
	PartitionCallStaff    = "call_staff"
	PartitionAdmitJournal = "admit_journal"
)

// Defaults of Options.
const (
	DefaultWindow         = 2 * time.Hour
	DefaultAttemptTimeout = time.Second
	DefaultTimeout        = 3 * time.Second
	DefaultReplicas       = 3
	// FleetTTL is how long a gate's published counts live without a newer publication.
	FleetTTL = time.Minute
)

// Options configure a gate's (or a tool's) connection to a venue.
type Options struct {
	// Name is the venue's name: letters, digits, '-' and '_' (it names the buckets).
	Name string
	// URLs are the cluster's client URLs.
	URLs []string
	// Gate names this gate in admissions and in the fleet view ("" for tools).
	Gate string
	// Replicas of each bucket (default 3; 1 for a single server).
	Replicas int
	// Window is the anti-passback window, the admissions bucket's TTL (default 2 h).
	Window time.Duration
	// AttemptTimeout bounds one create call; Timeout bounds a whole decision, retries
	// included (defaults 1 s and 3 s).
	AttemptTimeout, Timeout time.Duration
	// OnPartition is what Decide does when the store cannot commit in time:
	// PartitionDeny (default), PartitionCallStaff or PartitionAdmitJournal.
	OnPartition string
	// Journal is the file admissions made under PartitionAdmitJournal are appended to
	// until they are reconciled with the store.
	Journal string
	// SetupTimeout bounds Connect's wait for the buckets (a new cluster elects its
	// leaders first; default 30 s).
	SetupTimeout time.Duration
	// PublishEvery is the fleet publication period (default 1 s).
	PublishEvery time.Duration
	// Admin is a tool administering a venue the gates made (mdocgate deny): it binds
	// the existing buckets, and watches and publishes nothing.
	Admin bool
	Log   *zap.Logger
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidName reports whether name can name a venue (and its buckets).
func ValidName(name string) bool { return validName.MatchString(name) }

// Bucket names of a venue.
func admissionsBucket(venue string) string { return "mdocgate-" + venue + "-admissions" }
func denyBucket(venue string) string       { return "mdocgate-" + venue + "-deny" }
func fleetBucket(venue string) string      { return "mdocgate-" + venue + "-fleet" }

// Venue is a connection to a venue's shared state. Its methods are safe for
// concurrent use.
type Venue struct {
	opts       Options
	log        *zap.Logger
	nc         *nats.Conn
	js         jetstream.JetStream
	admissions jetstream.KeyValue
	deny       jetstream.KeyValue
	fleet      jetstream.KeyValue

	denied  sync.Map // credential key → struct{}: the deny list, kept in memory
	denySet chan struct{}

	fleetMu   sync.Mutex
	fleetSeen map[string]GateCounts // gate → its latest publication
	counts    *counter

	journal   *journal
	m         *venueMetrics
	uncertain uncertainSet // presentations whose admission may have committed unanswered

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Connect connects to the venue's cluster, creates or updates its buckets (retrying
// while a new cluster elects its leaders, up to SetupTimeout) and, unless NoWatch,
// starts watching the deny list and the fleet into memory and publishing this gate's
// counts.
func Connect(ctx context.Context, o Options) (*Venue, error) {
	if !ValidName(o.Name) {
		return nil, fmt.Errorf("venue: name %q: want 1-64 letters, digits, '-' or '_'", o.Name)
	}
	if len(o.URLs) == 0 {
		return nil, errors.New("venue: no NATS URL")
	}
	if o.Replicas <= 0 {
		o.Replicas = DefaultReplicas
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.OnPartition == "" {
		o.OnPartition = PartitionDeny
	}
	if o.SetupTimeout <= 0 {
		o.SetupTimeout = 30 * time.Second
	}
	if o.PublishEvery <= 0 {
		o.PublishEvery = time.Second
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	v := &Venue{opts: o, log: o.Log.Named("venue"), fleetSeen: map[string]GateCounts{}, counts: newCounter(),
		denySet: make(chan struct{}), m: newVenueMetrics()}
	if o.OnPartition == PartitionAdmitJournal {
		if o.Journal == "" {
			return nil, errors.New("venue: admit_journal needs a journal file")
		}
		j, err := openJournal(o.Journal)
		if err != nil {
			return nil, err
		}
		v.journal = j
	}
	name := "mdocgate"
	if o.Gate != "" {
		name += " " + o.Gate
	}
	nc, err := nats.Connect(strings.Join(o.URLs, ","), nats.Name(name), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(true), nats.Timeout(2*time.Second))
	if err != nil {
		v.closeJournal()
		return nil, fmt.Errorf("venue: connect %s: %w", strings.Join(o.URLs, ","), err)
	}
	v.nc = nc
	if v.js, err = jetstream.New(nc); err != nil {
		v.Close()
		return nil, fmt.Errorf("venue: %w", err)
	}
	if err := v.setup(ctx); err != nil {
		v.Close()
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	if !o.Admin {
		v.wg.Add(2)
		go v.watchDeny(wctx)
		go v.watchFleet(wctx)
		if o.Gate != "" {
			v.wg.Add(1)
			go v.publish(wctx)
		}
	} else {
		close(v.denySet)
	}
	if v.journal != nil {
		v.wg.Add(1)
		go v.reconcile(wctx)
	}
	return v, nil
}

// setup creates or updates the three buckets (binds them, for Admin), retrying until
// SetupTimeout: a cluster that just started has no meta leader for a few seconds.
func (v *Venue) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, v.opts.SetupTimeout)
	defer cancel()
	if v.opts.Admin {
		for _, b := range []struct {
			name string
			dst  *jetstream.KeyValue
		}{{admissionsBucket(v.opts.Name), &v.admissions}, {denyBucket(v.opts.Name), &v.deny}, {fleetBucket(v.opts.Name), &v.fleet}} {
			kv, err := v.js.KeyValue(ctx, b.name)
			if err != nil {
				return fmt.Errorf("venue %s: bucket %s: %w (no gate of this venue has started?)", v.opts.Name, b.name, err)
			}
			*b.dst = kv
		}
		return nil
	}
	cfgs := []jetstream.KeyValueConfig{
		{Bucket: admissionsBucket(v.opts.Name), Description: "mdocgate anti-passback admissions", History: 1,
			TTL: v.opts.Window, Replicas: v.opts.Replicas},
		{Bucket: denyBucket(v.opts.Name), Description: "mdocgate deny list", History: 1, Replicas: v.opts.Replicas},
		{Bucket: fleetBucket(v.opts.Name), Description: "mdocgate fleet counts", History: 1, TTL: FleetTTL,
			Replicas: v.opts.Replicas},
	}
	dst := []*jetstream.KeyValue{&v.admissions, &v.deny, &v.fleet}
	for i, cfg := range cfgs {
		for {
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			kv, err := v.js.CreateOrUpdateKeyValue(actx, cfg)
			acancel()
			if err == nil {
				*dst[i] = kv
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("venue: bucket %s: %w", cfg.Bucket, err)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

// FindName names the one venue whose buckets are on the cluster at urls (for tools
// given no venue name); an error when there is none or more than one.
func FindName(ctx context.Context, urls []string) (string, error) {
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Name("mdocgate tool"), nats.Timeout(2*time.Second))
	if err != nil {
		return "", fmt.Errorf("venue: connect %s: %w", strings.Join(urls, ","), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	var names []string
	lister := js.KeyValueStoreNames(ctx)
	for b := range lister.Name() {
		if n, ok := strings.CutPrefix(b, "mdocgate-"); ok {
			if n, ok := strings.CutSuffix(n, "-deny"); ok {
				names = append(names, n)
			}
		}
	}
	if err := lister.Error(); err != nil {
		return "", fmt.Errorf("venue: list buckets: %w", err)
	}
	switch len(names) {
	case 0:
		return "", errors.New("venue: no venue on this cluster (no gate with venue: has started)")
	case 1:
		return names[0], nil
	}
	return "", fmt.Errorf("venue: several venues on this cluster (%s): name one", strings.Join(names, ", "))
}

// Name is the venue's name.
func (v *Venue) Name() string { return v.opts.Name }

// Collectors are the venue's Prometheus metrics (see the daemon's /metrics).
func (v *Venue) Collectors() []prometheus.Collector { return v.m.collectors() }

// WaitSynced waits until the deny list has been read once (or ctx ends).
func (v *Venue) WaitSynced(ctx context.Context) error {
	select {
	case <-v.denySet:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("venue: deny list not read: %w", ctx.Err())
	}
}

// Close stops the watchers and the publisher (publishing the counts a last time) and
// closes the connection.
func (v *Venue) Close() {
	if v.cancel != nil {
		v.cancel()
	}
	v.wg.Wait()
	if v.nc != nil {
		v.nc.Close()
	}
	v.closeJournal()
}

func (v *Venue) closeJournal() {
	if v.journal != nil {
		v.journal.close()
	}
}
