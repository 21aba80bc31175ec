package supervisor

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/actors"
	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/actors/readersession"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/memory"
)

// BenchmarkSessionFloor is the unavoidable crypto of one session of the default shape,
// both sides: two ephemeral keys and their ECDH, HKDF of both session keys on both sides,
// AES-GCM of request and response (encrypt + decrypt), readerAuth sign + verify, the MSO
// signature verify, deviceMac on both sides (ECDH + HKDF + HMAC), and SHA-256 of the
// disclosed items. No CBOR, no actors, no certificate parsing: the floor the engine is
// measured against.
func BenchmarkSessionFloor(b *testing.B) {
	w, err := newWorld()
	if err != nil {
		b.Fatal(err)
	}
	cred := w.valid[0]
	ia := &cred.IssuerSigned.IssuerAuth
	chain, _, _, _ := ia.X5Chain()
	ds, err := verify.ParseCertificates(chain[0])
	if err != nil {
		b.Fatal(err)
	}
	sigStructure, _ := messages.Marshal([]any{"Signature1", ia.Protected, []byte{}, ia.Payload})
	var items [][]byte
	for _, list := range cred.IssuerSigned.NameSpaces.All() {
		for _, it := range list[:5] {
			items = append(items, it.Raw())
		}
	}
	content, _ := messages.Marshal(make([]byte, 300)) // a transcript-sized item
	transcript := messages.NewEncodedCBOR(content).Raw()
	request, response := make([]byte, 600), make([]byte, 4000)
	raPayload := make([]byte, 500)
	readerKey := w.readerAuth.Key
	readerPub := w.readerAuth.Certificate.PublicKey
	macPayload := make([]byte, 400)
	defer TuneGC()() // as the CLI runs
	b.ReportAllocs()
	cpu0 := processCPUNanos()
	defer func() { b.ReportMetric(float64(processCPUNanos()-cpu0)/float64(b.N), "cpu-ns/session") }()
	for b.Loop() {
		dev, _ := keys.Generate(messages.CurveP256, nil)
		rdr, _ := keys.Generate(messages.CurveP256, nil)
		zr, _ := keys.ECDH(rdr, dev.COSEKey())
		zd, _ := keys.ECDH(dev, rdr.COSEKey())
		skr, skd, err := session.DeriveSessionKeys(zr, transcript)
		if err != nil {
			b.Fatal(err)
		}
		skr2, skd2, _ := session.DeriveSessionKeys(zd, transcript)
		rc, _ := session.NewCipher(session.RoleReader, skr, skd)
		hc, _ := session.NewCipher(session.RoleDevice, skr2, skd2)
		sig, _ := keys.Sign(readerKey, messages.AlgES256, nil, raPayload)
		ct, _ := rc.Encrypt(request)
		hc.Decrypt(ct)
		if err := keys.Verify(readerPub, messages.AlgES256, raPayload, sig); err != nil {
			b.Fatal(err)
		}
		// deviceMac, holder side then reader side
		z1, _ := keys.ECDH(cred.DevicePrivateKey, rdr.COSEKey())
		k1, _ := session.DeriveEMacKey(z1, transcript)
		z2, _ := keys.ECDH(rdr, cred.DeviceKey)
		k2, _ := session.DeriveEMacKey(z2, transcript)
		hmacOnce(k1, macPayload)
		hmacOnce(k2, macPayload)
		ct2, _ := hc.Encrypt(response)
		rc.Decrypt(ct2)
		if err := keys.Verify(ds[0].PublicKey, messages.AlgES256, sigStructure, ia.Signature); err != nil {
			b.Fatal(err)
		}
		for _, it := range items {
			sha256.Sum256(it)
		}
	}
}

