package verify

import (
	"fmt"
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/messages"
)

// Check names about the response as a whole.
const (
	// CheckUnrequestedDocument: a document of a docType the reader did not request.
	CheckUnrequestedDocument = "response.unrequested_document"
	// CheckRepeatedDocType: more documents of one docType than were requested.
	CheckRepeatedDocType = "response.repeated_doc_type"
	// CheckUnrequestedElements: elements the reader did not request (left unchecked and
	// undisclosed; a warning).
	CheckUnrequestedElements = "response.unrequested_elements"
	// CheckCryptoBudget: the signatures and key agreements a response asks for exceed
	// the budget; verification stopped.
	CheckCryptoBudget = "response.crypto_budget"
)

// DefaultClockSkew is how far Options.ClockSkew relaxes not-yet-valid checks when 0.
const DefaultClockSkew = 60 * time.Second

// Options are the inputs of VerifyDeviceResponse.
type Options struct {
	// Trust holds the IACA certificates (or pinned signer certificates) to accept, each
	// for its docTypes.
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
	// Request is what the reader asked for. When set, a response with a document of a
	// docType not requested, or with more documents of a docType than DocRequests for
	// it, is refused before any signature is verified; and only the requested elements
	// are checked and disclosed (all of a Doc's elements when it lists no name spaces).
	Request []request.Doc
	// ClockSkew relaxes the not-yet-valid checks (validFrom, signed, certificate
	// notBefore), never expiry: 0 means DefaultClockSkew, a negative value none.
	ClockSkew time.Duration
	// CryptoBudget bounds the signature verifications and key agreements of one
	// response, in keys.Cost units (one P-256 verification each): 0 means
	// DefaultCryptoBudget, a negative value no limit. Past it verification stops and
	// the response is refused (CheckCryptoBudget).
	CryptoBudget int
	// Revocation checks the DS certificate and the MSO status list entry; optional
	// (without it no revocation check is made).
	Revocation Revocation
}

func (o *Options) resolve() {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	switch {
	case o.ClockSkew == 0:
		o.ClockSkew = DefaultClockSkew
	case o.ClockSkew < 0:
		o.ClockSkew = 0
	}
}

// wanted returns the requested elements of docType by name space; nil means all.
func (o *Options) wanted(docType string) map[string]map[string]bool {
	if o.Request == nil {
		return nil
	}
	var out map[string]map[string]bool
	for _, d := range o.Request {
		if d.DocType != docType {
			continue
		}
		if len(d.NameSpaces) == 0 {
			return nil
		}
		if out == nil {
			out = make(map[string]map[string]bool, len(d.NameSpaces))
		}
		for _, ns := range d.NameSpaces {
			if out[ns.Name] == nil {
				out[ns.Name] = make(map[string]bool, len(ns.Elements))
			}
			for _, e := range ns.Elements {
				out[ns.Name][e] = true
			}
		}
	}
	return out
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
// status is 0, it holds at least one document, it holds only what was requested (when
// opts.Request is set), the crypto budget covers it, and every document is valid.
func VerifyDecodedResponse(resp *messages.DeviceResponse, opts Options) (res *Result) {
	opts.resolve()
	res = &Result{Status: resp.Status, Documents: []DocumentResult{}, Errors: []string{}}
	b := newBudget(opts.CryptoBudget)
	defer func() {
		if r := recover(); r != nil {
			res.Valid = false
			res.Errors = append(res.Errors, fmt.Sprintf("internal error while verifying: %v", r))
		}
		res.CryptoCost = b.spent
	}()
	if opts.Request != nil && !checkRequested(res, resp, opts.Request) {
		return res
	}
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
		d := verifyDocument(&resp.Documents[i], &opts, b)
		valid = valid && d.Valid
		res.Documents = append(res.Documents, *d)
		if b.exhausted {
			break
		}
	}
	if b.exhausted {
		valid = false
		msg := fmt.Sprintf("crypto budget of %d exhausted: verification stopped after %d of %d documents", b.limit, len(res.Documents), len(resp.Documents))
		res.Checks = append(res.Checks, Check{Name: CheckCryptoBudget, Reason: msg, Severity: "error", Kind: Authenticity})
		res.Errors = append(res.Errors, CheckCryptoBudget+": "+msg)
	} else {
		res.Checks = append(res.Checks, Check{Name: CheckCryptoBudget, OK: true})
	}
	res.Valid = valid
	return res
}

