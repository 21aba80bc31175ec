package messages

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Kinds reported by Describe.
const (
	KindDeviceResponse            = "DeviceResponse"
	KindDeviceRequest             = "DeviceRequest"
	KindSessionEstablishment      = "SessionEstablishment"
	KindSessionData               = "SessionData"
	KindSessionTranscript         = "SessionTranscript"
	KindSessionTranscriptBytes    = "SessionTranscriptBytes"
	KindEngagement                = "Engagement" // DeviceEngagement or ReaderEngagement
	KindEngagementBytes           = "EngagementBytes"
	KindMessageData               = "MessageData"
	KindIssuerSigned              = "IssuerSigned"
	KindDocument                  = "Document"
	KindDeviceSigned              = "DeviceSigned"
	KindMSO                       = "MobileSecurityObject"
	KindMSOBytes                  = "MobileSecurityObjectBytes"
	KindCOSEKey                   = "COSE_Key"
	KindCOSEKeyBytes              = "COSE_KeyBytes" // EDeviceKeyBytes, EReaderKeyBytes
	KindCOSESign1                 = "COSE_Sign1"
	KindCOSEMac0                  = "COSE_Mac0"
	KindItemsRequest              = "ItemsRequest"
	KindItemsRequestBytes         = "ItemsRequestBytes"
	KindIssuerSignedItem          = "IssuerSignedItem"
	KindIssuerSignedItemBytes     = "IssuerSignedItemBytes"
	KindDeviceAuth                = "DeviceAuth"
	KindDeviceAuthentication      = "DeviceAuthentication"
	KindDeviceAuthenticationBytes = "DeviceAuthenticationBytes"
	KindReaderAuthentication      = "ReaderAuthentication"
	KindReaderAuthenticationBytes = "ReaderAuthenticationBytes"
	KindReaderAuthenticationAll   = "ReaderAuthenticationAll"
	KindReaderAuthAllBytes        = "ReaderAuthenticationAllBytes"
	KindSigStructure              = "Sig_structure"
	KindMACStructure              = "MAC_structure"
	KindHandover                  = "Handover"    // an OpenID4VP / DC API / Apple handover array
	KindEncodedCBOR               = "EncodedCBOR" // #6.24 around anything else
	KindCBOR                      = "CBOR"        // well-formed CBOR of no known mdoc shape
)

const (
	// maxDescribeDepth bounds arrays, maps, tags and tag-24 contents together.
	maxDescribeDepth = 4 * MaxNesting
	// maxDescribedBignumBytes: longer bignums stay base64 (no costly decimal conversion).
	maxDescribedBignumBytes = 64
	// describeKeyCollisionSeparator suffixes a key that prints like an earlier one.
	describeKeyCollisionSeparator = "~"
)

var errDescribeDepth = errors.New("nesting (including tag-24 contents) exceeds the limit")

// Describe recognises an mdoc structure by its shape (the keys present, the array layout,
// the tag) and returns its kind with a JSON-friendly tree of the whole item:
// map[string]any, []any, string, int64, uint64, float64, bool and nil only.
//
// In the tree, byte strings are standard base64; integer map keys are decimal strings;
// tdate (tag 0) and full-date (tag 1004) become their text; every tag-24 item is decoded
// and shown as {"tag24": <content>}; COSE_Sign1 and COSE_Mac0 (wherever 18013-5 puts them,
// or when tagged 18/17) are shown with their decoded headers, a summary of each x5chain
// certificate and the payload expanded; other tags are {"tag": n, "value": <content>}.
// CBOR undefined is {"undefined": true}, NaN and infinities are strings.
//
// Decoding uses the package limits. Input that is not well-formed CBOR (or exceeds the
// limits, or has duplicate map keys, or invalid UTF-8, or a tag 24 whose content is not
// well-formed) gives an error and no tree. When the input is well-formed and has the shape
// of a known structure but that structure's decoder rejects it, Describe returns the kind,
// the tree and a *DecodeError, so a caller may show both.
func Describe(data []byte) (kind string, v any, err error) {
	if len(data) > MaxMessageSize {
		return "", nil, ErrTooLarge
	}
	if err := decMode.Wellformed(data); err != nil {
		return "", nil, &DecodeError{KindCBOR, err}
	}
	kind = detectKind(data, true)
	var d describer
	hint := hintNone
	switch kind {
	case KindCOSESign1, KindCOSEMac0:
		hint = hintCOSE
	}
	v, err = d.item(data, hint, 0)
	if err != nil {
		return kind, nil, &DecodeError{kind, err}
	}
	if err := validateKind(kind, data); err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			err = &DecodeError{kind, err}
		}
		return kind, v, err
	}
	return kind, v, nil
}

