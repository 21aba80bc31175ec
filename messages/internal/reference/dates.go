package reference

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
// pyMDOC-CBOR output).
type TDate struct {
	time.Time
	Fractional bool // received with fractional seconds
	NonUTC     bool // received with an offset other than Z
	Untagged   bool // received as a plain text string without tag 0
	Embedded   bool // received as a byte string holding the encoded tdate
}

// UnmarshalCBOR reads #6.0(tstr) or a plain tstr, or either of them encoded in a byte
// string (one level only).
func (d *TDate) UnmarshalCBOR(data []byte) error {
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

// ParseFullDate parses YYYY-MM-DD.
func ParseFullDate(s string) (FullDate, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return FullDate{}, fmt.Errorf("full-date %q: %w", s, err)
	}
	return FullDate{Year: t.Year(), Month: t.Month(), Day: t.Day()}, nil
}

// UnmarshalCBOR reads #6.1004(tstr) or a plain tstr.
func (d *FullDate) UnmarshalCBOR(data []byte) error {
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
	if err := decMode.Unmarshal(data, &s); err != nil {
		return "", false, fmt.Errorf("expected a text string: %w", err)
	}
	return s, tagged, nil
}
