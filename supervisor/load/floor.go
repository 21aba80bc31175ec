package load

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// floorSession is the unavoidable crypto of one session of the load runs' default shape,
// both sides: two ephemeral keys and their ECDH, the session keys derived on both sides
// (HKDF), AES-GCM of request and response (encrypt and decrypt), readerAuth sign and
// verify, the MSO signature verify, SHA-256 of the disclosed items, and mdoc
// authentication as the load runs mix it: deviceMac on both sides (ECDH + HKDF + HMAC)
// for even sessions, a deviceSignature signed and verified for odd ones. No CBOR, no
// actors, no certificate parsing: what the engine's throughput is measured against.
type floorSession struct {
	cred                    *credentialParts
	transcript              []byte
	request, response       []byte
	readerAuthTBS, macInput []byte
	readerKey               *keys.PrivateKey
	readerPub               any
}

// credentialParts are the pieces of one credential the floor works on.
type credentialParts struct {
	deviceKey    *keys.PrivateKey
	deviceCOSE   *messages.COSEKey
	dsPub        any
	sigStructure []byte
	signature    []byte
	items        [][]byte
}

// Sizes of the default shape's messages, as the load runs send them (rounded).
const (
	floorRequestBytes  = 600
	floorResponseBytes = 4000
	floorTBSBytes      = 500
	floorMACBytes      = 400
	floorItems         = 5 // elements the default request asks for
)

func newFloorSession(w *world) (*floorSession, error) {
	parts, err := newCredentialParts(w.valid[0], nil)
	if err != nil {
		return nil, err
	}
	transcript, err := floorTranscript()
	if err != nil {
		return nil, err
	}
	return &floorSession{cred: parts, transcript: transcript,
		request: make([]byte, floorRequestBytes), response: make([]byte, floorResponseBytes),
		readerAuthTBS: make([]byte, floorTBSBytes), macInput: make([]byte, floorMACBytes),
		readerKey: w.readerAuth.Key, readerPub: w.readerAuth.Certificate.PublicKey}, nil
}

// newCredentialParts takes cred's pieces: the items whose digests are checked are those
// of disclosed (element identifiers; nil: the first floorItems).
func newCredentialParts(cred *issuer.Credential, disclosed []string) (*credentialParts, error) {
	ia := &cred.IssuerSigned.IssuerAuth
	chain, _, _, err := ia.X5Chain()
	if err != nil {
		return nil, err
	}
	ds, err := verify.ParseCertificates(chain[0])
	if err != nil {
		return nil, err
	}
	parts := &credentialParts{deviceKey: cred.DevicePrivateKey, deviceCOSE: cred.DeviceKey, dsPub: ds[0].PublicKey,
		sigStructure: messages.SigStructure(ia.Protected, ia.Payload), signature: ia.Signature}
	for _, list := range cred.IssuerSigned.NameSpaces.All() {
		for _, it := range list {
			take := disclosed == nil && len(parts.items) < floorItems
			if disclosed != nil {
				var item messages.IssuerSignedItem
				if err := it.Decode(&item); err != nil {
					return nil, err
				}
				take = slices.Contains(disclosed, item.ElementIdentifier)
			}
			if take {
				parts.items = append(parts.items, it.Raw())
			}
		}
	}
	return parts, nil
}

// floorTranscript is a SessionTranscript-sized encoded item.
func floorTranscript() ([]byte, error) {
	content, err := messages.Marshal(make([]byte, 300))
	if err != nil {
		return nil, err
	}
	return messages.NewEncodedCBOR(content).Raw(), nil
}

// run does one session's crypto; mac chooses deviceMac over deviceSignature.
func (f *floorSession) run(mac bool) error {
	dev, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		return err
	}
	rdr, err := keys.Generate(messages.CurveP256, nil)
	if err != nil {
		return err
	}
	zr, err := keys.ECDH(rdr, dev.COSEKey())
	if err != nil {
		return err
	}
	zd, err := keys.ECDH(dev, rdr.COSEKey())
	if err != nil {
		return err
	}
	skr, skd, err := session.DeriveSessionKeys(zr, f.transcript)
	if err != nil {
		return err
	}
	skr2, skd2, err := session.DeriveSessionKeys(zd, f.transcript)
	if err != nil {
		return err
	}
	rc, err := session.NewCipher(session.RoleReader, skr, skd)
	if err != nil {
		return err
	}
	hc, err := session.NewCipher(session.RoleDevice, skr2, skd2)
	if err != nil {
		return err
	}
	sig, err := keys.Sign(f.readerKey, messages.AlgES256, nil, f.readerAuthTBS)
	if err != nil {
		return err
	}
	ct, err := rc.Encrypt(f.request)
	if err != nil {
		return err
	}
	if _, err := hc.Decrypt(ct); err != nil {
		return err
	}
	if err := keys.Verify(f.readerPub, messages.AlgES256, f.readerAuthTBS, sig); err != nil {
		return err
	}
	if mac { // holder side, then reader side
		z1, err := keys.ECDH(f.cred.deviceKey, rdr.COSEKey())
		if err != nil {
			return err
		}
		k1, err := session.DeriveEMacKey(z1, f.transcript)
		if err != nil {
			return err
		}
		z2, err := keys.ECDH(rdr, f.cred.deviceCOSE)
		if err != nil {
			return err
		}
		k2, err := session.DeriveEMacKey(z2, f.transcript)
		if err != nil {
			return err
		}
		if !hmac.Equal(hmacOnce(k1, f.macInput), hmacOnce(k2, f.macInput)) {
			return errors.New("floor: deviceMac keys differ")
		}
	} else {
		ds, err := keys.Sign(f.cred.deviceKey, messages.AlgES256, nil, f.macInput)
		if err != nil {
			return err
		}
		pub, err := keys.PublicKeyFromCOSE(f.cred.deviceCOSE)
		if err != nil {
			return err
		}
		if err := keys.Verify(pub, messages.AlgES256, f.macInput, ds); err != nil {
			return err
		}
	}
	ct2, err := hc.Encrypt(f.response)
	if err != nil {
		return err
	}
	if _, err := rc.Decrypt(ct2); err != nil {
		return err
	}
	if err := keys.Verify(f.cred.dsPub, messages.AlgES256, f.cred.sigStructure, f.cred.signature); err != nil {
		return err
	}
	for _, it := range f.cred.items {
		sha256.Sum256(it)
	}
	return nil
}

func hmacOnce(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// MeasureFloor runs the floor (the unavoidable crypto of the load runs' default session
// shape, see floorSession) on every CPU for about d and returns the sessions per second
// it reached: the number a load run's sessions_per_second is compared with.
func MeasureFloor(d time.Duration) (float64, error) {
	w, err := newWorld()
	if err != nil {
		return 0, err
	}
	f, err := newFloorSession(w)
	if err != nil {
		return 0, err
	}
	workers := runtime.GOMAXPROCS(0)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		first error
	)
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			n := 0
			var err error
			for ; time.Now().Before(deadline); n++ {
				if err = f.run((n+i)%2 == 0); err != nil {
					break
				}
			}
			mu.Lock()
			total += n
			if err != nil && first == nil {
				first = err
			}
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

// AddFloor measures the floor for about d (MeasureFloor) after the run and reports it
// with the run's ratio to it (FloorSessionsPerSecond, FloorRatio).
func (r *Report) AddFloor(d time.Duration) error {
	fps, err := MeasureFloor(d)
	if err != nil {
		return err
	}
	r.FloorSessionsPerSecond, r.FloorRatio = fps, r.SessionsPerSecond/fps
	return nil
}
