package profile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
)

// Device authentication kinds a profile may accept.
const (
	DeviceAuthSignature = "signature"
	DeviceAuthMAC       = "mac"
)

// Status check modes (Profile.Status).
const (
	StatusOff       = ""           // the MSO status reference is ignored
	StatusIfPresent = "if_present" // checked when the MSO carries one
	StatusRequired  = "required"   // the MSO must carry one, and it is checked
)

// Names of the checks a profile adds to verification. Decision.Reason is one of these or
// the name of a failed verify check (e.g. "mso.value_digests").
const (
	CheckVerification   = "profile.verification" // the response is not valid as a whole
	CheckDocType        = "profile.doc_type"
	CheckMandatory      = "profile.mandatory_element"
	CheckElementType    = "profile.element_type"
	CheckEvidence       = "profile.mso_evidence"
	CheckDeviceAuth     = "profile.device_auth"
	CheckCurve          = "profile.device_key_curve"
	CheckSignedAge      = "profile.freshness.signed"
	CheckValidFromAge   = "profile.freshness.valid_from"
	CheckExpectedUpdate = "profile.freshness.expected_update"
	CheckStatus         = "profile.status"
	CheckRule           = "profile.rule"
)

// Element is one data element a profile asks for.
type Element struct {
	NameSpace  string `yaml:"namespace" json:"namespace"`
	Identifier string `yaml:"identifier" json:"identifier"`
	// Retain is the intent-to-retain flag sent with the request.
	Retain bool `yaml:"retain" json:"retain"`
	// Mandatory elements must be disclosed (and authentic) for the profile to accept.
	Mandatory bool `yaml:"mandatory" json:"mandatory"`
	// Show lets a verifier page (a gate's online lanes) show the element's value once
	// verified; the values of other elements never leave the gate.
	Show bool `yaml:"show" json:"show,omitempty"`
}

// Doc is one document type a profile accepts.
type Doc struct {
	DocType  string    `yaml:"doc_type" json:"docType"`
	Elements []Element `yaml:"elements" json:"elements"`
	// Schema names the built-in element type table and identifier spellings: "mdl",
	// "photoid", or "" for none (no type validation, no aliases).
	Schema string `yaml:"schema" json:"schema,omitempty"`
	// RequestOldSpellings also requests the older docType and identifier spellings of the
	// schema, so that wallets built on earlier drafts answer.
	RequestOldSpellings bool `yaml:"request_old_spellings" json:"requestOldSpellings,omitempty"`
}

// Freshness limits on the MSO; zero values disable a limit.
type Freshness struct {
	// MaxSignedAge rejects an MSO whose validityInfo.signed is older than this.
	MaxSignedAge time.Duration `yaml:"max_signed_age" json:"maxSignedAge,omitempty"`
	// MaxValidFromAge rejects an MSO whose validFrom is older than this.
	MaxValidFromAge time.Duration `yaml:"max_valid_from_age" json:"maxValidFromAge,omitempty"`
	// RejectPastExpectedUpdate rejects an MSO whose expectedUpdate has passed.
	RejectPastExpectedUpdate bool `yaml:"reject_past_expected_update" json:"rejectPastExpectedUpdate,omitempty"`
}

