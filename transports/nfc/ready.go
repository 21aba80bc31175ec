package nfc

import (
	"context"
	"fmt"
)

// Ready implements transports.ReadyChecker: an nfc-pcsc bearer is ready while pcscd
// answers and lists every reader its lanes use; the in-memory bearer always is.
func (b *bearer) Ready(ctx context.Context) error {
	if !b.pcsc {
		return nil
	}
	readers, err := Readers(ctx)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, r := range readers {
		present[r.Reader] = true
	}
	for _, s := range b.slots {
		if !present[s.Reader] {
			return fmt.Errorf("%w: PC/SC reader %q is gone", ErrNoReader, s.Reader)
		}
	}
	return nil
}
