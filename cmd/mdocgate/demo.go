package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/supervisor"
)

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", stderr)
	jsonOut := fs.Bool("json", false, "print the summary as one JSON object")
	holders := fs.Int("holders", 300, "simulated holders")
	lanes := fs.Int("lanes", 1, "reader lanes per bearer")
	bearers := fs.String("transports", "memory,ble,wifiaware", "bearers to run lanes on (see loadtest --help)")
	concurrency := fs.Int("concurrency", 48, "holders at the gates at once")
	single := fs.Bool("single", false, "run one session and print every check of its verdict")
	logLevel := fs.String("log-level", "warn", "log level on stderr: debug, info, warn, error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *single {
		return runSingleDemo(stdout, stderr)
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return fail(stderr, "demo", err)
	}
	defer log.Sync()
	if !*jsonOut {
		fmt.Fprintf(stdout, "mdocgate demo: %d simulated holders (valid, slow, tampered, expired, untrusted issuer, forged device auth, silent, dropping link, garbage) at %d lane(s) on each of %s\n",
			*holders, *lanes, *bearers)
	}
	cfg := supervisor.LoadConfig{Transports: strings.Split(*bearers, ","), Lanes: *lanes, Holders: *holders, Concurrency: *concurrency,
		Mix: supervisor.DemoMix, Timeout: 1500 * time.Millisecond, Think: 2 * time.Millisecond, Log: log}
	rep, code := runWithProgress(cfg, stderr)
	if rep == nil {
		return code
	}
	if *jsonOut {
		writeJSON(stdout, rep)
	} else {
		printReport(stdout, "demo", rep)
	}
	if rep.Lost != 0 || rep.Mismatched != 0 {
		return exitInvalid
	}
	return code
}

// runSingleDemo runs one session and prints its verdict with every check.
func runSingleDemo(stdout, stderr io.Writer) int {
	v, err := demoExchange()
	if err != nil {
		return fail(stderr, "demo", err)
	}
	fmt.Fprintf(stdout, "verdict: %s", v.Outcome)
	if v.Reason != "" {
		fmt.Fprintf(stdout, " (%s)", v.Reason)
	}
	fmt.Fprintln(stdout)
	if v.Result != nil {
		printVerdictText(stdout, v.Result)
	}
	if v.Outcome != readersession.Accepted {
		return exitInvalid
	}
	return exitOK
}

// demoExchange runs one holder→reader session over an in-memory pipe: QR engagement,
// session establishment, an mDL request with reader authentication, the response and
// its verification.
func demoExchange() (*readersession.Verdict, error) {
	iaca, err := issuer.NewIACA(issuer.IACAOptions{CommonName: "demo IACA"})
	if err != nil {
		return nil, err
	}
	ds, err := iaca.NewDocumentSigner(issuer.DSOptions{CommonName: "demo DS"})
	if err != nil {
		return nil, err
	}
	readerRoot, err := issuer.NewReaderAuthority(issuer.IACAOptions{CommonName: "demo reader root"})
	if err != nil {
		return nil, err
	}
	readerCert, err := readerRoot.NewReaderCert(issuer.ReaderOptions{CommonName: "demo gate reader"})
	if err != nil {
		return nil, err
	}
	deviceKey, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		return nil, err
	}
	cred, err := ds.Issue(issuer.IssueRequest{DocType: issuer.DocTypeMDL, NameSpaces: issuer.SampleMDL(nil), DeviceKey: deviceKey.COSEKey()})
	if err != nil {
		return nil, err
	}
	cred.DevicePrivateKey = deviceKey

	h, err := holdersession.New(&holdersession.Config{
		Credentials: []*issuer.Credential{cred},
		UseMAC:      true,
		ReaderTrust: verify.NewTrustStore(readerRoot.Certificate),
	})
	if err != nil {
		return nil, err
	}
	r := readersession.New(&readersession.Config{
		Request: []holder.RequestedDoc{{DocType: issuer.DocTypeMDL, NameSpaces: []holder.RequestedNameSpace{{
			Name:     issuer.NamespaceMDL,
			Elements: []string{"family_name", "given_name", "portrait", "age_over_18", "document_number", "expiry_date"},
		}}}},
		ReaderAuth: readerCert,
		Trust:      verify.NewTrustStore(iaca.Certificate),
	})

	readerEnd, holderEnd := net.Pipe()
	holderErr := make(chan error, 1)
	go func() { holderErr <- serveHolder(h, holderEnd) }()
	defer readerEnd.Close()
	readerEnd.SetDeadline(time.Now().Add(30 * time.Second))

	step := r.Start(h.DeviceEngagement(), messages.QRHandover())
	for {
		if step.Send != nil {
			if err := writeFrame(readerEnd, step.Send); err != nil && !step.Done {
				step = r.Fail(readersession.Error, "link", err.Error())
			}
		}
		if step.Verify != nil {
			step = r.Verified(step.Verify.Run())
			continue
		}
		if step.Done {
			break
		}
		msg, err := readFrame(readerEnd)
		if err != nil {
			step = r.Fail(readersession.Error, "link", err.Error())
			continue
		}
		step = r.Receive(msg)
	}
	readerEnd.Close()
	if err := <-holderErr; err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
		return nil, fmt.Errorf("holder: %w", err)
	}
	v, _ := r.Verdict()
	return v, nil
}

func serveHolder(h *holdersession.Session, conn net.Conn) error {
	defer conn.Close()
	for {
		msg, err := readFrame(conn)
		if err != nil {
			return err
		}
		st := h.Receive(msg)
		if st.Send != nil {
			if err := writeFrame(conn, st.Send); err != nil {
				return err
			}
		}
		if st.Done {
			return st.Err
		}
	}
}

// Frames on the demo pipe: 4-byte big-endian length, then the session message.
func writeFrame(w io.Writer, msg []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(msg)))
	if _, err := w.Write(append(hdr[:], msg...)); err != nil {
		return err
	}
	return nil
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > messages.MaxMessageSize {
		return nil, fmt.Errorf("frame of %d bytes exceeds the limit", n)
	}
	msg := make([]byte, n)
	_, err := io.ReadFull(r, msg)
	return msg, err
}