// checkRequested records whether resp holds only the documents req asked for, at most
// one per DocRequest of their docType; it verifies nothing, so a response stuffed with
// documents costs no signature check.
func checkRequested(res *Result, resp *messages.DeviceResponse, req []request.Doc) bool {
	left := make(map[string]int, len(req))
	for _, d := range req {
		left[d.DocType]++
	}
	fail := func(name, format string, args ...any) bool {
		msg := fmt.Sprintf(format, args...)
		res.Checks = append(res.Checks, Check{Name: name, Reason: msg, Severity: "error", Kind: Authenticity})
		res.Errors = append(res.Errors, name+": "+msg)
		return false
	}
	for i := range resp.Documents {
		docType := resp.Documents[i].DocType
		n, asked := left[docType]
		switch {
		case !asked:
			return fail(CheckUnrequestedDocument, "document %d has docType %s, which was not requested; no document verified", i, docType)
		case n == 0:
			return fail(CheckRepeatedDocType, "document %d is one more of docType %s than requested; no document verified", i, docType)
		}
		left[docType] = n - 1
	}
	res.Checks = append(res.Checks, Check{Name: CheckUnrequestedDocument, OK: true}, Check{Name: CheckRepeatedDocType, OK: true})
	return true
}

// VerifyDocument runs issuer data authentication and then, when the issuer
// authenticated the MSO, mdoc authentication on one document.
func VerifyDocument(doc *messages.Document, opts Options) *DocumentResult {
	opts.resolve()
	return verifyDocument(doc, &opts, newBudget(opts.CryptoBudget))
}

func verifyDocument(doc *messages.Document, opts *Options, b *budget) (d *DocumentResult) {
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
	want := opts.wanted(doc.DocType)
	ir := verifyIssuerAuth(&c, &doc.IssuerSigned, doc.DocType, IssuerOptions{Trust: opts.Trust, Now: opts.Now, Cache: opts.Cache,
		ClockSkew: opts.ClockSkew, Revocation: opts.Revocation, budget: b, want: want})
	for ns, items := range ir.Verified {
		d.reserve(ns, len(items))
		for id, it := range items {
			d.add(ns, id, it.ElementValue)
		}
	}
	if b.exhausted {
		return d
	}
	if !ir.Authentic {
		// the device key comes from an MSO no trusted issuer vouched for: checking a
		// signature with it would be work for a stranger, and prove nothing
		c.fail(CheckDeviceAuthNotVerified, "issuer authentication failed: mdoc authentication not attempted")
		return d
	}
	deviceElems := verifyDeviceAuth(&c, doc, ir.MSO, DeviceOptions{Transcript: opts.Transcript, ReaderKey: opts.ReaderKey, budget: b, want: want})
	for ns, items := range deviceElems {
		for id, v := range items {
			d.add(ns, id, v)
		}
	}
	return d
}

// VerifyIssuerSigned runs issuer data authentication alone (for a bare IssuerSigned).
func VerifyIssuerSigned(is *messages.IssuerSigned, docType string, opts Options) (d *DocumentResult) {
	opts.resolve()
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
	ir := verifyIssuerAuth(&c, is, docType, IssuerOptions{Trust: opts.Trust, Now: opts.Now, Cache: opts.Cache,
		ClockSkew: opts.ClockSkew, Revocation: opts.Revocation, budget: newBudget(opts.CryptoBudget), want: opts.wanted(docType)})
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
