package venue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// DenyEntry is a deny list entry as stored.
type DenyEntry struct {
	Key   string    `json:"key"`
	Added time.Time `json:"added"`
	Note  string    `json:"note,omitempty"`
}

// Denied reports whether credential key is on the deny list: a lookup in memory, kept
// current by a watch on the deny bucket.
func (v *Venue) Denied(key string) bool {
	_, ok := v.denied.Load(key)
	return ok
}

// watchDeny keeps the deny list in memory: the bucket's current keys, then every
// change. A watch that ends (the connection lost for good) is started again.
func (v *Venue) watchDeny(ctx context.Context) {
	defer v.wg.Done()
	synced := false
	for ctx.Err() == nil {
		w, err := v.deny.WatchAll(ctx)
		if err != nil {
			v.log.Warn("deny list watch", zap.Error(err))
			sleep(ctx, time.Second)
			continue
		}
		seen := map[string]bool{}
		initial := true
		for e := range w.Updates() {
			if e == nil { // the current keys are all in: drop what was deleted meanwhile
				if initial {
					v.denied.Range(func(k, _ any) bool {
						if !seen[k.(string)] {
							v.denied.Delete(k)
						}
						return true
					})
					initial = false
				}
				if !synced {
					synced = true
					close(v.denySet)
				}
				continue
			}
			switch e.Operation() {
			case jetstream.KeyValuePut:
				v.denied.Store(e.Key(), struct{}{})
				seen[e.Key()] = true
			default:
				v.denied.Delete(e.Key())
			}
		}
		_ = w.Stop()
		sleep(ctx, 250*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// DenyAdd puts credential key (CredentialKey of a name, or a key a gate logged) on the
// deny list and returns the stored key.
func (v *Venue) DenyAdd(ctx context.Context, credential, note string) (string, error) {
	key := CredentialKey(credential)
	b, _ := json.Marshal(DenyEntry{Key: key, Added: time.Now().UTC(), Note: note})
	if _, err := v.deny.Put(ctx, key, b); err != nil {
		return "", fmt.Errorf("venue: deny add: %w", err)
	}
	return key, nil
}

// DenyRemove takes credential off the deny list; false when it was not on it.
func (v *Venue) DenyRemove(ctx context.Context, credential string) (string, bool, error) {
	key := CredentialKey(credential)
	if _, err := v.deny.Get(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
		return key, false, nil
	} else if err != nil {
		return key, false, fmt.Errorf("venue: deny remove: %w", err)
	}
	if err := v.deny.Purge(ctx, key); err != nil {
		return key, false, fmt.Errorf("venue: deny remove: %w", err)
	}
	return key, true, nil
}

// DenyList returns the deny list, by key.
func (v *Venue) DenyList(ctx context.Context) ([]DenyEntry, error) {
	w, err := v.deny.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("venue: deny list: %w", err)
	}
	defer w.Stop()
	byKey := map[string]DenyEntry{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("venue: deny list: %w", ctx.Err())
		case e := <-w.Updates():
			if e == nil {
				out := make([]DenyEntry, 0, len(byKey))
				for _, d := range byKey {
					out = append(out, d)
				}
				slices.SortFunc(out, func(a, b DenyEntry) int { return strings.Compare(a.Key, b.Key) })
				return out, nil
			}
			var d DenyEntry
			if json.Unmarshal(e.Value(), &d) != nil || d.Key == "" {
				d = DenyEntry{Key: e.Key()}
			}
			byKey[e.Key()] = d
		}
	}
}
