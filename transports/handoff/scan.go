package handoff

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports"
	"github.com/mdocgate/mdocgate/transports/qr"
)

// EngagedByQR is the ENGAGEMENT part of the bearer name of sessions a ScanListener
// starts ("qr>ble-central").
const EngagedByQR = "qr"

// ScanListener is a lane whose engagements come from a 2D scanner: each DeviceEngagement
// URI it reads ("mdoc:…", one per line) starts a session on the carrier the engagement
// offers that the lane allows (Reader.Allowed: its BLE bearer, or Wi-Fi Aware when
// offered), dialled in the background like an NFC hand-off. Lines that are no
// engagement, engagements offering no allowed carrier and scans while the backlog is
// full are logged and dropped; nothing a scanner sends stops the lane. It implements
// transports.Listener.
type ScanListener struct {
	reader  *Reader
	src     io.Closer
	log     func(msg string, args ...any)
	backlog *transports.Backlog
}

// NewScanListener reads src until it ends or the listener is closed (closing src), queuing
// at most backlog arrivals. log receives a line for every scan that starts no session
// (nil: none).
func NewScanListener(src io.ReadCloser, r *Reader, backlog int, log func(msg string, args ...any)) *ScanListener {
	if log == nil {
		log = func(string, ...any) {}
	}
	l := &ScanListener{reader: r, src: src, log: log, backlog: transports.NewBacklog(backlog)}
	go func() {
		err := qr.ReadEngagements(src, 0, l.scanned)
		switch {
		case l.backlog.Closed():
		case err != nil:
			l.log("qr scanner stopped", "error", err.Error())
		default:
			l.log("qr scanner ended")
		}
	}()
	return l
}

func (l *ScanListener) scanned(s qr.Scanned) {
	if s.Err != nil {
		l.log("qr scanner: line ignored", "line", s.Line, "error", s.Err.Error())
		return
	}
	at := time.Now()
	t, err := FromEngagement(s.DeviceEngagement, l.reader.Allowed, l.reader.L2CAP)
	if err != nil {
		l.log("qr scanner: engagement not served", "line", s.Line, "error", err.Error())
		return
	}
	conn := l.reader.Dial(t, nil)
	a := &transports.Arrival{DeviceEngagement: s.DeviceEngagement, Handover: messages.QRHandover(), Conn: conn,
		Bearer: Label(EngagedByQR, t.Kind), EngagedAt: at, Reject: conn.Reject}
	switch err := l.backlog.Offer(a); {
	case err == nil:
	case errors.Is(err, transports.ErrClosed):
		conn.Close()
	default:
		l.log("qr scanner: lane busy, engagement dropped", "line", s.Line)
		conn.Reject(transports.ErrBusy)
	}
}

// Accept returns the next arrival.
func (l *ScanListener) Accept(ctx context.Context) (*transports.Arrival, error) {
	return l.backlog.Accept(ctx)
}

// Bearer is "qr".
func (l *ScanListener) Bearer() string { return EngagedByQR }

// Close stops reading (closing the scanner: a read from stdin, which stays open, ends
// with its next line) and refuses what is still queued.
func (l *ScanListener) Close() error {
	if l.backlog.Close(func(a *transports.Arrival) { a.Reject(transports.ErrClosed) }) {
		l.src.Close()
	}
	return nil
}
