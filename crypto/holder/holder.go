// Package holder builds the holder's side of device retrieval without any I/O: the
// DeviceResponse to a DeviceRequest, with selective disclosure of issued elements and
// mdoc authentication (deviceSignature or deviceMac). The reader's DeviceRequest is
// built by package request.
//
// It verifies nothing it is given: reader authentication and the issuer's data are
// checked elsewhere.
package holder

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"

	"github.com/fxamacker/cbor/v2"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/crypto/session"
	"github.com/mdocgate/mdocgate/messages"
)

// Presenter presents a holder's credentials.
type Presenter struct {
	// Credentials in order of preference: a DocRequest is answered with the first
	// credential of its docType. Each needs DevicePrivateKey, matching the MSO deviceKey.
	Credentials []*issuer.Credential
	// Index, optional, remembers each credential's key check and item identifiers across
	// presentations (see Index); without it every presentation works them out again.
	Index *Index
}

// PresentOptions selects the mdoc authentication.
type PresentOptions struct {
	// MACReaderKey, when set, is the reader's ephemeral public key (EReaderKey): documents
	// are authenticated with deviceMac (HMAC 256/256 keyed with EMacKey derived from
	// ECDH(device key, MACReaderKey) and the SessionTranscriptBytes). Otherwise they carry a
	// deviceSignature made with the device key.
	MACReaderKey *messages.COSEKey
	Rand         io.Reader // for signatures; nil means crypto/rand
}

// errorDataNotReturned is ErrorCode 0, "data not returned".
const errorDataNotReturned = 0

// BuildResponse answers req. With a nil req every element of every credential is
// disclosed. It guarantees:
//   - each DocRequest gives one Document from the first credential of its docType, or a
//     documentErrors entry {docType: 0} when there is none;
//   - only requested elements the credential holds are disclosed, as the very
//     IssuerSignedItemBytes issued (never re-encoded), in issued order; name spaces with
//     nothing disclosed are left out, and IssuerSigned.nameSpaces is absent when nothing at
//     all is disclosed;
//   - requested elements the credential does not hold are listed in Document.errors with
//     ErrorCode 0, in request order;
//   - deviceSigned.nameSpaces is #6.24(<<{}>>) and deviceAuth authenticates
//     DeviceAuthenticationBytes over transcript, the docType and those bytes (see
//     PresentOptions);
//   - version is "1.0" and status 0.
//
// An ItemsRequest that does not decode is an error naming the DocRequest; a caller
// answering a reader would then send status 12 (CBOR validation error).
func (p *Presenter) BuildResponse(req *messages.DeviceRequest, transcript messages.SessionTranscript, opts PresentOptions) (*messages.DeviceResponse, error) {
	resp := &messages.DeviceResponse{Version: "1.0", Status: messages.ResponseOK}
	add := func(c *issuer.Credential, ir *messages.ItemsRequest) error {
		doc, err := present(c, p.Index, ir, transcript, opts)
		if err != nil {
			return err
		}
		resp.Documents = append(resp.Documents, *doc)
		return nil
	}
	if req == nil {
		for i, c := range p.Credentials {
			if err := add(c, nil); err != nil {
				return nil, fmt.Errorf("holder: credential %d (%s): %w", i, c.DocType, err)
			}
		}
		return resp, nil
	}
	for i := range req.DocRequests {
		ir, err := req.DocRequests[i].Items()
		if err != nil {
			return nil, fmt.Errorf("holder: docRequest %d: %w", i, err)
		}
		c := p.find(ir.DocType)
		if c == nil {
			var e messages.Map[string, int64]
			e.Set(ir.DocType, errorDataNotReturned)
			resp.DocumentErrors = append(resp.DocumentErrors, e)
			continue
		}
		if err := add(c, ir); err != nil {
			return nil, fmt.Errorf("holder: docRequest %d (%s): %w", i, ir.DocType, err)
		}
	}
	return resp, nil
}

// Present answers req with deviceSignature over transcript, as a wallet presenting
// online does (BuildResponse with the default options).
func (p *Presenter) Present(req *messages.DeviceRequest, transcript messages.SessionTranscript) (*messages.DeviceResponse, error) {
	return p.BuildResponse(req, transcript, PresentOptions{})
}

// Holds reports whether p has a credential of docType and, when id is not empty,
// whether that credential carries the element id of name space ns.
func (p *Presenter) Holds(docType, ns, id string) bool {
	c := p.find(docType)
	if c == nil {
		return false
	}
	if id == "" {
		return true
	}
	prepared, err := p.Index.get(c)
	return err == nil && slices.Contains(prepared.ids[ns], id)
}

