package oid4vp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

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
// mso_mdoc credentials. Without credential_sets every credential query must be
// answered; with them, each required set by one of its options (CheckAnswered).
type DCQL struct {
	Credentials    []CredentialQuery `json:"credentials"`
	CredentialSets []CredentialSet   `json:"credential_sets,omitempty"`
}

// CredentialSet is a credential set query: Options are alternative lists of credential
// query ids, one of which answers the set; Required defaults to true.
type CredentialSet struct {
	Options  [][]string `json:"options"`
	Required *bool      `json:"required,omitempty"`
}

// IsRequired reports whether the set must be answered (required is true by default).
func (s CredentialSet) IsRequired() bool { return s.Required == nil || *s.Required }

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
// paths, unique claim ids, claim_sets naming existing claim ids (and only with claims),
// credential_sets with non-empty options naming existing credential query ids.
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
		if len(c.ClaimSets) > maxQueries {
			return fmt.Errorf("dcql: credential query %q: %d claim_sets exceed the limit of %d", c.ID, len(c.ClaimSets), maxQueries)
		}
		for j, set := range c.ClaimSets {
			if len(set) == 0 {
				return fmt.Errorf("dcql: credential query %q: claim_sets[%d] is empty", c.ID, j)
			}
			for _, id := range set {
				if !cids[id] {
					return fmt.Errorf("dcql: credential query %q: claim_sets names unknown claim id %q", c.ID, id)
				}
			}
		}
	}
	if q.CredentialSets != nil && len(q.CredentialSets) == 0 {
		return errors.New("dcql: credential_sets is empty")
	}
	if len(q.CredentialSets) > maxQueries {
		return fmt.Errorf("dcql: %d credential_sets exceed the limit of %d", len(q.CredentialSets), maxQueries)
	}
	for i, set := range q.CredentialSets {
		if len(set.Options) == 0 || len(set.Options) > maxQueries {
			return fmt.Errorf("dcql: credential_sets[%d] has %d options (1..%d)", i, len(set.Options), maxQueries)
		}
		for j, opt := range set.Options {
			if len(opt) == 0 {
				return fmt.Errorf("dcql: credential_sets[%d].options[%d] is empty", i, j)
			}
			for _, id := range opt {
				if !ids[id] {
					return fmt.Errorf("dcql: credential_sets[%d].options[%d] names unknown credential query %q", i, j, id)
				}
			}
		}
	}
	return nil
}

// CheckAnswered checks which credential queries a response answers: each answered id
// names a credential query; without credential_sets every credential query is
// answered, with them every required set has an option whose queries are all answered.
func (q *DCQL) CheckAnswered(answered func(id string) bool, ids []string) error {
	for _, id := range ids {
		if _, ok := q.query(id); !ok {
			return fmt.Errorf("%w: vp_token answers %q, which is not a credential query of the request", ErrInvalidPresentation, id)
		}
	}
	if len(q.CredentialSets) == 0 {
		for _, cq := range q.Credentials {
			if !answered(cq.ID) {
				return fmt.Errorf("%w: credential query %q not answered", ErrInvalidPresentation, cq.ID)
			}
		}
		return nil
	}
	for i, set := range q.CredentialSets {
		if !set.IsRequired() {
			continue
		}
		if !slices.ContainsFunc(set.Options, func(opt []string) bool { return allOf(opt, answered) }) {
			return fmt.Errorf("%w: credential_sets[%d]: no option answered (options %v)", ErrInvalidPresentation, i, set.Options)
		}
	}
	return nil
}

func allOf(ids []string, ok func(string) bool) bool {
	for _, id := range ids {
		if !ok(id) {
			return false
		}
	}
	return true
}

// CheckClaimSets checks that a presentation answering c discloses every claim of at
// least one of its claim_sets options; disclosed says whether an element (name space,
// identifier) was presented. A query without claim_sets passes: which elements must be
// there is the caller's policy (a gate's profile).
func (c *CredentialQuery) CheckClaimSets(disclosed func(ns, id string) bool) error {
	if len(c.ClaimSets) == 0 {
		return nil
	}
	byID := map[string]ClaimQuery{}
	for _, cl := range c.Claims {
		byID[cl.ID] = cl
	}
	for _, opt := range c.ClaimSets {
		if allOf(opt, func(id string) bool { p := byID[id].Path; return disclosed(p[0], p[1]) }) {
			return nil
		}
	}
	return fmt.Errorf("%w: credential query %q: the presentation satisfies none of its claim_sets %v", ErrInvalidPresentation, c.ID, c.ClaimSets)
}

// ChosenClaims are the claims a wallet presents for c: those of the first claim set
// option satisfied by has (every claim, when c has no claim_sets); ok is false when no
// option is satisfied.
func (c *CredentialQuery) ChosenClaims(has func(ns, id string) bool) (claims []ClaimQuery, ok bool) {
	if len(c.ClaimSets) == 0 {
		return c.Claims, true
	}
	byID := map[string]ClaimQuery{}
	for _, cl := range c.Claims {
		byID[cl.ID] = cl
	}
	for _, opt := range c.ClaimSets {
		var out []ClaimQuery
		for _, id := range opt {
			out = append(out, byID[id])
		}
		if !slices.ContainsFunc(out, func(cl ClaimQuery) bool { return !has(cl.Path[0], cl.Path[1]) }) {
			return out, true
		}
	}
	return nil, false
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
func (c *CredentialQuery) RequestedDoc() request.Doc { return c.docFor(c.Claims) }

// docFor is the document request for claims of c.
func (c *CredentialQuery) docFor(claims []ClaimQuery) request.Doc {
	doc := request.Doc{DocType: c.Meta.DoctypeValue}
	idx := map[string]int{}
	for _, cl := range claims {
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

// QueryFromDocs is the DCQL query asking for docs (a gate profile's request, one
// request.Doc per document type): one mso_mdoc credential query per document, ids "q0",
// "q1", ..., every element a claim with its intent to retain. With more than one
// document, a required credential set says that any one of them answers.
func QueryFromDocs(docs []request.Doc) *DCQL {
	q := &DCQL{}
	var opts [][]string
	for i, d := range docs {
		cq := CredentialQuery{ID: "q" + strconv.Itoa(i), Format: FormatMdoc, Meta: MdocMeta{DoctypeValue: d.DocType}}
		for _, ns := range d.NameSpaces {
			for _, el := range ns.Elements {
				cq.Claims = append(cq.Claims, Claim(ns.Name, el, ns.IntentToRetain[el]))
			}
		}
		q.Credentials = append(q.Credentials, cq)
		opts = append(opts, []string{cq.ID})
	}
	if len(docs) > 1 {
		q.CredentialSets = []CredentialSet{{Options: opts}}
	}
	return q
}
