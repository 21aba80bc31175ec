package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/mdocgate/mdocgate/crypto/trust"
	"github.com/mdocgate/mdocgate/crypto/verify"
)

// statusFlags are verify's revocation flags.
type statusFlags struct {
	mode        *string
	lists, crls multiFlag
}

func addStatusFlags(fs *flag.FlagSet) *statusFlags {
	f := &statusFlags{mode: fs.String("status", "", "revocation checks: online (fetch the MSO's status list and the DS's CRL), offline (only --status-list and --crl files), off; default offline when such files are given, else off")}
	fs.Var(&f.lists, "status-list", "status list token file, CWT or JWT (repeatable)")
	fs.Var(&f.crls, "crl", "CRL file, DER or PEM (repeatable)")
	return f
}

// revocation builds the verifier's revocation client, nil when checks are off. Its clock
// is the verification time (--at), so exp and nextUpdate are judged then.
func (f *statusFlags) revocation(now time.Time) (verify.Revocation, error) {
	mode := *f.mode
	if mode == "" {
		mode = "off"
		if len(f.lists)+len(f.crls) > 0 {
			mode = "offline"
		}
	}
	switch mode {
	case "off":
		if len(f.lists)+len(f.crls) > 0 {
			return nil, fmt.Errorf("--status off with --status-list or --crl")
		}
		return nil, nil
	case "online", "offline":
	default:
		return nil, fmt.Errorf("--status %q: want online, offline or off", mode)
	}
	c := &trust.StatusClient{Offline: mode == "offline", Now: func() time.Time { return now }}
	var lists, crls []trust.OfflineFile
	for _, name := range f.lists {
		b, err := readInput(name)
		if err != nil {
			return nil, fmt.Errorf("--status-list: %w", err)
		}
		lists = append(lists, trust.OfflineFile{Name: name, Data: b})
	}
	for _, name := range f.crls {
		b, err := readFileLimited(name, trust.DefaultStatusMaxBody*4)
		if err != nil {
			return nil, fmt.Errorf("--crl: %w", err)
		}
		crls = append(crls, trust.OfflineFile{Name: name, Data: b})
	}
	if err := c.SetOffline(lists, crls); err != nil {
		return nil, fmt.Errorf("--status-list/--crl: %w", err)
	}
	return c, nil
}

// readFileLimited reads a file of at most limit bytes.
func readFileLimited(name string, limit int64) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return os.ReadFile(name)
}
