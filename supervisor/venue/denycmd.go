package venue

import (
	"context"
	"fmt"
	"time"
)

// DenyCommand is one operation of a tool on a venue's deny list (`mdocgate deny`).
type DenyCommand struct {
	// URLs are the cluster's client URLs.
	URLs []string
	// Name is the venue; empty: the one venue on the cluster (FindName).
	Name string
	// Op is "add", "remove" or "list".
	Op string
	// Key, for add and remove, is a credential: a key a gate logged or a name CredentialKey
	// takes. Note, for add, says why.
	Key, Note string
}

// Deny runs c as an administering tool (Options.Admin), within ctx's deadline, and
// returns what the deny command prints as one JSON line: {"venue", "added"}, {"venue",
// "removed", "was_listed"} or {"venue", "deny"}. A remove of a credential that was not
// listed is no error: was_listed says so.
func Deny(ctx context.Context, c DenyCommand) (map[string]any, error) {
	if c.Op != "add" && c.Op != "remove" && c.Op != "list" {
		return nil, fmt.Errorf("venue: deny %q: want add, remove or list", c.Op)
	}
	if c.Name == "" {
		n, err := FindName(ctx, c.URLs)
		if err != nil {
			return nil, err
		}
		c.Name = n
	}
	setup := time.Duration(0) // Connect's default
	if dl, ok := ctx.Deadline(); ok {
		setup = time.Until(dl)
	}
	v, err := Connect(ctx, Options{Name: c.Name, URLs: c.URLs, Admin: true, SetupTimeout: setup})
	if err != nil {
		return nil, err
	}
	defer v.Close()
	switch c.Op {
	case "add":
		key, err := v.DenyAdd(ctx, c.Key, c.Note)
		if err != nil {
			return nil, err
		}
		return map[string]any{"venue": c.Name, "added": key}, nil
	case "remove":
		key, found, err := v.DenyRemove(ctx, c.Key)
		if err != nil {
			return nil, err
		}
		return map[string]any{"venue": c.Name, "removed": key, "was_listed": found}, nil
	}
	list, err := v.DenyList(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]any{"venue": c.Name, "deny": list}, nil
}