// Profile is a gate's acceptance policy (TS 23220-4 Annex B style): what to request and
// when to accept. Build one in code or from YAML, then call Compile once; a compiled
// profile is immutable and safe for concurrent use.
type Profile struct {
	Name string `yaml:"name" json:"name"`
	// Docs lists the acceptable document types; a response is accepted when one of its
	// documents satisfies everything below.
	Docs []Doc `yaml:"documents" json:"documents"`
	// DeviceAuth lists accepted mdoc authentication kinds ("signature", "mac"); empty
	// accepts both.
	DeviceAuth []string `yaml:"device_auth" json:"deviceAuth,omitempty"`
	// Curves lists accepted device key curves by COSE name ("P-256", "Ed25519", ...);
	// empty accepts any curve the verifier accepts.
	Curves []string `yaml:"curves" json:"curves,omitempty"`
	// ReaderAuthRequired means the lane must sign its requests (readerAuth); a daemon
	// refuses to run such a profile without a reader key (see CheckLane).
	ReaderAuthRequired bool      `yaml:"reader_auth_required" json:"readerAuthRequired,omitempty"`
	Freshness          Freshness `yaml:"freshness" json:"freshness"`
	// Status selects the token status list check: "", "if_present" or "required".
	Status string `yaml:"status" json:"status,omitempty"`
	// HolderVerification asks for the holder verification step (portrait matching) after
	// an accepting decision; the portrait element must then be requested.
	HolderVerification bool `yaml:"holder_verification" json:"holderVerification,omitempty"`
	// StrictTypes refuses untagged full-date/tdate text that lenient checking accepts.
	StrictTypes bool `yaml:"strict_types" json:"strictTypes,omitempty"`
	// Rule is the decision rule (see Rule); empty means no rule beyond the checks above.
	Rule string `yaml:"rule" json:"rule,omitempty"`

	once     sync.Once
	compiled *compiled
	err      error
}

type compiled struct {
	rule    *Rule
	schemas []*Schema // per Docs entry
}

// schemaByName returns the built-in schema.
func schemaByName(name string) (*Schema, error) {
	switch strings.ToLower(name) {
	case "":
		return nil, nil
	case "mdl":
		return MDLSchema(), nil
	case "photoid", "photo_id":
		return PhotoIDSchema(), nil
	}
	return nil, fmt.Errorf("unknown schema %q (mdl, photoid)", name)
}

// FieldError is a profile that does not compile: Field names the offending field as
// the YAML spells it ("rule", "documents[0].elements[2]").
type FieldError struct {
	Profile, Field, Msg string
}

func (e *FieldError) Error() string { return "profile " + e.Profile + ": " + e.Field + ": " + e.Msg }

// Compile checks the profile and parses its rule. It is done once; later calls return
// the first result. Decide and Request compile on first use, so calling Compile
// explicitly is only needed to surface configuration errors early. Errors are
// *FieldError.
func (p *Profile) Compile() error {
	p.once.Do(func() { p.compiled, p.err = p.compile() })
	return p.err
}

