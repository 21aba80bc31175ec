package handoff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/qr"
)

// OptionKeys are the options OpenQRBearer reads.
var OptionKeys = []string{"scanner", "handoff", "handoff_to", "l2cap"}

// OpenQRBearer returns the adapter (transports.Bearer) of the "qr" bearer: lanes whose
// engagements come from a 2D scanner (ScanListener) and whose sessions run on BLE or
// Wi-Fi Aware, on a simulated Radio the lanes and the simulated holders share. Options:
//   - "scanner" a device (a USB CDC scanner's /dev/ttyACM0, a pseudo-terminal) or "-"
//     (stdin: a keyboard-wedge scanner): the bearer's one lane reads it. Without it each
//     lane reads a pipe that the simulated holders' Engage writes their QR text into.
//   - "handoff" ble-central|ble-peripheral|wifiaware: what the simulated holders offer in
//     their DeviceEngagement (default ble-central)
//   - "handoff_to" comma-separated ble, ble-central, ble-peripheral, wifiaware: the
//     carriers the lanes may use, in their order (default all, BLE central client first)
//   - "l2cap" true: BLE sessions use an L2CAP channel (offered by the lane in central
//     client mode, by the holder in peripheral server mode)
func OpenQRBearer(o transports.BearerOptions) (transports.Bearer, error) {
	b := &qrBearer{offer: BLECentral, allowed: Kinds, lanes: map[string]*qrLane{}}
	for k, v := range o {
		var err error
		switch k {
		case "scanner":
			b.scanner = v
		case "handoff":
			var ks []Kind
			if ks, err = ParseKinds([]string{v}); err == nil && len(ks) != 1 {
				err = errors.New("want ble-central, ble-peripheral or wifiaware")
			}
			if err == nil {
				b.offer = ks[0]
			}
		case "handoff_to":
			b.allowed, err = ParseKinds(strings.Split(v, ","))
		case "l2cap":
			b.l2cap, err = strconv.ParseBool(v)
		}
		if err != nil {
			return nil, fmt.Errorf("qr option %s=%q: %w", k, v, err)
		}
	}
	if len(b.allowed) == 0 {
		return nil, errors.New("qr option handoff_to: the lanes need a carrier")
	}
	b.radio = NewRadio(RadioConfig{})
	b.log = func(msg string, args ...any) { slog.Warn(msg, args...) }
	return b, nil
}

// SetLog sets where the scanner lanes log the scans that start no session (default
// slog); call it before Listen.
func (b *qrBearer) SetLog(log func(msg string, args ...any)) { b.log = log }

type qrBearer struct {
	scanner string
	offer   Kind
	allowed []Kind
	l2cap   bool
	radio   *Radio
	log     func(msg string, args ...any) // the scanner lanes' log

	mu    sync.Mutex
	lanes map[string]*qrLane
}

// qrLane is a lane's scanner: w feeds its pipe when it has no device.
type qrLane struct {
	mu sync.Mutex // one QR text at a time
	w  *io.PipeWriter
}

func (b *qrBearer) Name() string { return EngagedByQR }

func (b *qrBearer) Capabilities() transports.Capabilities {
	models := false
	for _, k := range b.allowed {
		models = models || k != WiFiAware
	}
	return transports.Capabilities{ModelsAirTime: models}
}

func (b *qrBearer) Listen(lane string, backlog int) (transports.Listener, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.lanes[lane]; ok {
		return nil, fmt.Errorf("qr: lane name in use: %s", lane)
	}
	var src io.ReadCloser
	ql := &qrLane{}
	if b.scanner != "" {
		if len(b.lanes) > 0 {
			return nil, fmt.Errorf("qr: scanner %s already has its lane", b.scanner)
		}
		f, err := qr.OpenScanner(b.scanner)
		if err != nil {
			return nil, err
		}
		src = f
	} else {
		r, w := io.Pipe()
		src, ql.w = r, w
	}
	b.lanes[lane] = ql
	return NewScanListener(src, b.radio.Reader(b.allowed, b.l2cap), backlog, b.log), nil
}

// HolderMethods offers the holders' carrier with a fresh UUID (or passphrase).
func (b *qrBearer) HolderMethods(int) []messages.RetrievalMethod {
	return []messages.RetrievalMethod{NewOffer(b.offer, b.l2cap).Method()}
}

// Engage shows the holder's QR code to the lane's scanner (when the lane reads a pipe;
// with a device, whoever drives the test types it) and opens the holder's side on the
// carrier its engagement offers. LinkFaults act on that carrier's link.
func (b *qrBearer) Engage(ctx context.Context, lane string, de, _ []byte, f transports.LinkFaults) (transports.Conn, error) {
	b.mu.Lock()
	ql := b.lanes[lane]
	b.mu.Unlock()
	if ql == nil {
		return nil, fmt.Errorf("qr: no lane %q", lane)
	}
	t, err := FromEngagement(de, Kinds, b.l2cap) // the carrier the holder offers
	if err != nil {
		return nil, err
	}
	if ql.w != nil {
		ql.mu.Lock()
		_, err := io.WriteString(ql.w, qr.DeviceEngagementQR(de)+"\n")
		ql.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("qr: lane %s: %w", lane, transports.ErrClosed)
		}
	}
	return b.radio.Holder(ctx, t, f)
}

func (b *qrBearer) Framer() transports.Framer { return transports.WholeMessageFramer{} }

func (b *qrBearer) AirTime() time.Duration { return b.radio.AirTime() }

func (b *qrBearer) Close() error {
	b.mu.Lock()
	for name, ql := range b.lanes {
		if ql.w != nil {
			ql.w.Close()
		}
		delete(b.lanes, name)
	}
	b.mu.Unlock()
	return b.radio.Close()
}
