package qr

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mdocgate/mdocgate/messages"
)

// Scanned is one line a 2D scanner sent: the DeviceEngagement it carried, or why it
// carried none.
type Scanned struct {
	// DeviceEngagement is DeviceEngagementBytes exactly as scanned (nil when Err).
	DeviceEngagement []byte
	// Err says why the line is no DeviceEngagement URI (ErrNotMdocURI, ErrLineTooLong).
	Err error
	// Line is the start of the line (at most 64 bytes, for a log).
	Line string
}

// ErrLineTooLong is a scanner line longer than the limit: it is dropped up to its end.
var ErrLineTooLong = errors.New("qr: scanner line too long")

// ReadEngagements reads a 2D scanner's lines from r — what a line-oriented scanner sends:
// a USB CDC serial port, or a keyboard-wedge scanner typing into stdin — and hands each
// non-empty line to found: a DeviceEngagement ("mdoc:" URI, 18013-5 8.2.2.3) or why the
// line is none (a bar code of something else, a truncated scan, a line over maxLine
// bytes, dropped up to its end). Lines end with LF, CR or CR LF. It returns r's error
// (nil at EOF); it never buffers more than maxLine bytes (0: the longest engagement URI
// messages accepts).
func ReadEngagements(r io.Reader, maxLine int, found func(Scanned)) error {
	if maxLine <= 0 {
		maxLine = messages.MaxEngagementURILength
	}
	br := bufio.NewReaderSize(r, 4096)
	line := make([]byte, 0, 512)
	tooLong := false
	end := func() {
		switch {
		case tooLong:
			found(Scanned{Err: fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, maxLine), Line: head(line)})
		case len(line) > 0:
			_, raw, err := ParseDeviceEngagementQR(string(line))
			if err != nil {
				found(Scanned{Err: err, Line: head(line)})
			} else {
				found(Scanned{DeviceEngagement: raw, Line: head(line)})
			}
		}
		line, tooLong = line[:0], false
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			end()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch {
		case b == '\n' || b == '\r':
			end()
		case len(line) >= maxLine:
			tooLong = true // keep the start for the log, drop the rest
		default:
			line = append(line, b)
		}
	}
}

func head(line []byte) string {
	const n = 64
	if len(line) > n {
		return fmt.Sprintf("%q…", line[:n])
	}
	return fmt.Sprintf("%q", line)
}

// OpenScanner opens the scanner named by a lane's qr_scanner: "-" is stdin (a keyboard-
// wedge scanner typing into the terminal; it is not closed), any other name a character
// device such as /dev/ttyACM0 (a USB CDC scanner), put in raw mode when it is a terminal
// so that the line discipline neither echoes to the scanner nor limits the line length.
func OpenScanner(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	f, err := openDevice(name)
	if err != nil {
		return nil, fmt.Errorf("qr: scanner %s: %w", name, err)
	}
	return f, nil
}