func (p *Profile) compile() (*compiled, error) {
	name := p.Name
	if name == "" {
		name = "(unnamed)"
	}
	fail := func(field, format string, args ...any) error {
		return &FieldError{Profile: name, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if len(p.Docs) == 0 {
		return nil, fail("documents", "no document types")
	}
	c := &compiled{}
	for i, d := range p.Docs {
		field := fmt.Sprintf("documents[%d]", i)
		if d.DocType == "" {
			return nil, fail(field+".doc_type", "empty")
		}
		s, err := schemaByName(d.Schema)
		if err != nil {
			return nil, fail(field+".schema", "%v", err)
		}
		if len(d.Elements) == 0 {
			return nil, fail(field+".elements", "no elements requested")
		}
		seen := map[[2]string]bool{}
		for j, e := range d.Elements {
			ef := fmt.Sprintf("%s.elements[%d]", field, j)
			if e.NameSpace == "" || e.Identifier == "" {
				return nil, fail(ef, "namespace and identifier are required")
			}
			k := [2]string{e.NameSpace, e.Identifier}
			if seen[k] {
				return nil, fail(ef, "%s/%s listed twice", e.NameSpace, e.Identifier)
			}
			seen[k] = true
		}
		c.schemas = append(c.schemas, s)
	}
	for i, k := range p.DeviceAuth {
		if k != DeviceAuthSignature && k != DeviceAuthMAC {
			return nil, fail(fmt.Sprintf("device_auth[%d]", i), "%q is not signature or mac", k)
		}
	}
	for i, cv := range p.Curves {
		if _, ok := messages.CurveByName(cv); !ok {
			return nil, fail(fmt.Sprintf("curves[%d]", i), "unknown curve %q", cv)
		}
	}
	switch p.Status {
	case StatusOff, StatusIfPresent, StatusRequired:
	default:
		return nil, fail("status", "%q is not \"\", if_present or required", p.Status)
	}
	if p.Freshness.MaxSignedAge < 0 || p.Freshness.MaxValidFromAge < 0 {
		return nil, fail("freshness", "negative limit")
	}
	if p.HolderVerification {
		for i, d := range p.Docs {
			if !slices.ContainsFunc(d.Elements, func(e Element) bool { return e.Identifier == "portrait" }) {
				return nil, fail(fmt.Sprintf("documents[%d].elements", i), "holder_verification needs the portrait element")
			}
		}
	}
	if p.Rule != "" {
		r, err := ParseRule(p.Rule)
		if err != nil {
			return nil, fail("rule", "%v", err)
		}
		// every element the rule reads must be requested in each document type
		for i, d := range p.Docs {
			for _, id := range r.Elements() {
				if !slices.ContainsFunc(d.Elements, func(e Element) bool { return e.Identifier == id }) {
					return nil, fail("rule", "element %s is not requested in documents[%d] (%s)", id, i, d.DocType)
				}
			}
		}
		c.rule = r
	}
	return c, nil
}

// CheckLane reports whether a lane can run the profile: a profile with
// ReaderAuthRequired needs a reader-authentication signer.
func (p *Profile) CheckLane(hasReaderAuth bool) error {
	if err := p.Compile(); err != nil {
		return err
	}
	if p.ReaderAuthRequired && !hasReaderAuth {
		return fmt.Errorf("profile %s: reader_auth_required: the lane has no reader authentication key", p.Name)
	}
	return nil
}

// Request returns the documents to request, one request.Doc per document type (and per
// older docType spelling when RequestOldSpellings is set), elements in profile order
// with their intent-to-retain flags. It returns nil when the profile does not compile.
func (p *Profile) Request() []request.Doc {
	if p.Compile() != nil {
		return nil
	}
	var out []request.Doc
	for i, d := range p.Docs {
		s := p.compiled.schemas[i]
		docTypes := []string{d.DocType}
		if d.RequestOldSpellings && s != nil {
			for old, cur := range s.DocTypeAliases {
				if cur == d.DocType {
					docTypes = append(docTypes, old)
				}
			}
			slices.Sort(docTypes[1:])
		}
		for _, dt := range docTypes {
			rd := request.Doc{DocType: dt}
			index := map[string]int{}
			add := func(ns, id string, retain bool) {
				k, ok := index[ns]
				if !ok {
					k = len(rd.NameSpaces)
					index[ns] = k
					rd.NameSpaces = append(rd.NameSpaces, request.NameSpace{Name: ns, IntentToRetain: map[string]bool{}})
				}
				r := &rd.NameSpaces[k]
				if slices.Contains(r.Elements, id) {
					return
				}
				r.Elements = append(r.Elements, id)
				if retain {
					r.IntentToRetain[id] = true
				}
			}
			for _, e := range d.Elements {
				add(e.NameSpace, e.Identifier, e.Retain)
			}
			if d.RequestOldSpellings && s != nil {
				for _, e := range d.Elements {
					olds := s.aliasesOf(e.NameSpace, e.Identifier)
					slices.SortFunc(olds, func(a, b [2]string) int { return strings.Compare(a[0]+"/"+a[1], b[0]+"/"+b[1]) })
					for _, o := range olds {
						add(o[0], o[1], e.Retain)
					}
				}
			}
			out = append(out, rd)
		}
	}
	return out
}

// Outcome of a profile decision.
type Outcome string

// Profile outcomes.
const (
	Accept Outcome = "accept"
	Reject Outcome = "reject"
)

// Decision is a profile's verdict on a verified response.
type Decision struct {
	Outcome Outcome `json:"outcome"`
	// Reason is the machine-readable name of the first failed check (a Check* constant of
	// this package or a verify check name); empty when accepted.
	Reason string `json:"reason,omitempty"`
	// Detail explains Reason; it names elements and types but never element values.
	Detail string `json:"detail,omitempty"`
	// Failed lists the names of every failed check of the deciding document, in order.
	Failed []string `json:"failed,omitempty"`
	// Checks are the profile checks run on the deciding document.
	Checks []verify.Check `json:"checks,omitempty"`
	// Document is the index in Result.Documents of the deciding document (the accepted
	// one, or the first candidate when rejected); -1 when there was none.
	Document int    `json:"document"`
	DocType  string `json:"docType,omitempty"`
	// HolderVerification is set on an accepting decision of a profile that asks for the
	// holder verification step.
	HolderVerification bool `json:"holderVerification,omitempty"`
}

// StatusChecker looks up the status of an MSO status list reference: 0 is VALID, any
// other value (1 INVALID, 2 SUSPENDED, ...) makes the profile reject.
// *trust.StatusClient implements it. It is used only when verification did not look the
// entry up itself (verify.Options.Revocation, which also checks the list's signer
// against the credential's trust anchor).
type StatusChecker interface {
	Status(ctx context.Context, ref messages.StatusListRef) (uint8, error)
}

// Input is what Evaluate decides on.
type Input struct {
	Result *verify.Result
	// Response is the DeviceResponse that produced Result (documents in the same order).
	// The freshness, device-auth, curve and status checks read the MSO from it; without
	// it those checks fail closed when the profile asks for them.
	Response *messages.DeviceResponse
	// Now is the decision time; zero means time.Now().
	Now time.Time
	// Status is needed when the profile's Status mode is not off and verification made
	// no verify.CheckMSOStatus check.
	Status StatusChecker
	// Context bounds the status lookup; nil means context.Background().
	Context context.Context
}

// Decide is Evaluate without the MSO evidence: use it only with profiles that set no
// freshness, device-auth, curve or status requirement, or prefer Evaluate.
func (p *Profile) Decide(res *verify.Result, now time.Time) Decision {
	return p.Evaluate(Input{Result: res, Now: now})
}

// Evaluate decides on a verified response. It accepts when the response is valid and at
// least one document of a profile docType passes every check: mandatory elements
// present, element types as the schema says, device auth kind and curve, freshness,
// status, and the rule. It never panics and fails closed: anything it cannot establish
// is a rejection naming the check.
func (p *Profile) Evaluate(in Input) (d Decision) {
	d = Decision{Outcome: Reject, Document: -1}
	defer func() {
		if r := recover(); r != nil {
			d = Decision{Outcome: Reject, Reason: "internal", Detail: fmt.Sprintf("profile evaluation failed: %v", r), Document: -1}
		}
	}()
	if err := p.Compile(); err != nil {
		d.Reason, d.Detail = "profile.config", err.Error()
		return d
	}
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	if in.Context == nil {
		in.Context = context.Background()
	}
	res := in.Result
	if res == nil {
		d.Reason, d.Detail = CheckVerification, "no verification result"
		return d
	}
	var first *Decision
	for i := range res.Documents {
		dr := &res.Documents[i]
		k := p.docIndex(dr.DocType)
		if k < 0 {
			continue
		}
		var doc *messages.Document
		if in.Response != nil && i < len(in.Response.Documents) && in.Response.Documents[i].DocType == dr.DocType {
			doc = &in.Response.Documents[i]
		}
		dd := p.evalDoc(in, k, dr, doc)
		dd.Document, dd.DocType = i, dr.DocType
		if dd.Outcome == Accept {
			if !res.Valid {
				// another document (or the response status) failed verification
				dd.Outcome, dd.Reason, dd.Detail = Reject, CheckVerification, firstError(res)
				dd.Failed = append(dd.Failed, CheckVerification)
			}
			return dd
		}
		if first == nil {
			first = &dd
		}
	}
	if first != nil {
		return *first
	}
	d.Reason = CheckDocType
	if len(res.Documents) == 0 {
		d.Reason, d.Detail = CheckVerification, firstError(res)
		return d
	}
	d.Detail = "no document of type " + strings.Join(p.docTypes(), ", ")
	return d
}

func firstError(res *verify.Result) string {
	for _, dr := range res.Documents {
		for _, c := range dr.Checks {
			if !c.OK && c.Severity == "error" {
				return dr.DocType + ": " + c.Name + ": " + c.Reason
			}
		}
	}
	if len(res.Errors) > 0 {
		return strings.Join(res.Errors, "; ")
	}
	return "the response is not valid"
}

func (p *Profile) docTypes() []string {
	var out []string
	for _, d := range p.Docs {
		out = append(out, d.DocType)
	}
	return out
}

// docIndex finds the profile document of a received docType (older spellings included).
func (p *Profile) docIndex(docType string) int {
	for i, d := range p.Docs {
		if d.DocType == docType || p.compiled.schemas[i].canonicalDocType(docType) == d.DocType {
			return i
		}
	}
	return -1
}

// Shows reports whether the profile lets element id of name space ns be shown (Element
// Show), under its current spelling or an older one the schema maps onto it.
func (p *Profile) Shows(ns, id string) bool {
	if p.Compile() != nil {
		return false
	}
	for i, d := range p.Docs {
		for _, e := range d.Elements {
			if !e.Show {
				continue
			}
			if e.NameSpace == ns && e.Identifier == id {
				return true
			}
			if s := p.compiled.schemas[i]; s != nil && slices.Contains(s.aliasesOf(e.NameSpace, e.Identifier), [2]string{ns, id}) {
				return true
			}
		}
	}
	return false
}

// View is a document's authentic elements under their current spellings.
type View struct {
	// Raw maps name space → identifier → CBOR value, after alias mapping. When an element
	// arrived under both spellings the current one wins.
	Raw map[string]map[string][]byte
	// order is the profile's name space order for bare-identifier lookup.
	order []string
}

// Get returns an element by name space and identifier.
func (v *View) Get(ns, id string) ([]byte, bool) {
	b, ok := v.Raw[ns][id]
	return b, ok
}

// Find returns the first element with identifier id, searching the profile's name spaces
// in order, then any other name space in sorted order.
func (v *View) Find(id string) ([]byte, bool) {
	for _, ns := range v.order {
		if b, ok := v.Raw[ns][id]; ok {
			return b, true
		}
	}
	var rest []string
	for ns := range v.Raw {
		if !slices.Contains(v.order, ns) {
			rest = append(rest, ns)
		}
	}
	slices.Sort(rest)
	for _, ns := range rest {
		if b, ok := v.Raw[ns][id]; ok {
			return b, true
		}
	}
	return nil, false
}

// NewView maps a verified document's RawElements to current spellings.
func (p *Profile) NewView(dr *verify.DocumentResult) (*View, error) {
	if err := p.Compile(); err != nil {
		return nil, err
	}
	k := p.docIndex(dr.DocType)
	if k < 0 {
		return nil, fmt.Errorf("profile %s: docType %s is not in the profile", p.Name, dr.DocType)
	}
	return p.view(k, dr), nil
}

func (p *Profile) view(k int, dr *verify.DocumentResult) *View {
	s := p.compiled.schemas[k]
	v := &View{Raw: map[string]map[string][]byte{}}
	for _, e := range p.Docs[k].Elements {
		if !slices.Contains(v.order, e.NameSpace) {
			v.order = append(v.order, e.NameSpace)
		}
	}
	type entry struct {
		ns, id string
		raw    []byte
		exact  bool
	}
	n := 0
	for _, elems := range dr.RawElements {
		n += len(elems)
	}
	entries := make([]entry, 0, n)
	for ns, elems := range dr.RawElements {
		for id, raw := range elems {
			cns, cid := s.canonical(ns, id)
			entries = append(entries, entry{cns, cid, raw, cns == ns && cid == id})
		}
	}
	// exact spellings after aliases so that they win
	slices.SortStableFunc(entries, func(a, b entry) int {
		switch {
		case a.exact == b.exact:
			return cmp.Or(strings.Compare(a.ns, b.ns), strings.Compare(a.id, b.id))
		case a.exact:
			return 1
		}
		return -1
	})
	for _, e := range entries {
		if v.Raw[e.ns] == nil {
			v.Raw[e.ns] = make(map[string][]byte, len(dr.RawElements[e.ns]))
		}
		v.Raw[e.ns][e.id] = e.raw
	}
	return v
}

type docChecks struct {
	list []verify.Check
}

func (c *docChecks) pass(name string) { c.list = append(c.list, verify.Check{Name: name, OK: true}) }
func (c *docChecks) fail(name, format string, args ...any) {
	c.list = append(c.list, verify.Check{Name: name, Reason: fmt.Sprintf(format, args...), Severity: "error"})
}
func (c *docChecks) result(name string, problems []string) {
	if len(problems) == 0 {
		c.pass(name)
		return
	}
	c.fail(name, "%s", strings.Join(problems, "; "))
}

func (p *Profile) evalDoc(in Input, k int, dr *verify.DocumentResult, doc *messages.Document) Decision {
	var c docChecks
	spec := p.Docs[k]
	s := p.compiled.schemas[k]
	if !dr.Valid {
		for _, vc := range dr.Checks {
			if !vc.OK && vc.Severity == "error" {
				c.list = append(c.list, vc)
			}
		}
		return decision(c.list, false)
	}
	view := p.view(k, dr)

	var missing []string
	for _, e := range spec.Elements {
		if _, ok := view.Get(e.NameSpace, e.Identifier); e.Mandatory && !ok {
			missing = append(missing, e.NameSpace+"/"+e.Identifier)
		}
	}
	if len(missing) > 0 {
		c.fail(CheckMandatory, "not disclosed: %s", strings.Join(missing, ", "))
	} else {
		c.pass(CheckMandatory)
	}

	var badTypes []string
	for _, ns := range sortedKeys(view.Raw) {
		for _, id := range sortedKeys(view.Raw[ns]) {
			t, ok := s.TypeOf(ns, id)
			if !ok {
				continue
			}
			if err := CheckType(t, view.Raw[ns][id], p.StrictTypes); err != nil {
				badTypes = append(badTypes, fmt.Sprintf("%s/%s: %v", ns, id, err))
			}
		}
	}
	c.result(CheckElementType, badTypes)

	needMSO := len(p.DeviceAuth) > 0 || len(p.Curves) > 0 || p.Freshness != (Freshness{}) || p.Status != StatusOff
	if needMSO {
		ev, err := CollectEvidence(doc)
		if err != nil {
			c.fail(CheckEvidence, "%v", err)
		} else {
			p.checkEvidence(&c, in, dr, ev)
		}
	}

	if p.compiled.rule != nil {
		ok, err := p.compiled.rule.Eval(view.Find, in.Now)
		switch {
		case err != nil:
			c.fail(CheckRule, "%v", err)
		case !ok:
			c.fail(CheckRule, "rule %s is false", p.compiled.rule.Source())
		default:
			c.pass(CheckRule)
		}
	}
	d := decision(c.list, true)
	d.HolderVerification = d.Outcome == Accept && p.HolderVerification
	return d
}

func decision(checks []verify.Check, verified bool) Decision {
	d := Decision{Outcome: Accept, Checks: checks}
	for _, c := range checks {
		if c.OK {
			continue
		}
		if d.Outcome == Accept {
			d.Outcome, d.Reason, d.Detail = Reject, c.Name, c.Reason
		}
		d.Failed = append(d.Failed, c.Name)
	}
	if !verified && d.Outcome == Accept {
		d.Outcome, d.Reason, d.Detail = Reject, CheckVerification, "document not valid"
	}
	return d
}

func (p *Profile) checkEvidence(c *docChecks, in Input, dr *verify.DocumentResult, ev *Evidence) {
	if len(p.DeviceAuth) > 0 {
		if slices.Contains(p.DeviceAuth, ev.DeviceAuth) {
			c.pass(CheckDeviceAuth)
		} else {
			c.fail(CheckDeviceAuth, "device authentication by %s; the profile accepts %s", ev.DeviceAuth, strings.Join(p.DeviceAuth, ", "))
		}
	}
	if len(p.Curves) > 0 {
		if slices.Contains(p.Curves, ev.DeviceKeyCurve) {
			c.pass(CheckCurve)
		} else {
			c.fail(CheckCurve, "device key on %s; the profile accepts %s", ev.DeviceKeyCurve, strings.Join(p.Curves, ", "))
		}
	}
	f := p.Freshness
	if f.MaxSignedAge > 0 {
		if age := in.Now.Sub(ev.Signed); age > f.MaxSignedAge {
			c.fail(CheckSignedAge, "MSO signed %s ago (%s), limit %s", age.Round(time.Second), rfc(ev.Signed), f.MaxSignedAge)
		} else {
			c.pass(CheckSignedAge)
		}
	}
	if f.MaxValidFromAge > 0 {
		if age := in.Now.Sub(ev.ValidFrom); age > f.MaxValidFromAge {
			c.fail(CheckValidFromAge, "MSO valid from %s ago (%s), limit %s", age.Round(time.Second), rfc(ev.ValidFrom), f.MaxValidFromAge)
		} else {
			c.pass(CheckValidFromAge)
		}
	}
	if f.RejectPastExpectedUpdate {
		if ev.ExpectedUpdate != nil && in.Now.After(*ev.ExpectedUpdate) {
			c.fail(CheckExpectedUpdate, "MSO expectedUpdate %s has passed", rfc(*ev.ExpectedUpdate))
		} else {
			c.pass(CheckExpectedUpdate)
		}
	}
	switch {
	case p.Status == StatusOff:
	case ev.StatusList == nil && p.Status == StatusRequired:
		c.fail(CheckStatus, "the MSO carries no status list reference")
	case ev.StatusList == nil:
		c.pass(CheckStatus)
	case hasCheck(dr, verify.CheckMSOStatus):
		// verification looked the entry up (verify.Options.Revocation) and passed it: a
		// failed lookup made the document invalid already
		c.pass(CheckStatus)
	case in.Status == nil:
		c.fail(CheckStatus, "no status list client configured")
	default:
		st, err := in.Status.Status(in.Context, *ev.StatusList)
		switch {
		case err != nil:
			c.fail(CheckStatus, "status list %s: %v", ev.StatusList.URI, err)
		case st != 0:
			c.fail(CheckStatus, "credential status is %s (%d)", StatusName(st), st)
		default:
			c.pass(CheckStatus)
		}
	}
}

// StatusName names token status list values (draft-ietf-oauth-status-list §7.1).
func StatusName(s uint8) string { return verify.StatusName(s) }

// hasCheck reports whether verification recorded the named check for the document.
func hasCheck(dr *verify.DocumentResult, name string) bool {
	_, ok := dr.Check(name)
	return ok
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Evidence is what the MSO and the device authentication of a document say, for the
// checks a profile makes beyond verification.
type Evidence struct {
	Signed, ValidFrom, ValidUntil time.Time
	ExpectedUpdate                *time.Time
	StatusList                    *messages.StatusListRef
	// DeviceAuth is DeviceAuthSignature or DeviceAuthMAC.
	DeviceAuth string
	// DeviceKeyCurve is the COSE curve name of the MSO deviceKey, e.g. "P-256".
	DeviceKeyCurve string
}

// CollectEvidence reads a document's MSO and device authentication kind. It verifies
// nothing: call it only for documents verify found valid (their MSO signature holds).
func CollectEvidence(doc *messages.Document) (*Evidence, error) {
	if doc == nil {
		return nil, errors.New("the DeviceResponse is not available: MSO validity, device auth and status cannot be checked")
	}
	mso, err := messages.DecodeMSO(doc.IssuerSigned.IssuerAuth.Payload)
	if err != nil {
		return nil, err
	}
	vi := mso.ValidityInfo
	ev := &Evidence{Signed: vi.Signed.Time, ValidFrom: vi.ValidFrom.Time, ValidUntil: vi.ValidUntil.Time}
	if vi.ExpectedUpdate != nil {
		t := vi.ExpectedUpdate.Time
		ev.ExpectedUpdate = &t
	}
	if ev.StatusList, err = mso.StatusList(); err != nil {
		return nil, err
	}
	if ci, err := mso.DeviceKeyInfo.DeviceKey.Curve(); err == nil {
		ev.DeviceKeyCurve = ci.Name
	}
	if doc.DeviceSigned != nil {
		switch {
		case doc.DeviceSigned.DeviceAuth.DeviceSignature != nil:
			ev.DeviceAuth = DeviceAuthSignature
		case doc.DeviceSigned.DeviceAuth.DeviceMac != nil:
			ev.DeviceAuth = DeviceAuthMAC
		}
	}
	return ev, nil
}
