package oid4vp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mdocgate/mdocgate/crypto/request"
)

// FormatMdoc is the DCQL credential format of ISO mdocs.
const FormatMdoc = "mso_mdoc"

// MaxDCQLSize bounds the JSON of a DCQL query, and maxQueries and maxClaims its shape.
const (
	MaxDCQLSize = 64 << 10
	maxQueries  = 64
	maxClaims   = 512
)

// DCQL is a Digital Credentials Query Language query (OpenID4VP 1.0 §6) restricted to
// mso_mdoc credentials. credential_sets is kept as received and not interpreted: every
// credential query is treated as required.
type DCQL struct {
	Credentials    []CredentialQuery `json:"credentials"`
	CredentialSets json.RawMessage   `json:"credential_sets,omitempty"`
}

// CredentialQuery asks for one mdoc.
type CredentialQuery struct {
	ID        string       `json:"id"`
	Format    string       `json:"format"`
	Meta      MdocMeta     `json:"meta"`
	Claims    []ClaimQuery `json:"claims,omitempty"`
	ClaimSets [][]string   `json:"claim_sets,omitempty"`
	Multiple  bool         `json:"multiple,omitempty"`
}

// MdocMeta is the meta member of an mso_mdoc credential query.
type MdocMeta struct {
	DoctypeValue string `json:"doctype_value"`
}

// ClaimQuery asks for one data element: Path is [namespace, element identifier].
type ClaimQuery struct {
	ID             string `json:"id,omitempty"`
	Path           []string
	Values         []json.RawMessage `json:"values,omitempty"`
	IntentToRetain bool              `json:"intent_to_retain,omitempty"`
}

type claimJSON struct {
	ID             string            `json:"id,omitempty"`
	Path           []json.RawMessage `json:"path"`
	Values         []json.RawMessage `json:"values,omitempty"`
	IntentToRetain bool              `json:"intent_to_retain,omitempty"`
}

// MarshalJSON writes the claim with its path.
func (c ClaimQuery) MarshalJSON() ([]byte, error) {
	path := make([]json.RawMessage, len(c.Path))
	for i, p := range c.Path {
		b, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		path[i] = b
	}
	return json.Marshal(claimJSON{ID: c.ID, Path: path, Values: c.Values, IntentToRetain: c.IntentToRetain})
}

// UnmarshalJSON reads a claim; an mso_mdoc path must be exactly two strings.
func (c *ClaimQuery) UnmarshalJSON(b []byte) error {
	var j claimJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if len(j.Path) != 2 {
		return fmt.Errorf("claims path has %d elements, want [namespace, element]", len(j.Path))
	}
	path := make([]string, 2)
	for i, p := range j.Path {
		if err := json.Unmarshal(p, &path[i]); err != nil || path[i] == "" {
			return fmt.Errorf("claims path element %d is not a non-empty string", i)
		}
	}
	*c = ClaimQuery{ID: j.ID, Path: path, Values: j.Values, IntentToRetain: j.IntentToRetain}
	return nil
}

// Claim is a convenience constructor of a claim query.
func Claim(namespace, element string, intentToRetain bool) ClaimQuery {
	return ClaimQuery{Path: []string{namespace, element}, IntentToRetain: intentToRetain}
}

// MdocQuery builds a query with one mso_mdoc credential query.
func MdocQuery(id, docType string, claims ...ClaimQuery) *DCQL {
	return &DCQL{Credentials: []CredentialQuery{{ID: id, Format: FormatMdoc, Meta: MdocMeta{DoctypeValue: docType}, Claims: claims}}}
}

// ParseDCQL decodes and validates a DCQL query (see Validate).
func ParseDCQL(data []byte) (*DCQL, error) {
	if len(data) > MaxDCQLSize {
		return nil, fmt.Errorf("dcql: %d bytes exceeds the limit of %d", len(data), MaxDCQLSize)
	}
	var q DCQL
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&q); err != nil {
		return nil, fmt.Errorf("dcql: %w", err)
	}
	if dec.More() {
		return nil, errors.New("dcql: trailing data after the query")
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	return &q, nil
}

// Validate checks the query: 1 to 64 credential queries with unique ids of
// [A-Za-z0-9_-], format mso_mdoc, a doctype_value, claims with [namespace, element]
// paths, unique claim ids, claim_sets naming existing claim ids.
func (q *DCQL) Validate() error {
	if q == nil || len(q.Credentials) == 0 {
		return errors.New("dcql: no credential query")
	}
	if len(q.Credentials) > maxQueries {
		return fmt.Errorf("dcql: %d credential queries exceed the limit of %d", len(q.Credentials), maxQueries)
	}
	ids := map[string]bool{}
	nclaims := 0
	for i, c := range q.Credentials {
		if !validID(c.ID) {
			return fmt.Errorf("dcql: credentials[%d].id %q is not a non-empty [A-Za-z0-9_-] string", i, c.ID)
		}
		if ids[c.ID] {
			return fmt.Errorf("dcql: credential query id %q is repeated", c.ID)
		}
		ids[c.ID] = true
		if c.Format != FormatMdoc {
			return fmt.Errorf("dcql: credential query %q: format %q is not supported (only %s)", c.ID, c.Format, FormatMdoc)
		}
		if c.Meta.DoctypeValue == "" {
			return fmt.Errorf("dcql: credential query %q: meta.doctype_value is missing", c.ID)
		}
		nclaims += len(c.Claims)
		if nclaims > maxClaims {
			return fmt.Errorf("dcql: more than %d claims", maxClaims)
		}
		cids := map[string]bool{}
		for j, cl := range c.Claims {
			if len(cl.Path) != 2 || cl.Path[0] == "" || cl.Path[1] == "" {
				return fmt.Errorf("dcql: credential query %q: claims[%d].path is not [namespace, element]", c.ID, j)
			}
			if cl.ID != "" {
				if !validID(cl.ID) || cids[cl.ID] {
					return fmt.Errorf("dcql: credential query %q: claim id %q is invalid or repeated", c.ID, cl.ID)
				}
				cids[cl.ID] = true
			}
		}
		for _, set := range c.ClaimSets {
			for _, id := range set {
				if !cids[id] {
					return fmt.Errorf("dcql: credential query %q: claim_sets names unknown claim id %q", c.ID, id)
				}
			}
		}
	}
	return nil
}

func validID(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// query returns the credential query with id.
func (q *DCQL) query(id string) (*CredentialQuery, bool) {
	for i := range q.Credentials {
		if q.Credentials[i].ID == id {
			return &q.Credentials[i], true
		}
	}
	return nil, false
}

// RequestedDoc turns an mso_mdoc credential query into the document request a holder
// answers: every claim, name spaces in first-seen order, intent_to_retain kept. With no
// claims the request names the docType only (the wallet then discloses nothing
// element-wise; crypto/holder answers such a request with an empty IssuerSigned).
func (c *CredentialQuery) RequestedDoc() request.Doc {
	doc := request.Doc{DocType: c.Meta.DoctypeValue}
	idx := map[string]int{}
	for _, cl := range c.Claims {
		ns, el := cl.Path[0], cl.Path[1]
		i, ok := idx[ns]
		if !ok {
			i = len(doc.NameSpaces)
			idx[ns] = i
			doc.NameSpaces = append(doc.NameSpaces, request.NameSpace{Name: ns, IntentToRetain: map[string]bool{}})
		}
		doc.NameSpaces[i].Elements = append(doc.NameSpaces[i].Elements, el)
		if cl.IntentToRetain {
			doc.NameSpaces[i].IntentToRetain[el] = true
		}
	}
	return doc
}
