package messages

import (
	"errors"
	"fmt"
	"time"
)

// TDate is a tdate: #6.0(tstr) holding an RFC 3339 date-time.
//
// Decoding is lenient: fractional seconds and offsets other than Z are accepted (and
// reported through Fractional / NonUTC so a policy can warn), as is an untagged text
// string (Untagged), and one level of byte string wrapping the tdate (Embedded, seen in
// pyMDOC-CBOR output). Encoding is strict: #6.0, UTC with "Z", no fractional seconds,
// and an error when the UTC year is outside 0000-9999 (RFC 3339 has four-digit years).
type TDate struct {
	time.Time
	Fractional bool // received with fractional seconds
	NonUTC     bool // received with an offset other than Z
	Untagged   bool // received as a plain text string without tag 0
	Embedded   bool // received as a byte string holding the encoded tdate
}

// NewTDate returns t truncated to whole seconds in UTC.
func NewTDate(t time.Time) TDate { return TDate{Time: t.UTC().Truncate(time.Second)} }

// MarshalCBOR writes #6.0("YYYY-MM-DDTHH:MM:SSZ").
func (d TDate) MarshalCBOR() ([]byte, error) {
	u := d.UTC().Truncate(time.Second)
	if y := u.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("tdate: UTC year %d is outside 0000-9999", y)
	}
	s := u.Format("2006-01-02T15:04:05Z")
	out := []byte{0xc0}
	out = appendHead(out, majorText, uint64(len(s)))
	return append(out, s...), nil
}

// UnmarshalCBOR reads #6.0(tstr) or a plain tstr, or either of them encoded in a byte
// string (one level only).
func (d *TDate) UnmarshalCBOR(data []byte) error { return d.decode(data, 0) }

func (d *TDate) keepsNothing() {}

// decode keeps nothing of data.
func (d *TDate) decode(data []byte, _ trust) error {
	embedded := false
	if isMajor(data, majorBytes) {
		var inner []byte
		if err := decodeBytes(data, &inner); err != nil {
			return fmt.Errorf("tdate: %w", err)
		}
		if isMajor(inner, majorBytes) {
			return errors.New("tdate: byte string inside a byte string")
		}
		data, embedded = inner, true
	}
	s, tagged, err := optionallyTaggedText(data, 0)
	if err != nil {
		return fmt.Errorf("tdate: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("tdate %q: %w", s, err)
	}
	*d = TDate{
		Time:       t,
		Fractional: t.Nanosecond() != 0 || hasFraction(s),
		NonUTC:     len(s) > 0 && s[len(s)-1] != 'Z' && s[len(s)-1] != 'z',
		Untagged:   !tagged,
		Embedded:   embedded,
	}
	return nil
}

func hasFraction(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return true
		}
	}
	return false
}

// FullDate is a full-date: #6.1004(tstr) "YYYY-MM-DD" (RFC 8943).
// An untagged text string is accepted on input.
type FullDate struct {
	Year     int
	Month    time.Month
	Day      int
	Untagged bool
}

// String returns YYYY-MM-DD.
func (d FullDate) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// Time returns midnight UTC of the date.
func (d FullDate) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// ParseFullDate parses YYYY-MM-DD.
func ParseFullDate(s string) (FullDate, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return FullDate{}, fmt.Errorf("full-date %q: %w", s, err)
	}
	return FullDate{Year: t.Year(), Month: t.Month(), Day: t.Day()}, nil
}

// MarshalCBOR writes #6.1004("YYYY-MM-DD").
func (d FullDate) MarshalCBOR() ([]byte, error) {
	s := d.String()
	out := []byte{0xd9, 0x03, 0xec}
	out = appendHead(out, majorText, uint64(len(s)))
	return append(out, s...), nil
}

// UnmarshalCBOR reads #6.1004(tstr) or a plain tstr.
func (d *FullDate) UnmarshalCBOR(data []byte) error { return d.decode(data, 0) }

func (d *FullDate) keepsNothing() {}

// decode keeps nothing of data.
func (d *FullDate) decode(data []byte, _ trust) error {
	s, tagged, err := optionallyTaggedText(data, 1004)
	if err != nil {
		return fmt.Errorf("full-date: %w", err)
	}
	fd, err := ParseFullDate(s)
	if err != nil {
		return err
	}
	fd.Untagged = !tagged
	*d = fd
	return nil
}

// optionallyTaggedText reads tstr or #6.tag(tstr).
func optionallyTaggedText(data []byte, tag uint64) (string, bool, error) {
	h, err := readHead(data)
	if err != nil {
		return "", false, err
	}
	tagged := false
	if h.major == majorTag {
		if h.indefinite || h.arg != tag {
			return "", false, fmt.Errorf("unexpected tag %d", h.arg)
		}
		tagged = true
		data = data[h.size:]
	}
	var s string
	if !isMajor(data, majorText) {
		return "", false, errors.New("expected a text string")
	}
	if h, err := readHead(data); err == nil && !h.indefinite {
		if end, err := stringEnd(data, 0, h, majorText); err == nil && end == len(data) {
			return string(data[h.size:end]), tagged, nil
		}
	}
	s, err = viaDecMode[string](data)
	if err != nil {
		return "", false, fmt.Errorf("expected a text string: %w", err)
	}
	return s, tagged, nil
}