// detectKind looks at the shape of one well-formed item. allowTag24 is false for the
// content of a tag-24 item, so that detection never recurses more than once.
func detectKind(data []byte, allowTag24 bool) string {
	h, err := readHead(data)
	if err != nil {
		return KindCBOR
	}
	switch h.major {
	case majorTag:
		if h.indefinite {
			return KindCBOR
		}
		switch h.arg {
		case 18:
			return KindCOSESign1
		case 17:
			return KindCOSEMac0
		case 24:
			if !allowTag24 {
				return KindEncodedCBOR
			}
			e, err := ParseEncodedCBOR(data)
			if err != nil {
				return KindEncodedCBOR
			}
			switch detectKind(e.Content(), false) {
			case KindSessionTranscript:
				return KindSessionTranscriptBytes
			case KindMSO:
				return KindMSOBytes
			case KindItemsRequest:
				return KindItemsRequestBytes
			case KindIssuerSignedItem:
				return KindIssuerSignedItemBytes
			case KindCOSEKey:
				return KindCOSEKeyBytes
			case KindEngagement:
				return KindEngagementBytes
			case KindDeviceAuthentication:
				return KindDeviceAuthenticationBytes
			case KindReaderAuthentication:
				return KindReaderAuthenticationBytes
			case KindReaderAuthenticationAll:
				return KindReaderAuthAllBytes
			}
			return KindEncodedCBOR
		}
	case majorMap:
		return detectMap(data)
	case majorArray:
		return detectArray(data)
	}
	return KindCBOR
}

// mapShape lists the text keys and integer keys of a map (values are not decoded).
type mapShape struct {
	text map[string]cbor.RawMessage
	ints map[int64]cbor.RawMessage
	n    int
}

func (s *mapShape) has(keys ...string) bool {
	for _, k := range keys {
		if _, ok := s.text[k]; !ok {
			return false
		}
	}
	return true
}

