package verify

import (
	"fmt"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// Options are the inputs of VerifyDeviceResponse.
type Options struct {
	// Trust holds the IACA certificates (or pinned signer certificates) to accept.
	Trust *TrustStore
	// Transcript is the SessionTranscript the verifier built for this session. Without it
	// mdoc authentication fails.
	Transcript *messages.SessionTranscript
	// ReaderKey is the reader's ephemeral private key, needed for deviceMac.
	ReaderKey *keys.PrivateKey
	// Now is the verification time; zero means time.Now().
	Now time.Time
	// Policy decides which failed checks invalidate a document.
	Policy Policy
	// Cache remembers verified DS chains; optional.
	Cache *ChainCache
	// Revocation checks the DS certificate and the MSO status list entry; optional
	// (without it no revocation check is made).
	Revocation Revocation
}

// VerifyDeviceResponse decodes and verifies a DeviceResponse. It never panics: a decoding
// failure yields an invalid result with the error listed.
func VerifyDeviceResponse(data []byte, opts Options) *Result {
	resp, err := messages.DecodeDeviceResponse(data)
	if err != nil {
		return &Result{Errors: []string{err.Error()}, Documents: []DocumentResult{}}
	}
	return VerifyDecodedResponse(resp, opts)
}

// VerifyDecodedResponse verifies every document of resp. The response is valid when its
// status is 0, it holds at least one document, and every document is valid.
func VerifyDecodedResponse(resp *messages.DeviceResponse, opts Options) (res *Result) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	res = &Result{Status: resp.Status, Documents: []DocumentResult{}, Errors: []string{}}
	defer func() {
		if r := recover(); r != nil {
			res.Valid = false
			res.Errors = append(res.Errors, fmt.Sprintf("internal error while verifying: %v", r))
		}
	}()
	if resp.Status != messages.ResponseOK {
		res.Errors = append(res.Errors, fmt.Sprintf("DeviceResponse status %d", resp.Status))
	}
	for _, de := range resp.DocumentErrors {
		for docType, code := range de.All() {
			res.Errors = append(res.Errors, fmt.Sprintf("document %s not returned (error code %d)", docType, code))
		}
	}
	if len(resp.Documents) == 0 {
		res.Errors = append(res.Errors, "no documents in the response")
	}
	valid := resp.Status == messages.ResponseOK && len(resp.Documents) > 0
	for i := range resp.Documents {
		d := VerifyDocument(&resp.Documents[i], opts)
		valid = valid && d.Valid
		res.Documents = append(res.Documents, *d)
	}
	res.Valid = valid
	return res
}

// VerifyDocument runs issuer data authentication and mdoc authentication on one document.
func VerifyDocument(doc *messages.Document, opts Options) (d *DocumentResult) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	var c checks
	d = &DocumentResult{DocType: doc.DocType, Elements: map[string]map[string]any{},
		RawElements: map[string]map[string][]byte{}}
	defer func() {
		if r := recover(); r != nil {
			c.fail("internal", "verifier failed on this input: %v", r)
		}
		d.Checks = c.list
		d.finish(opts.Policy)
	}()
	ir := verifyIssuerAuth(&c, &doc.IssuerSigned, doc.DocType, IssuerOptions{Trust: opts.Trust, Now: opts.Now, Cache: opts.Cache, Revocation: opts.Revocation})
	for ns, items := range ir.Verified {
		d.reserve(ns, len(items))
		for id, it := range items {
			d.add(ns, id, it.ElementValue)
		}
	}
	deviceElems := verifyDeviceAuth(&c, doc, ir.MSO, DeviceOptions{Transcript: opts.Transcript, ReaderKey: opts.ReaderKey})
	for ns, items := range deviceElems {
		for id, v := range items {
			d.add(ns, id, v)
		}
	}
	return d
}

// VerifyIssuerSigned runs issuer data authentication alone (for a bare IssuerSigned).
func VerifyIssuerSigned(is *messages.IssuerSigned, docType string, opts Options) (d *DocumentResult) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	var c checks
	d = &DocumentResult{DocType: docType, Elements: map[string]map[string]any{},
		RawElements: map[string]map[string][]byte{}}
	defer func() {
		if r := recover(); r != nil {
			c.fail("internal", "verifier failed on this input: %v", r)
		}
		d.Checks = c.list
		d.finish(opts.Policy)
	}()
	ir := verifyIssuerAuth(&c, is, docType, IssuerOptions{Trust: opts.Trust, Now: opts.Now, Cache: opts.Cache, Revocation: opts.Revocation})
	for ns, items := range ir.Verified {
		for id, it := range items {
			d.add(ns, id, it.ElementValue)
		}
	}
	return d
}

// reserve makes room for n elements of name space ns.
func (d *DocumentResult) reserve(ns string, n int) {
	if d.Elements[ns] == nil {
		d.Elements[ns] = make(map[string]any, n)
		d.RawElements[ns] = make(map[string][]byte, n)
	}
}

func (d *DocumentResult) add(ns, id string, raw []byte) {
	if d.Elements[ns] == nil {
		d.Elements[ns] = map[string]any{}
		d.RawElements[ns] = map[string][]byte{}
	}
	d.Elements[ns][id] = JSONValue(raw)
	d.RawElements[ns][id] = raw
}
