package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/messages"
)

// Check names of mdoc authentication.
const (
	CheckDeviceSigned        = "device_auth.present"
	CheckDeviceSignature     = "device_auth.signature"
	CheckDeviceMac           = "device_auth.mac"
	CheckDeviceAuthEncoding  = "device_auth.encoding"
	CheckKeyAuthorizations   = "device_auth.key_authorizations"
	CheckDeviceNameSpaces    = "device_auth.name_spaces"
	CheckTranscriptAvailable = "device_auth.transcript"
	CheckDeviceKey           = "device_auth.device_key"
	// CheckDeviceAuthNotVerified: issuer authentication failed, so mdoc authentication
	// was not attempted (the device key is not authenticated).
	CheckDeviceAuthNotVerified = "device_auth.not_verified"
	expectedDeviceMacAlgValue  = messages.AlgHMAC256_256
)

// DeviceOptions are the inputs of mdoc authentication.
type DeviceOptions struct {
	// Transcript is the SessionTranscript the verifier built itself.
	Transcript *messages.SessionTranscript
	// ReaderKey is the reader's ephemeral private key; deviceMac needs it.
	ReaderKey *keys.PrivateKey

	budget *budget                    // nil: no limit
	want   map[string]map[string]bool // requested elements by name space; nil: all
}

// verifyDeviceAuth checks deviceSignature or deviceMac over DeviceAuthenticationBytes
// built from the verifier's own transcript, and the key authorizations of any
// device-signed elements. It returns the device-signed elements when authentic.
func verifyDeviceAuth(c *checks, doc *messages.Document, mso *messages.MobileSecurityObject, opts DeviceOptions) map[string]map[string][]byte {
	ds := doc.DeviceSigned
	if ds == nil {
		c.fail(CheckDeviceSigned, "document has no deviceSigned")
		return nil
	}
	c.pass(CheckDeviceSigned)
	if opts.Transcript == nil {
		c.fail(CheckTranscriptAvailable, "no SessionTranscript given: mdoc authentication cannot be checked")
		return nil
	}
	if mso == nil {
		c.fail(CheckDeviceKey, "no MSO: the device key is unknown")
		return nil
	}
	if mso.DeviceKeyInfo.DeviceKeyMissing {
		c.fail(CheckDeviceKey, "the MSO has no device key: mdoc authentication is impossible")
		return nil
	}
	dab, err := messages.DeviceAuthenticationBytes(*opts.Transcript, doc.DocType, ds.NameSpaces)
	if err != nil {
		c.fail(CheckTranscriptAvailable, "building DeviceAuthenticationBytes: %v", err)
		return nil
	}
	deviceKey := &mso.DeviceKeyInfo.DeviceKey
	authentic := false
	switch {
	case ds.DeviceAuth.DeviceSignature != nil:
		sig := ds.DeviceAuth.DeviceSignature
		pub, err := keys.PublicKeyFromCOSE(deviceKey)
		if err != nil {
			c.fail(CheckDeviceKey, "MSO deviceKey: %v", err)
			return nil
		}
		if !sig.Detached {
			if !bytes.Equal(sig.Payload, dab.Raw()) {
				c.fail(CheckDeviceSignature, "attached payload is not the DeviceAuthenticationBytes of this session")
				return nil
			}
			c.warn(CheckDeviceAuthEncoding, "deviceSignature carries an attached payload instead of null")
		}
		if !opts.budget.charge(keys.PublicKeyCost(pub)) {
			c.budgetExhausted(opts.budget, "the device signature")
			return nil
		}
		der, err := verifySign1(sig, dab.Raw(), pub)
		if der {
			c.warn(CheckDeviceAuthEncoding, "%s", derWarning)
		}
		authentic = c.result(CheckDeviceSignature, err)
	case ds.DeviceAuth.DeviceMac != nil:
		if !opts.budget.charge(keys.Cost(deviceKey.Crv)) {
			c.budgetExhausted(opts.budget, "the device MAC's key agreement")
			return nil
		}
		authentic = c.result(CheckDeviceMac, verifyDeviceMac(ds.DeviceAuth.DeviceMac, deviceKey, dab.Raw(), opts))
	default:
		c.fail(CheckDeviceSigned, "deviceAuth holds neither deviceSignature nor deviceMac")
		return nil
	}
	if !authentic {
		return nil
	}

	ns, err := ds.DeviceNameSpaces()
	if err != nil {
		c.fail(CheckDeviceNameSpaces, "%v", err)
		return nil
	}
	if ns.Len() == 0 {
		return nil
	}
	out := map[string]map[string][]byte{}
	var unauthorized []string
	ka := mso.DeviceKeyInfo.KeyAuthorizations
	for namespace, elems := range ns.All() {
		for id, v := range elems.All() {
			if opts.want != nil && !opts.want[namespace][id] {
				continue // not requested: not disclosed
			}
			if !keyAuthorized(ka, namespace, id) {
				unauthorized = append(unauthorized, namespace+"/"+id)
				continue
			}
			if out[namespace] == nil {
				out[namespace] = map[string][]byte{}
			}
			out[namespace][id] = v
		}
	}
	if len(unauthorized) > 0 {
		// The elements are left out of the disclosed set; what remains is authentic, so
		// this is reported, not fatal (auth0's sample sends such elements).
		c.warn(CheckKeyAuthorizations, "device key is not authorized to sign %s; those elements are ignored", strings.Join(unauthorized, ", "))
	} else {
		c.pass(CheckKeyAuthorizations)
	}
	return out
}

func keyAuthorized(ka *messages.KeyAuthorizations, namespace, id string) bool {
	if ka == nil {
		return false
	}
	for _, n := range ka.NameSpaces {
		if n == namespace {
			return true
		}
	}
	for _, e := range ka.DataElements[namespace] {
		if e == id {
			return true
		}
	}
	return false
}

func verifyDeviceMac(mac *messages.CoseMac0, deviceKey *messages.COSEKey, dab []byte, opts DeviceOptions) error {
	alg, inProtected, err := mac.Alg()
	if err != nil {
		return err
	}
	if alg != expectedDeviceMacAlgValue || !inProtected {
		return fmt.Errorf("deviceMac alg %d (protected: %v), want HMAC 256/256 (5) in the protected header", alg, inProtected)
	}
	if opts.ReaderKey == nil {
		return errors.New("deviceMac needs the reader's ephemeral private key")
	}
	if !mac.Detached && !bytes.Equal(mac.Payload, dab) {
		return errors.New("attached payload is not the DeviceAuthenticationBytes of this session")
	}
	zab, err := keys.ECDH(opts.ReaderKey, deviceKey)
	if err != nil {
		return fmt.Errorf("ECDH with the MSO deviceKey: %w", err)
	}
	stb, err := opts.Transcript.Bytes()
	if err != nil {
		return err
	}
	emacKey, err := session.DeriveEMacKey(zab, stb.Raw())
	if err != nil {
		return err
	}
	h := hmac.New(sha256.New, emacKey)
	h.Write(messages.MACStructure(mac.Protected, dab))
	if !hmac.Equal(h.Sum(nil), mac.Tag) {
		return errors.New("MAC does not verify with the EMacKey of this session")
	}
	return nil
}
