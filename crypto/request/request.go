// Package request builds the reader's side of device retrieval: the DeviceRequest
// (18013-5 8.3.2.1.2.1) with one ItemsRequest per document and, when the reader holds a
// reader-authentication key, each DocRequest's readerAuth (18013-5 9.1.4).
//
// It is what a reader sends; checking what comes back is package verify's job.
package request

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mdocgate/mdocgate/messages"
)

// Doc is one document to ask for.
type Doc struct {
	DocType    string
	NameSpaces []NameSpace
}

// NameSpace lists the elements wanted from one name space.
type NameSpace struct {
	Name     string
	Elements []string
	// IntentToRetain names the elements the reader intends to retain; the others are
	// requested with intent to retain false.
	IntentToRetain map[string]bool
}

// Signer signs a DocRequest's readerAuth; *ReaderKey is one.
type Signer interface {
	SignReaderAuth(transcript messages.SessionTranscript, itemsRequest messages.EncodedCBOR) (*messages.CoseSign1, error)
}

// Build makes a version "1.0" DeviceRequest with one DocRequest per doc, in order, name
// spaces and elements in the order given. When auth is non-nil every DocRequest carries a
// readerAuth over transcript and its exact ItemsRequestBytes; otherwise transcript is not
// used.
func Build(docs []Doc, auth Signer, transcript messages.SessionTranscript) (*messages.DeviceRequest, error) {
	if len(docs) == 0 {
		return nil, errors.New("request: no documents requested")
	}
	req := &messages.DeviceRequest{Version: "1.0"}
	for i, d := range docs {
		if d.DocType == "" {
			return nil, fmt.Errorf("request: document %d: empty docType", i)
		}
		ir := messages.ItemsRequest{DocType: d.DocType}
		for _, ns := range d.NameSpaces {
			if _, dup := ir.NameSpaces.Get(ns.Name); dup || ns.Name == "" {
				return nil, fmt.Errorf("request: %s: empty or repeated name space %q", d.DocType, ns.Name)
			}
			if len(ns.Elements) == 0 {
				return nil, fmt.Errorf("request: %s: name space %q lists no elements", d.DocType, ns.Name)
			}
			var els messages.Map[string, bool]
			for _, id := range ns.Elements {
				if _, dup := els.Get(id); dup || id == "" {
					return nil, fmt.Errorf("request: %s/%s: empty or repeated element %q", d.DocType, ns.Name, id)
				}
				els.Set(id, ns.IntentToRetain[id])
			}
			ir.NameSpaces.Set(ns.Name, els)
		}
		if ir.NameSpaces.Len() == 0 {
			return nil, fmt.Errorf("request: %s: no name spaces", d.DocType)
		}
		irb, err := messages.EncodeToCBOR(ir)
		if err != nil {
			return nil, fmt.Errorf("request: %s: ItemsRequestBytes: %w", d.DocType, err)
		}
		dr := messages.DocRequest{ItemsRequest: irb}
		if auth != nil {
			if dr.ReaderAuth, err = auth.SignReaderAuth(transcript, irb); err != nil {
				return nil, fmt.Errorf("request: %s: %w", d.DocType, err)
			}
		}
		req.DocRequests = append(req.DocRequests, dr)
	}
	return req, nil
}

// Everything asks for every element listed in elements (name space → element
// identifiers) without intent to retain: name spaces in sorted order, elements in the
// order given.
func Everything(docType string, elements map[string][]string) Doc {
	d := Doc{DocType: docType}
	names := make([]string, 0, len(elements))
	for ns := range elements {
		names = append(names, ns)
	}
	slices.Sort(names)
	for _, ns := range names {
		d.NameSpaces = append(d.NameSpaces, NameSpace{Name: ns, Elements: slices.Clone(elements[ns])})
	}
	return d
}

// ParseElements reads a list of "namespace:element" items separated by commas (white
// space around items ignored; the last colon splits, as name spaces hold dots and may
// hold colons) into one Doc of docType, name spaces in order of first mention.
func ParseElements(docType, spec string) (Doc, error) {
	doc := Doc{DocType: docType}
	index := map[string]int{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		i := strings.LastIndex(item, ":")
		if i <= 0 || i == len(item)-1 {
			return Doc{}, fmt.Errorf("%q: want namespace:element", item)
		}
		ns, el := item[:i], item[i+1:]
		n, ok := index[ns]
		if !ok {
			n = len(doc.NameSpaces)
			index[ns] = n
			doc.NameSpaces = append(doc.NameSpaces, NameSpace{Name: ns})
		}
		doc.NameSpaces[n].Elements = append(doc.NameSpaces[n].Elements, el)
	}
	if len(doc.NameSpaces) == 0 {
		return Doc{}, errors.New("no elements")
	}
	return doc, nil
}
