package reference

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// COSE header labels used by mdoc.
const (
	HeaderAlg     = 1
	HeaderKID     = 4
	HeaderX5Chain = 33
)

// CoseSign1 is a COSE_Sign1 structure (RFC 9052 §4.2) as data: the protected header as the
// exact serialized bytes received, the unprotected header as raw CBOR, the payload (nil and
// Detached when it was CBOR null) and the signature. It verifies nothing itself.
type CoseSign1 struct {
	Protected   []byte // serialized protected header map (content of the bstr); may be empty
	Unprotected cbor.RawMessage
	Payload     []byte
	Detached    bool // payload was null
	Signature   []byte
	Tagged      bool // received with COSE tag 18
}

type coseArray struct {
	_           struct{} `cbor:",toarray"`
	Protected   bstr
	Unprotected cbor.RawMessage
	Payload     cbor.RawMessage
	Last        bstr
}

func (a *coseArray) decode(data []byte, tag uint64, name string) (tagged bool, payload []byte, detached bool, err error) {
	h, err := readHead(data)
	if err != nil {
		return false, nil, false, err
	}
	if h.major == majorTag {
		if h.indefinite || h.arg != tag {
			return false, nil, false, fmt.Errorf("%s: unexpected tag %d", name, h.arg)
		}
		tagged = true
		data = data[h.size:]
	}
	// Check the element types first so that the errors name the element; the strict bstr
	// fields then refuse arrays of small integers and null.
	var elems []cbor.RawMessage
	if err := decMode.Unmarshal(data, &elems); err != nil {
		return false, nil, false, fmt.Errorf("%s: %w", name, err)
	}
	if len(elems) != 4 {
		return false, nil, false, fmt.Errorf("%s: expected an array of 4 elements", name)
	}
	if !isMajor(elems[0], majorBytes) {
		return false, nil, false, fmt.Errorf("%s: protected header is not a byte string", name)
	}
	if !isMajor(elems[1], majorMap) {
		return false, nil, false, fmt.Errorf("%s: unprotected header is not a map", name)
	}
	if !isMajor(elems[3], majorBytes) {
		return false, nil, false, fmt.Errorf("%s: signature or tag is not a byte string", name)
	}
	if err := decMode.Unmarshal(data, a); err != nil {
		return false, nil, false, fmt.Errorf("%s: %w", name, err)
	}
	// RFC 9052 §3: labels are unique across and within the headers; a duplicate in the
	// unprotected map is refused here, not only when a header is read.
	if _, err := decodeHeaderMap(a.Unprotected); err != nil {
		return false, nil, false, fmt.Errorf("%s: unprotected header: %w", name, err)
	}
	if len(a.Protected) > 0 {
		var hdr map[any]cbor.RawMessage
		if err := decMode.Unmarshal(a.Protected, &hdr); err != nil {
			return false, nil, false, fmt.Errorf("%s: protected header: %w", name, err)
		}
	}
	if len(a.Payload) == 1 && a.Payload[0] == 0xf6 {
		detached = true
	} else if err := decodeBytes(a.Payload, &payload); err != nil {
		return false, nil, false, fmt.Errorf("%s: payload is neither a byte string nor null", name)
	}
	return tagged, payload, detached, nil
}

// UnmarshalCBOR accepts COSE_Sign1 tagged (18) or untagged.
func (s *CoseSign1) UnmarshalCBOR(data []byte) error {
	var a coseArray
	tagged, payload, detached, err := a.decode(data, 18, "COSE_Sign1")
	if err != nil {
		return err
	}
	*s = CoseSign1{Protected: a.Protected, Unprotected: a.Unprotected, Payload: payload,
		Detached: detached, Signature: a.Last, Tagged: tagged}
	return nil
}

// ProtectedHeader decodes the protected header map.
func (s *CoseSign1) ProtectedHeader() (map[any]cbor.RawMessage, error) {
	return decodeHeader(s.Protected)
}

// UnprotectedHeader decodes the unprotected header map.
func (s *CoseSign1) UnprotectedHeader() (map[any]cbor.RawMessage, error) {
	return decodeHeaderMap(s.Unprotected)
}

// Alg returns the algorithm from the protected header and whether it was found there.
// An alg only in the unprotected header is returned with inProtected false.
func (s *CoseSign1) Alg() (alg int64, inProtected bool, err error) {
	return headerAlg(s.Protected, s.Unprotected)
}

