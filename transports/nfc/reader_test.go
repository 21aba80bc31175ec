package nfc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReaderSlot(t *testing.T) {
	for _, c := range []struct {
		name string
		want Slot
	}{
		{"Virtual PCD 00 01\x00\x00", Slot{Reader: "Virtual PCD 00 01", Port: DefaultVPCDPort + 1}},
		{"Virtual PCD 35965 00 00", Slot{Reader: "Virtual PCD 35965 00 00", Port: 35965}},
		{"ACS ACR122U PICC Interface 00 00", Slot{Reader: "ACS ACR122U PICC Interface 00 00"}},
	} {
		if got := readerSlot(c.name); got != c.want {
			t.Errorf("%q: %+v, want %+v", c.name, got, c.want)
		}
	}
}

// FindReader against the running pcscd: an exact name, a unique part of one, and names
// matching none or several readers.
func TestFindReader(t *testing.T) {
	slots := pcscSlots(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := FindReader(ctx, slots[1].Reader)
	if err != nil || got != slots[1] {
		t.Fatalf("exact name: %+v %v", got, err)
	}
	lower := strings.ToLower(slots[1].Reader[len("Virtual PCD"):])
	if got, err := FindReader(ctx, lower); err != nil || got != slots[1] {
		t.Fatalf("part %q: %+v %v", lower, got, err)
	}
	if _, err := FindReader(ctx, "no such reader"); !errors.Is(err, ErrNoReader) || !strings.Contains(err.Error(), slots[0].Reader) {
		t.Fatalf("no match: %v", err)
	}
	if _, err := FindReader(ctx, "Virtual PCD"); err == nil || !strings.Contains(err.Error(), "several readers") {
		t.Fatalf("ambiguous: %v", err)
	}
}