func (p *Presenter) find(docType string) *issuer.Credential {
	for _, c := range p.Credentials {
		if c != nil && c.DocType == docType {
			return c
		}
	}
	return nil
}

// present builds one Document; ir nil discloses everything.
func present(c *issuer.Credential, index *Index, ir *messages.ItemsRequest, transcript messages.SessionTranscript, opts PresentOptions) (*messages.Document, error) {
	prepared, err := index.get(c)
	if err != nil {
		return nil, err
	}
	disclosed, errs, err := selectItems(c.IssuerSigned.NameSpaces, prepared, ir)
	if err != nil {
		return nil, err
	}
	doc := &messages.Document{
		DocType:      c.DocType,
		IssuerSigned: messages.IssuerSigned{IssuerAuth: c.IssuerSigned.IssuerAuth},
	}
	if disclosed.Len() > 0 {
		doc.IssuerSigned.NameSpaces = &disclosed
	}
	if errs.Len() > 0 {
		doc.Errors = &errs
	}
	deviceNS := messages.EmptyDeviceNameSpaces()
	dab, err := messages.DeviceAuthenticationBytes(transcript, c.DocType, deviceNS)
	if err != nil {
		return nil, fmt.Errorf("DeviceAuthenticationBytes: %w", err)
	}
	var auth messages.DeviceAuth
	if opts.MACReaderKey != nil {
		if auth.DeviceMac, err = deviceMac(c.DevicePrivateKey, opts.MACReaderKey, transcript, dab); err != nil {
			return nil, fmt.Errorf("deviceMac: %w", err)
		}
	} else if auth.DeviceSignature, err = deviceSignature(c.DevicePrivateKey, opts.Rand, dab); err != nil {
		return nil, fmt.Errorf("deviceSignature: %w", err)
	}
	doc.DeviceSigned = &messages.DeviceSigned{NameSpaces: deviceNS, DeviceAuth: auth}
	return doc, nil
}

// selectItems picks the issued items to disclose and lists the requested ones missing.
func selectItems(issued *messages.Map[string, []messages.EncodedCBOR], prepared *indexed, ir *messages.ItemsRequest) (disclosed messages.Map[string, []messages.EncodedCBOR], errs messages.Map[string, messages.Map[string, int64]], err error) {
	for ns, items := range issued.All() {
		var keep []messages.EncodedCBOR
		var wanted messages.Map[string, bool]
		if ir != nil {
			var nsRequested bool
			if wanted, nsRequested = ir.NameSpaces.Get(ns); !nsRequested {
				continue
			}
		}
		if err := prepared.bad[ns]; err != nil {
			return disclosed, errs, err
		}
		for i, id := range prepared.ids[ns] {
			if _, ok := wanted.Get(id); ir == nil || ok {
				keep = append(keep, items[i])
			}
		}
		if len(keep) > 0 {
			disclosed.Set(ns, keep)
		}
	}
	if ir == nil {
		return disclosed, errs, nil
	}
	for ns, wanted := range ir.NameSpaces.All() {
		var missing messages.Map[string, int64]
		for _, id := range wanted.Keys() {
			if !slices.Contains(prepared.ids[ns], id) {
				missing.Set(id, errorDataNotReturned)
			}
		}
		if missing.Len() > 0 {
			errs.Set(ns, missing)
		}
	}
	return disclosed, errs, nil
}

func deviceSignature(key *keys.PrivateKey, rand io.Reader, dab messages.EncodedCBOR) (*messages.CoseSign1, error) {
	alg := keys.DefaultAlg(key.Curve())
	if alg == 0 {
		return nil, fmt.Errorf("the device key's curve %d cannot sign", key.Curve())
	}
	return keys.SignSign1(key, alg, rand, cbor.RawMessage{0xa0}, dab.Raw(), true)
}

func deviceMac(key *keys.PrivateKey, readerKey *messages.COSEKey, transcript messages.SessionTranscript, dab messages.EncodedCBOR) (*messages.CoseMac0, error) {
	zab, err := keys.ECDH(key, readerKey)
	if err != nil {
		return nil, err
	}
	stb, err := transcript.Bytes()
	if err != nil {
		return nil, fmt.Errorf("SessionTranscriptBytes: %w", err)
	}
	emacKey, err := session.DeriveEMacKey(zab, stb.Raw())
	if err != nil {
		return nil, err
	}
	protected := messages.EncodeProtectedHeader(messages.AlgHMAC256_256)
	m := hmac.New(sha256.New, emacKey)
	m.Write(messages.MACStructure(protected, dab.Raw()))
	return &messages.CoseMac0{Protected: protected, Unprotected: cbor.RawMessage{0xa0}, Detached: true, Tag: m.Sum(nil)}, nil
}