func (s *mapShape) onlyText(allowed ...string) bool {
	if len(s.ints) != 0 || len(s.text) != s.n {
		return false
	}
	for k := range s.text {
		found := false
		for _, a := range allowed {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func readMapShape(data []byte) (*mapShape, error) {
	s := &mapShape{text: map[string]cbor.RawMessage{}, ints: map[int64]cbor.RawMessage{}}
	err := forEachPair(data, func(k, v cbor.RawMessage) error {
		s.n++
		kh, err := readHead(k)
		if err != nil {
			return err
		}
		switch kh.major {
		case majorText:
			var ks string
			if err := decMode.Unmarshal(k, &ks); err != nil {
				return err
			}
			s.text[ks] = v
		case majorUint, majorNeg:
			var ki int64
			if err := decMode.Unmarshal(k, &ki); err == nil {
				s.ints[ki] = v
			}
		}
		return nil
	})
	return s, err
}

// forEachPair calls fn with the raw key and value of every pair of a map item.
func forEachPair(data []byte, fn func(k, v cbor.RawMessage) error) error {
	h, err := readMapHead(data)
	if err != nil {
		return err
	}
	rest := data[h.size:]
	for i := uint64(0); h.indefinite || i < h.arg; i++ {
		if h.indefinite {
			if len(rest) == 0 {
				return errTruncated
			}
			if rest[0] == 0xff {
				break
			}
			if i >= MaxMapPairs {
				return errors.New("map exceeds the pair limit")
			}
		}
		var k, v cbor.RawMessage
		if rest, err = decMode.UnmarshalFirst(rest, &k); err != nil {
			return fmt.Errorf("map key: %w", err)
		}
		if rest, err = decMode.UnmarshalFirst(rest, &v); err != nil {
			return fmt.Errorf("map value: %w", err)
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func majorOf(raw []byte) (byte, bool) {
	h, err := readHead(raw)
	if err != nil {
		return 0, false
	}
	return h.major, true
}

func isMajor(raw []byte, major byte) bool {
	m, ok := majorOf(raw)
	return ok && m == major
}

func isNull(raw []byte) bool { return len(raw) == 1 && raw[0] == 0xf6 }

func isTag24(raw []byte) bool {
	h, err := readHead(raw)
	return err == nil && h.major == majorTag && !h.indefinite && h.arg == 24
}

func detectMap(data []byte) string {
	s, err := readMapShape(data)
	if err != nil {
		return KindCBOR
	}
	if len(s.text) > 0 {
		switch {
		case s.has("version", "docRequests"):
			return KindDeviceRequest
		case s.has("version") && (s.has("documents") || s.has("status") || s.has("documentErrors")):
			return KindDeviceResponse
		case s.has("eReaderKey"):
			return KindSessionEstablishment
		case s.n > 0 && s.onlyText("data", "status"):
			return KindSessionData
		case s.has("deviceEngagementBytes"):
			return KindMessageData
		case s.has("digestAlgorithm", "valueDigests"):
			return KindMSO
		case s.has("docType", "issuerSigned"):
			return KindDocument
		case s.has("issuerAuth"):
			return KindIssuerSigned
		case s.has("nameSpaces", "deviceAuth"):
			return KindDeviceSigned
		case s.n > 0 && s.onlyText("deviceSignature", "deviceMac"):
			return KindDeviceAuth
		case s.has("docType", "nameSpaces"):
			return KindItemsRequest
		case s.has("digestID", "elementIdentifier"):
			return KindIssuerSignedItem
		}
		return KindCBOR
	}
	if v, ok := s.ints[engVersion]; ok && isMajor(v, majorText) {
		if sec, ok := s.ints[engSecurity]; ok && isMajor(sec, majorArray) {
			return KindEngagement
		}
	}
	if _, ok := s.ints[coseKeyKty]; ok {
		if _, ok := s.ints[coseKeyCrv]; ok {
			return KindCOSEKey
		}
		if _, ok := s.ints[coseKeyX]; ok {
			return KindCOSEKey
		}
	}
	return KindCBOR
}

func detectArray(data []byte) string {
	var elems []cbor.RawMessage
	if err := decMode.Unmarshal(data, &elems); err != nil {
		return KindCBOR
	}
	if len(elems) > 0 && isMajor(elems[0], majorText) {
		var first string
		if decMode.Unmarshal(elems[0], &first) == nil {
			if k, ok := contextStrings[first]; ok {
				return k
			}
		}
	}
	switch len(elems) {
	case 3:
		if (isTag24(elems[0]) || isNull(elems[0])) && (isTag24(elems[1]) || isNull(elems[1])) {
			return KindSessionTranscript
		}
	case 4:
		if isMajor(elems[0], majorBytes) && isMajor(elems[1], majorMap) &&
			(isMajor(elems[2], majorBytes) || isNull(elems[2])) && isMajor(elems[3], majorBytes) {
			if isMACAlg(elems[0]) {
				return KindCOSEMac0
			}
			return KindCOSESign1
		}
	}
	return KindCBOR
}

// contextStrings are the first elements that name a to-be-signed or handover array.
var contextStrings = map[string]string{
	"DeviceAuthentication":         KindDeviceAuthentication,
	"ReaderAuthentication":         KindReaderAuthentication,
	"ReaderAuthenticationAll":      KindReaderAuthenticationAll,
	"Signature1":                   KindSigStructure,
	"MAC0":                         KindMACStructure,
	"OpenID4VPHandover":            KindHandover,
	"OpenID4VPDCAPIHandover":       KindHandover,
	"dcapi":                        KindHandover,
	"AppleIdentityPresentment_1.0": KindHandover,
}

// isMACAlg reports an HMAC or AES-MAC algorithm in a serialized protected header bstr.
func isMACAlg(protectedBstr []byte) bool {
	var p []byte
	if decMode.Unmarshal(protectedBstr, &p) != nil {
		return false
	}
	alg, _, err := headerAlg(p, nil)
	if err != nil {
		return false
	}
	switch alg {
	case 4, 5, 6, 7, 14, 15, 16, 17, 25, 26:
		return true
	}
	return false
}

// validateKind runs the one typed decoder matching kind.
func validateKind(kind string, data []byte) error {
	content := func() ([]byte, error) {
		e, err := ParseEncodedCBOR(data)
		if err != nil {
			return nil, &DecodeError{kind, err}
		}
		return e.Content(), nil
	}
	var err error
	switch kind {
	case KindDeviceResponse:
		_, err = DecodeDeviceResponse(data)
	case KindDeviceRequest:
		_, err = DecodeDeviceRequest(data)
	case KindSessionEstablishment:
		_, err = DecodeSessionEstablishment(data)
	case KindSessionData:
		_, err = DecodeSessionData(data)
	case KindSessionTranscript, KindSessionTranscriptBytes:
		_, err = DecodeSessionTranscript(data)
	case KindEngagement:
		_, err = DecodeEngagement(data)
	case KindEngagementBytes:
		var c []byte
		if c, err = content(); err == nil {
			_, err = DecodeEngagement(c)
		}
	case KindMessageData:
		err = decodeAs(kind, data, &MessageData{})
	case KindIssuerSigned:
		_, err = DecodeIssuerSigned(data)
	case KindDocument:
		err = decodeAs(kind, data, &Document{})
	case KindDeviceSigned:
		err = decodeAs(kind, data, &DeviceSigned{})
	case KindDeviceAuth:
		err = decodeAs(kind, data, &DeviceAuth{})
	case KindMSO, KindMSOBytes:
		_, err = DecodeMSO(data)
	case KindCOSEKey:
		_, err = DecodeCOSEKey(data)
	case KindCOSEKeyBytes:
		var c []byte
		if c, err = content(); err == nil {
			_, err = DecodeCOSEKey(c)
		}
	case KindCOSESign1:
		err = decodeAs(kind, data, &CoseSign1{})
	case KindCOSEMac0:
		err = decodeAs(kind, data, &CoseMac0{})
	case KindItemsRequest:
		err = decodeAs(kind, data, &ItemsRequest{})
	case KindItemsRequestBytes:
		var c []byte
		if c, err = content(); err == nil {
			err = decodeAs(KindItemsRequest, c, &ItemsRequest{})
		}
	case KindIssuerSignedItem:
		_, err = DecodeIssuerSignedItem(NewEncodedCBOR(data))
	case KindIssuerSignedItemBytes:
		var e EncodedCBOR
		if e, err = ParseEncodedCBOR(data); err == nil {
			_, err = DecodeIssuerSignedItem(e)
		} else {
			err = &DecodeError{kind, err}
		}
	}
	return err
}

// describe hints: how to show an item beyond its generic form.
type describeHint int

const (
	hintNone      describeHint = iota
	hintCOSE                   // a COSE_Sign1 or COSE_Mac0 by position
	hintCOSEArray              // an array of COSE_Sign1 (readerAuthAll)
)

// coseKeys are the text map keys whose value 18013-5 defines as a COSE structure.
var coseKeys = map[string]describeHint{
	"issuerAuth":      hintCOSE,
	"readerAuth":      hintCOSE,
	"deviceSignature": hintCOSE,
	"deviceMac":       hintCOSE,
	"readerAuthAll":   hintCOSEArray,
}

type describer struct{}

// item describes one well-formed data item.
func (d *describer) item(data []byte, hint describeHint, depth int) (any, error) {
	if depth > maxDescribeDepth {
		return nil, errDescribeDepth
	}
	h, err := readHead(data)
	if err != nil {
		return nil, err
	}
	switch h.major {
	case majorUint:
		return h.arg, nil
	case majorNeg:
		if h.arg <= math.MaxInt64 {
			return -1 - int64(h.arg), nil
		}
		n := new(big.Int).SetUint64(h.arg)
		return n.Neg(n.Add(n, big.NewInt(1))).String(), nil
	case majorBytes:
		var b []byte
		if err := decMode.Unmarshal(data, &b); err != nil {
			return nil, err
		}
		return base64.StdEncoding.EncodeToString(b), nil
	case majorText:
		var s string
		if err := decMode.Unmarshal(data, &s); err != nil {
			return nil, err
		}
		return s, nil
	case majorArray:
		if hint == hintCOSE {
			if v, ok := d.cose(data, depth); ok {
				return v, nil
			}
		}
		var elems []cbor.RawMessage
		if err := decMode.Unmarshal(data, &elems); err != nil {
			return nil, err
		}
		out := make([]any, 0, len(elems))
		elemHint := hintNone
		if hint == hintCOSEArray {
			elemHint = hintCOSE
		}
		for _, e := range elems {
			v, err := d.item(e, elemHint, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case majorMap:
		return d.mapItem(data, depth)
	case majorTag:
		return d.tag(data, h, depth)
	default:
		return d.simple(data, h)
	}
}

type keyID struct {
	major byte
	s     string
}

func (d *describer) mapItem(data []byte, depth int) (any, error) {
	out := map[string]any{}
	seen := map[keyID]bool{}
	err := forEachPair(data, func(k, v cbor.RawMessage) error {
		kh, err := readHead(k)
		if err != nil {
			return err
		}
		var name string
		switch kh.major {
		case majorUint:
			name = strconv.FormatUint(kh.arg, 10)
		case majorNeg:
			kv, err := d.item(k, hintNone, depth+1)
			if err != nil {
				return err
			}
			name = fmt.Sprint(kv)
		case majorText:
			if err := decMode.Unmarshal(k, &name); err != nil {
				return fmt.Errorf("map key: %w", err)
			}
		default:
			diag, err := cbor.Diagnose(k)
			if err != nil {
				return fmt.Errorf("map key: %w", err)
			}
			name = diag
		}
		id := keyID{kh.major, name}
		if kh.major == majorNeg {
			id.major = majorUint // -1 and 0x20 are the same integer family
		}
		if seen[id] {
			return fmt.Errorf("duplicate map key %s", name)
		}
		seen[id] = true
		hint := hintNone
		if kh.major == majorText {
			hint = coseKeys[name]
		}
		val, err := d.item(v, hint, depth+1)
		if err != nil {
			return err
		}
		// An integer key and a text key may print alike ({1: .., "1": ..}): keep both.
		unique := name
		for i := 2; ; i++ {
			if _, taken := out[unique]; !taken {
				break
			}
			unique = name + describeKeyCollisionSeparator + strconv.Itoa(i)
		}
		out[unique] = val
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (d *describer) tag(data []byte, h cborHead, depth int) (any, error) {
	if h.indefinite {
		return nil, errors.New("indefinite tag head")
	}
	content := data[h.size:]
	switch h.arg {
	case 0, 1004:
		if isMajor(content, majorText) {
			return d.item(content, hintNone, depth+1)
		}
	case 24:
		e, err := ParseEncodedCBOR(data)
		if err != nil {
			return nil, err
		}
		v, err := d.item(e.Content(), hintNone, depth+1)
		if err != nil {
			return nil, fmt.Errorf("tag 24 content: %w", err)
		}
		return map[string]any{"tag24": v}, nil
	case 2, 3:
		var b []byte
		if isMajor(content, majorBytes) && decMode.Unmarshal(content, &b) == nil && len(b) <= maxDescribedBignumBytes {
			n := new(big.Int).SetBytes(b)
			if h.arg == 3 {
				n.Neg(n.Add(n, big.NewInt(1)))
			}
			return n.String(), nil
		}
	case 17, 18:
		if v, ok := d.cose(data, depth); ok {
			return v, nil
		}
	}
	v, err := d.item(content, hintNone, depth+1)
	if err != nil {
		return nil, err
	}
	return map[string]any{"tag": h.arg, "value": v}, nil
}

func (d *describer) simple(data []byte, h cborHead) (any, error) {
	switch data[0] {
	case 0xf4:
		return false, nil
	case 0xf5:
		return true, nil
	case 0xf6:
		return nil, nil
	case 0xf7:
		return map[string]any{"undefined": true}, nil
	case 0xf9, 0xfa, 0xfb:
		var f float64
		if err := decMode.Unmarshal(data, &f); err != nil {
			return nil, err
		}
		switch {
		case math.IsNaN(f):
			return "NaN", nil
		case math.IsInf(f, 1):
			return "Infinity", nil
		case math.IsInf(f, -1):
			return "-Infinity", nil
		}
		return f, nil
	}
	if h.indefinite {
		return nil, errors.New("unexpected break")
	}
	return map[string]any{"simple": h.arg}, nil
}

// cose shows a COSE_Sign1 / COSE_Mac0 (tagged or not). ok is false when data does not
// have the COSE shape; the caller then shows it generically.
func (d *describer) cose(data []byte, depth int) (any, bool) {
	name, tag := "COSE_Sign1", uint64(18)
	if h, err := readHead(data); err == nil && h.major == majorTag && h.arg == 17 {
		name, tag = "COSE_Mac0", 17
	} else if err == nil && h.major == majorArray {
		var elems []cbor.RawMessage
		if decMode.Unmarshal(data, &elems) == nil && len(elems) == 4 && isMACAlg(elems[0]) {
			name, tag = "COSE_Mac0", 17
		}
	}
	c, err := decodeCose(bytes.Clone(data), 0, tag, name)
	if err != nil {
		return nil, false
	}
	tagged, payload, detached := c.tagged, c.payload, c.detached
	a := struct{ Protected, Unprotected, Last []byte }{c.protected, c.unprotected, c.last}
	out := map[string]any{"type": name, "tagged": tagged}
	protected := any(map[string]any{})
	if len(a.Protected) > 0 {
		if protected, err = d.item(a.Protected, hintNone, depth+1); err != nil {
			return nil, false
		}
	}
	out["protected"] = protected
	unprotected, err := d.item(a.Unprotected, hintNone, depth+1)
	if err != nil {
		return nil, false
	}
	out["unprotected"] = unprotected
	if alg, inProtected, err := headerAlg(a.Protected, a.Unprotected); err == nil {
		out["alg"] = algName(alg)
		out["algInProtected"] = inProtected
	}
	if chain := x5chainSummary(a.Protected, a.Unprotected); chain != nil {
		out["x5chain"] = chain
	}
	if detached {
		out["payload"] = nil
		out["detached"] = true
	} else {
		p, err := d.payload(payload, depth)
		if err != nil {
			return nil, false
		}
		out["payload"] = p
	}
	last := "signature"
	if tag == 17 {
		last = "tag"
	}
	out[last] = base64.StdEncoding.EncodeToString(a.Last)
	return out, true
}

// payload expands a COSE payload holding a tag-24 item, or a CBOR map or array (the MSO
// sent without tag 24); anything else stays base64.
func (d *describer) payload(p []byte, depth int) (any, error) {
	if len(p) > 0 && decMode.Wellformed(p) == nil {
		if isTag24(p) {
			return d.item(p, hintNone, depth+1)
		}
		if m, ok := majorOf(p); ok && (m == majorMap || m == majorArray) {
			v, err := d.item(p, hintNone, depth+1)
			if err != nil {
				return nil, err
			}
			return map[string]any{"embeddedCBOR": v}, nil
		}
	}
	return base64.StdEncoding.EncodeToString(p), nil
}

func algName(alg int64) string {
	switch alg {
	case AlgES256:
		return "ES256"
	case AlgES384:
		return "ES384"
	case AlgES512:
		return "ES512"
	case AlgEdDSA:
		return "EdDSA"
	case AlgHMAC256_256:
		return "HMAC 256/256"
	case 4:
		return "HMAC 256/64"
	case 6:
		return "HMAC 384/384"
	case 7:
		return "HMAC 512/512"
	case -37:
		return "PS256"
	case -38:
		return "PS384"
	case -39:
		return "PS512"
	}
	return strconv.FormatInt(alg, 10)
}

// x5chainSummary summarises the certificates of label 33 (unprotected header first).
func x5chainSummary(protected []byte, unprotected cbor.RawMessage) []any {
	for _, raw := range [][]byte{unprotected, protected} {
		m, err := decodeHeader(raw)
		if err != nil {
			continue
		}
		v, ok := lookupLabel(m, HeaderX5Chain)
		if !ok {
			continue
		}
		certs, _, err := decodeX5Chain(v)
		if err != nil {
			return []any{map[string]any{"error": err.Error()}}
		}
		out := make([]any, 0, len(certs))
		for _, der := range certs {
			out = append(out, certSummary(der))
		}
		return out
	}
	return nil
}

func certSummary(der []byte) map[string]any {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return map[string]any{"error": err.Error(), "length": int64(len(der))}
	}
	return map[string]any{
		"subject":   c.Subject.String(),
		"issuer":    c.Issuer.String(),
		"notBefore": c.NotBefore.UTC().Format(time.RFC3339),
		"notAfter":  c.NotAfter.UTC().Format(time.RFC3339),
		"serial":    hex.EncodeToString(c.SerialNumber.Bytes()),
	}
}
