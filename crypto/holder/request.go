package holder

import (
	"errors"
	"fmt"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/messages"
)

// RequestedDoc is one document to ask for.
type RequestedDoc struct {
	DocType    string
	NameSpaces []RequestedNameSpace
}

// RequestedNameSpace lists the elements wanted from one name space.
type RequestedNameSpace struct {
	Name     string
	Elements []string
	// IntentToRetain names the elements the reader intends to retain; the others are
	// requested with intent to retain false.
	IntentToRetain map[string]bool
}

// ReaderAuthSigner signs a DocRequest's readerAuth; *issuer.ReaderSigner is one.
type ReaderAuthSigner interface {
	SignReaderAuth(transcript messages.SessionTranscript, itemsRequest messages.EncodedCBOR) (*messages.CoseSign1, error)
}

// BuildRequest makes a version "1.0" DeviceRequest with one DocRequest per doc, in order,
// name spaces and elements in the order given. When auth is non-nil every DocRequest
// carries a readerAuth over transcript and its exact ItemsRequestBytes; otherwise
// transcript is not used.
func BuildRequest(docs []RequestedDoc, auth ReaderAuthSigner, transcript messages.SessionTranscript) (*messages.DeviceRequest, error) {
	if len(docs) == 0 {
		return nil, errors.New("holder: request: no documents requested")
	}
	req := &messages.DeviceRequest{Version: "1.0"}
	for i, d := range docs {
		if d.DocType == "" {
			return nil, fmt.Errorf("holder: request: document %d: empty docType", i)
		}
		ir := messages.ItemsRequest{DocType: d.DocType}
		for _, ns := range d.NameSpaces {
			if _, dup := ir.NameSpaces.Get(ns.Name); dup || ns.Name == "" {
				return nil, fmt.Errorf("holder: request: %s: empty or repeated name space %q", d.DocType, ns.Name)
			}
			if len(ns.Elements) == 0 {
				return nil, fmt.Errorf("holder: request: %s: name space %q lists no elements", d.DocType, ns.Name)
			}
			var els messages.Map[string, bool]
			for _, id := range ns.Elements {
				if _, dup := els.Get(id); dup || id == "" {
					return nil, fmt.Errorf("holder: request: %s/%s: empty or repeated element %q", d.DocType, ns.Name, id)
				}
				els.Set(id, ns.IntentToRetain[id])
			}
			ir.NameSpaces.Set(ns.Name, els)
		}
		if ir.NameSpaces.Len() == 0 {
			return nil, fmt.Errorf("holder: request: %s: no name spaces", d.DocType)
		}
		irb, err := messages.EncodeToCBOR(ir)
		if err != nil {
			return nil, fmt.Errorf("holder: request: %s: ItemsRequestBytes: %w", d.DocType, err)
		}
		dr := messages.DocRequest{ItemsRequest: irb}
		if auth != nil {
			if dr.ReaderAuth, err = auth.SignReaderAuth(transcript, irb); err != nil {
				return nil, fmt.Errorf("holder: request: %s: %w", d.DocType, err)
			}
		}
		req.DocRequests = append(req.DocRequests, dr)
	}
	return req, nil
}

// RequestEverything asks for every element of nameSpaces (e.g. issuer.SampleMDL's) without
// intent to retain.
func RequestEverything(docType string, nameSpaces []issuer.NameSpace) RequestedDoc {
	d := RequestedDoc{DocType: docType}
	for _, ns := range nameSpaces {
		r := RequestedNameSpace{Name: ns.Name}
		for _, e := range ns.Elements {
			r.Elements = append(r.Elements, e.Identifier)
		}
		d.NameSpaces = append(d.NameSpaces, r)
	}
	return d
}