// X5Chain returns the certificate chain (label 33), leaf first, looking in the unprotected
// header and then the protected one. It accepts a single bstr or an array of bstr.
// asArray reports that it came as an array; inProtected where it was found.
func (s *CoseSign1) X5Chain() (certs [][]byte, asArray, inProtected bool, err error) {
	for i, hdr := range []func() (map[any]cbor.RawMessage, error){s.UnprotectedHeader, s.ProtectedHeader} {
		m, err := hdr()
		if err != nil {
			return nil, false, false, err
		}
		raw, ok := lookupLabel(m, HeaderX5Chain)
		if !ok {
			continue
		}
		certs, asArray, err := decodeX5Chain(raw)
		return certs, asArray, i == 1, err
	}
	return nil, false, false, errors.New("no x5chain header")
}

// KID returns the key identifier if it is a byte string. A kid that is CBOR undefined,
// text or anything else is tolerated and reported as absent.
func (s *CoseSign1) KID() []byte {
	for _, hdr := range []func() (map[any]cbor.RawMessage, error){s.ProtectedHeader, s.UnprotectedHeader} {
		m, err := hdr()
		if err != nil {
			continue
		}
		if raw, ok := lookupLabel(m, HeaderKID); ok {
			var kid []byte
			if decodeBytes(raw, &kid) == nil {
				return kid
			}
		}
	}
	return nil
}

// CoseMac0 is a COSE_Mac0 structure (RFC 9052 §6.2) as data.
type CoseMac0 struct {
	Protected   []byte
	Unprotected cbor.RawMessage
	Payload     []byte
	Detached    bool
	Tag         []byte
	Tagged      bool // received with COSE tag 17
}

// UnmarshalCBOR accepts COSE_Mac0 tagged (17) or untagged.
func (m *CoseMac0) UnmarshalCBOR(data []byte) error {
	var a coseArray
	tagged, payload, detached, err := a.decode(data, 17, "COSE_Mac0")
	if err != nil {
		return err
	}
	*m = CoseMac0{Protected: a.Protected, Unprotected: a.Unprotected, Payload: payload,
		Detached: detached, Tag: a.Last, Tagged: tagged}
	return nil
}

func decodeHeader(serialized []byte) (map[any]cbor.RawMessage, error) {
	if len(serialized) == 0 {
		return map[any]cbor.RawMessage{}, nil
	}
	return decodeHeaderMap(serialized)
}

func decodeHeaderMap(raw []byte) (map[any]cbor.RawMessage, error) {
	m := map[any]cbor.RawMessage{}
	if len(raw) == 0 {
		return m, nil
	}
	if err := decMode.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("COSE header: %w", err)
	}
	return m, nil
}

// lookupLabel finds an integer label whatever Go integer type the decoder chose.
func lookupLabel(m map[any]cbor.RawMessage, label int64) (cbor.RawMessage, bool) {
	for k, v := range m {
		switch kk := k.(type) {
		case int64:
			if kk == label {
				return v, true
			}
		case uint64:
			if label >= 0 && kk == uint64(label) {
				return v, true
			}
		}
	}
	return nil, false
}

func headerAlg(protected []byte, unprotected cbor.RawMessage) (int64, bool, error) {
	for i, raw := range [][]byte{protected, unprotected} {
		m, err := decodeHeader(raw)
		if err != nil {
			return 0, false, err
		}
		if v, ok := lookupLabel(m, HeaderAlg); ok {
			var alg int64
			if err := decMode.Unmarshal(v, &alg); err != nil {
				return 0, false, errors.New("COSE alg is not an integer")
			}
			return alg, i == 0, nil
		}
	}
	return 0, false, errors.New("COSE alg header missing")
}

// decodeX5Chain reads x5chain: a single non-empty bstr (one certificate), or a non-empty
// array of non-empty bstr. An array of small integers is neither.
func decodeX5Chain(raw cbor.RawMessage) ([][]byte, bool, error) {
	if isMajor(raw, majorBytes) {
		var one []byte
		if err := decodeBytes(raw, &one); err != nil {
			return nil, false, fmt.Errorf("x5chain: %w", err)
		}
		if len(one) == 0 {
			return nil, false, errors.New("x5chain holds an empty certificate")
		}
		return [][]byte{one}, false, nil
	}
	var elems []cbor.RawMessage
	if !isMajor(raw, majorArray) || decMode.Unmarshal(raw, &elems) != nil || len(elems) == 0 {
		return nil, false, errors.New("x5chain is neither a byte string nor a non-empty array of byte strings")
	}
	many := make([][]byte, len(elems))
	for i, e := range elems {
		if err := decodeBytes(e, &many[i]); err != nil {
			return nil, true, fmt.Errorf("x5chain certificate %d: %w", i, err)
		}
		if len(many[i]) == 0 {
			return nil, true, errors.New("x5chain holds an empty certificate")
		}
	}
	return many, true, nil
}