// BenchmarkStateMachines runs whole sessions through the reader and holder state
// machines directly (CBOR, certificate parsing and verification included; no actors).
func BenchmarkStateMachines(b *testing.B) {
	w, err := newWorld()
	if err != nil {
		b.Fatal(err)
	}
	rcfg := defaultReaderConfig(w)
	defer TuneGC()() // as the CLI runs
	b.ReportAllocs()
	cpu0 := processCPUNanos()
	defer func() { b.ReportMetric(float64(processCPUNanos()-cpu0)/float64(b.N), "cpu-ns/session") }()
	for i := 0; b.Loop(); i++ {
		h, err := holdersession.New(&holdersession.Config{Credentials: []*issuer.Credential{w.valid[0]}, UseMAC: true, ReaderTrust: w.readerRoot, ReaderTrustCache: w.holderCache, Index: w.holderIndex})
		if err != nil {
			b.Fatal(err)
		}
		r := readersession.New(rcfg)
		step := r.Start(h.DeviceEngagement(), messages.QRHandover())
		for !step.Done {
			switch {
			case step.Verify != nil:
				step = r.Verified(step.Verify.Run())
			case step.Send != nil:
				hs := h.Receive(step.Send)
				step = r.Receive(hs.Send)
			}
		}
		if v, _ := r.Verdict(); v.Outcome != readersession.Accepted {
			b.Fatalf("%+v", v)
		}
	}
}

// BenchmarkEngine runs b.N valid holders through the whole engine on the memory bearer,
// with every CPU busy; compare its ns/op with BenchmarkSessionFloor's.
func BenchmarkEngine(b *testing.B) {
	n := b.N
	if n < 200 {
		n = 200
	}
	defer TuneGC()() // as the CLI runs
	b.ResetTimer()
	cpu0 := processCPUNanos()
	rep, err := RunLoad(context.Background(), LoadConfig{Lanes: 2, Holders: n, Concurrency: 256, Timeout: 10 * time.Second})
	cpu := processCPUNanos() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/session")
	if err != nil || rep.Lost != 0 || rep.Accepted != int64(n) {
		b.Fatalf("%v lost=%d accepted=%d", err, rep.Lost, rep.Accepted)
	}
	b.ReportMetric(float64(rep.Seconds)*1e9/float64(n), "ns/session")
	b.ReportMetric(rep.SessionsPerSecond, "sessions/s")
}

// BenchmarkIdleSessions opens 100,000 sessions whose holders engage and then stay silent,
// and reports the memory each costs the process (heap in use and goroutine stacks, both
// sides of the in-memory link included).
func BenchmarkIdleSessions(b *testing.B) {
	const sessions = 100_000
	for b.Loop() {
		w, err := newWorld()
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		eng := Start(Config{MaxInFlight: sessions + 10})
		l := memory.NewListener("idle", 1024)
		if err := eng.AddLane(&actors.LaneConfig{Name: "idle", Listener: l, MaxInFlight: sessions + 10,
			Sessions: actors.SessionSettings{Reader: defaultReaderConfig(w), EngagementTimeout: time.Hour, InactivityTimeout: time.Hour}}); err != nil {
			b.Fatal(err)
		}
		var holderConns []interface{ Close() error }
		var mu sync.Mutex
		for i := 0; i < sessions; i++ {
			h, err := holdersession.New(&holdersession.Config{Credentials: w.valid[:1]})
			if err != nil {
				b.Fatal(err)
			}
			for {
				c, err := l.Engage(context.Background(), h.DeviceEngagement(), []byte{0xf6}, memory.LinkConfig{QueueLen: 2})
				if err == nil {
					mu.Lock()
					holderConns = append(holderConns, c)
					mu.Unlock()
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		for eng.Counters().Started.Load() < sessions {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		used := (after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse)
		b.ReportMetric(float64(used)/sessions, "bytes/session")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
		fmt.Printf("idle sessions: %d, heap+stacks %d MiB, %.0f bytes/session, %d goroutines\n",
			eng.Counters().InFlight.Load(), used>>20, float64(used)/sessions, runtime.NumGoroutine())
		for _, c := range holderConns {
			c.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		eng.Shutdown(ctx)
		cancel()
	}
}

func hmacOnce(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// processCPUNanos is the process's user+system CPU time in nanoseconds: a measure of work that a
// busy machine does not inflate the way wall time is inflated.
func processCPUNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
