package daemon_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/webholder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/supervisor/daemon"
	"github.com/mdocgate/mdocgate/transports/web"
)

// Start a gate from a configuration file, let one holder present an mDL over its
// WebSocket lane, and stop it. The issuing authority is the repository's test one
// (crypto/issuer); a real gate trusts its issuers' IACA certificates.
func Example() {
	dir, err := os.MkdirTemp("", "gate")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// a test IACA in the gate's iaca_dir, and an mDL it issued
	iaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "example IACA", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		log.Fatal(err)
	}
	ds, err := iaca.NewDocumentSigner(issuer.DSOptions{CommonName: "example DS", NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		log.Fatal(err)
	}
	deviceKey, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	cred, err := ds.Issue(issuer.IssueRequest{DocType: issuer.DocTypeMDL, NameSpaces: issuer.SampleMDL(nil),
		DeviceKey: deviceKey.COSEKey(), Signed: now, ValidFrom: now, ValidUntil: now.Add(24 * time.Hour)})
	if err != nil {
		log.Fatal(err)
	}
	cred.DevicePrivateKey = deviceKey
	if err := os.Mkdir(filepath.Join(dir, "iaca"), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "iaca", "iaca.pem"), iaca.CertificatePEM(), 0o644); err != nil {
		log.Fatal(err)
	}

	// the gate: one WebSocket lane with the mDL profile, on free loopback ports
	config := filepath.Join(dir, "gate.yaml")
	if err := os.WriteFile(config, []byte(`name: example-gate
listen: 127.0.0.1:0
http_addr: 127.0.0.1:0
trust:
  iaca_dir: iaca
lanes:
  - name: entrance
    bearer: websocket
    profile: mdl
`), 0o644); err != nil {
		log.Fatal(err)
	}
	cfg, err := daemon.LoadConfig(config)
	if err != nil {
		log.Fatal(err) // e.g. config: lanes[0].bearer: unknown bearer ...
	}
	verdicts := make(chan daemon.Verdict, 1)
	g, err := daemon.New(cfg, daemon.Options{OnVerdict: func(v daemon.Verdict) { verdicts <- v }})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- g.Run(ctx, nil) }() // a daemon passes SIGINT, SIGTERM and SIGHUP here
	info := g.Info()
	fmt.Println(info.Name, info.Lanes)

	// a holder engages at GET /engage and presents its mDL
	e, err := web.FetchEngagement(ctx, nil, info.Origin, false)
	if err != nil {
		log.Fatal(err)
	}
	holder := &holdersession.Config{Credentials: []*issuer.Credential{cred}}
	if err := webholder.Present(ctx, e.MdocURI, holder, "", web.DialOptions{WebSocket: true}); err != nil {
		log.Fatal(err)
	}
	v := <-verdicts
	fmt.Println(v.Lane, v.Outcome, v.Action)

	stop() // sessions under way finish, then the gate stops
	if err := <-stopped; err != nil {
		log.Fatal(err)
	}
	// Output:
	// example-gate [{entrance websocket 178176}]
	// entrance accepted open
}
