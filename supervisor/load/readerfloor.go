package load

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"runtime"
	"syscall"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/messages"
)

// rusageThread is getrusage's RUSAGE_THREAD (Linux): the calling thread's CPU time.
const rusageThread = 1

// readerFloorBatch is how many sessions' reader steps run back to back between the
// holders' steps.
const readerFloorBatch = 100

// MeasureReaderFloor measures the reader's share of the unavoidable crypto of sessions
// presenting cred with the given elements disclosed (nil: floorItems of them), as a gate
// without readerAuth does it: its ephemeral key, ECDH and HKDF of the session keys,
// AES-GCM of the request (encrypt) and of the response (decrypt), the MSO signature
// verify, SHA-256 of the disclosed items, and the holder's mdoc authentication checked,
// half the sessions a deviceMac (ECDH + HKDF + HMAC), half a deviceSignature (ECDSA
// verify). No CBOR, no certificate chain, no sockets. It runs sessions sessions on one
// OS thread (the calling goroutine locked to it) and returns that thread's CPU time per
// session. The holders' steps (their ephemeral keys, decrypting the request, MAC or
// signature, encrypting the response) run on the same thread between the reader's
// batches and are not counted.
func MeasureReaderFloor(cred *issuer.Credential, disclosed []string, sessions int) (time.Duration, error) {
	if sessions <= 0 {
		return 0, errors.New("reader floor: sessions > 0 please")
	}
	if cred.DevicePrivateKey == nil {
		return 0, errors.New("reader floor: the credential has no device private key")
	}
	parts, err := newCredentialParts(cred, disclosed)
	if err != nil {
		return 0, err
	}
	transcript, err := floorTranscript()
	if err != nil {
		return 0, err
	}
	f := &readerFloor{cred: parts, transcript: transcript, request: make([]byte, floorRequestBytes),
		response: make([]byte, floorResponseBytes), macInput: make([]byte, floorMACBytes)}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var spent time.Duration
	for done := 0; done < sessions; {
		n := min(readerFloorBatch, sessions-done)
		d, err := f.batch(done, n)
		if err != nil {
			return 0, err
		}
		spent += d
		done += n
	}
	return spent / time.Duration(sessions), nil
}

// readerFloor is the fixed material of MeasureReaderFloor's sessions.
type readerFloor struct {
	cred                        *credentialParts
	transcript                  []byte
	request, response, macInput []byte
}

// floorPeer is one session's state between the reader's and the holder's steps.
type floorPeer struct {
	dev, rdr       *keys.PrivateKey
	rc             *session.Cipher
	requestCT      []byte
	responseCT     []byte
	mac            bool
	tag, signature []byte
}

// batch runs n sessions (the first numbered first) and returns the reader's CPU time.
func (f *readerFloor) batch(first, n int) (time.Duration, error) {
	peers := make([]floorPeer, n)
	for i := range peers { // the holders' ephemeral keys, in their engagements
		dev, err := keys.Generate(messages.CurveP256, nil)
		if err != nil {
			return 0, err
		}
		peers[i] = floorPeer{dev: dev, mac: (first+i)%2 == 0}
	}
	t0 := threadCPU()
	for i := range peers {
		if err := f.readerRequest(&peers[i]); err != nil {
			return 0, err
		}
	}
	spent := threadCPU() - t0
	for i := range peers {
		if err := f.holder(&peers[i]); err != nil {
			return 0, err
		}
	}
	t0 = threadCPU()
	for i := range peers {
		if err := f.readerResponse(&peers[i]); err != nil {
			return 0, err
		}
	}
	return spent + threadCPU() - t0, nil
}

// readerRequest is the reader's first half: its ephemeral key, the session keys, the
// request encrypted.
func (f *readerFloor) readerRequest(p *floorPeer) error {
	rdr, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		return err
	}
	z, err := keys.ECDH(rdr, p.dev.COSEKey())
	if err != nil {
		return err
	}
	skr, skd, err := session.DeriveSessionKeys(z, f.transcript)
	if err != nil {
		return err
	}
	if p.rc, err = session.NewCipher(session.RoleReader, skr, skd); err != nil {
		return err
	}
	p.rdr = rdr
	p.requestCT, err = p.rc.Encrypt(f.request)
	return err
}

// holder is the holder's part, not counted: its session keys, the request decrypted,
// its MAC or signature, the response encrypted.
func (f *readerFloor) holder(p *floorPeer) error {
	z, err := keys.ECDH(p.dev, p.rdr.COSEKey())
	if err != nil {
		return err
	}
	skr, skd, err := session.DeriveSessionKeys(z, f.transcript)
	if err != nil {
		return err
	}
	hc, err := session.NewCipher(session.RoleDevice, skr, skd)
	if err != nil {
		return err
	}
	if _, err := hc.Decrypt(p.requestCT); err != nil {
		return err
	}
	if p.mac {
		z1, err := keys.ECDH(f.cred.deviceKey, p.rdr.COSEKey())
		if err != nil {
			return err
		}
		k, err := session.DeriveEMacKey(z1, f.transcript)
		if err != nil {
			return err
		}
		p.tag = hmacOnce(k, f.macInput)
	} else if p.signature, err = keys.Sign(f.cred.deviceKey, messages.AlgES256, nil, f.macInput); err != nil {
		return err
	}
	p.responseCT, err = hc.Encrypt(f.response)
	return err
}

// readerResponse is the reader's second half: the response decrypted, the MSO
// signature and the items' digests, the mdoc authentication.
func (f *readerFloor) readerResponse(p *floorPeer) error {
	if _, err := p.rc.Decrypt(p.responseCT); err != nil {
		return err
	}
	if err := keys.Verify(f.cred.dsPub, messages.AlgES256, f.cred.sigStructure, f.cred.signature); err != nil {
		return err
	}
	for _, it := range f.cred.items {
		sha256.Sum256(it)
	}
	if p.mac {
		z, err := keys.ECDH(p.rdr, f.cred.deviceCOSE)
		if err != nil {
			return err
		}
		k, err := session.DeriveEMacKey(z, f.transcript)
		if err != nil {
			return err
		}
		if !hmac.Equal(hmacOnce(k, f.macInput), p.tag) {
			return errors.New("reader floor: deviceMac differs")
		}
		return nil
	}
	pub, err := keys.PublicKeyFromCOSE(f.cred.deviceCOSE)
	if err != nil {
		return err
	}
	return keys.Verify(pub, messages.AlgES256, f.macInput, p.signature)
}

// threadCPU is the calling thread's CPU time (the process's where the system has no
// per-thread figure).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(rusageThread, &ru) != nil {
		return ownCPU()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
