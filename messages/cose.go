package messages

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/fxamacker/cbor/v2"
)

// COSE header labels used by mdoc.
const (
	HeaderAlg     = 1
	HeaderCrit    = 2
	HeaderKID     = 4
	HeaderX5Chain = 33
)

// COSE algorithm identifiers used by mdoc.
const (
	AlgES256       = -7
	AlgES384       = -35
	AlgES512       = -36
	AlgEdDSA       = -8
	AlgHMAC256_256 = 5
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

// coseParts are the four elements of a COSE_Sign1 or COSE_Mac0, shared with the input.
type coseParts struct {
	protected   []byte
	unprotected cbor.RawMessage
	payload     []byte
	detached    bool
	last        []byte
	tagged      bool
}

// decodeCose reads a COSE_Sign1 (tag 18) or COSE_Mac0 (tag 17), tagged or not, as the
// decode mode would into coseArray: the four elements with their types checked first so
// that the errors name them, the headers checked for duplicate labels.
func decodeCose(data []byte, t trust, tag uint64, name string) (c coseParts, err error) {
	h, err := readHead(data)
	if err != nil {
		return c, err
	}
	if h.major == majorTag {
		if h.indefinite || h.arg != tag {
			return c, fmt.Errorf("%s: unexpected tag %d", name, h.arg)
		}
		c.tagged = true
		data = data[h.size:]
		t = t.inner()
	}
	if t&trustDecMode == 0 {
		if err := wellformed(data); err != nil {
			return c, fmt.Errorf("%s: %w", name, err)
		}
		t |= trustDecMode
	}
	var buf [5][]byte // one more than a COSE structure has, to tell a longer array
	elems, ok, err := arrayItems(data, t, buf[:0])
	if !ok {
		return decodeCoseGeneric(data, c.tagged, name)
	}
	if err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	if len(elems) != 4 {
		return c, fmt.Errorf("%s: expected an array of 4 elements", name)
	}
	if err := checkCoseElems(name, elems[0], elems[1], elems[3]); err != nil {
		return c, err
	}
	if err := decodeBytes(elems[0], &c.protected); err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	if err := decodeBytes(elems[3], &c.last); err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	c.unprotected = elems[1]
	// RFC 9052 §3: labels are unique across and within the headers; a duplicate in the
	// unprotected map is refused here, not only when a header is read.
	if err := checkHeaderMap(c.unprotected, true); err != nil {
		return c, fmt.Errorf("%s: unprotected header: %w", name, err)
	}
	if len(c.protected) > 0 {
		if err := checkHeaderMap(c.protected, false); err != nil {
			return c, fmt.Errorf("%s: protected header: %w", name, err)
		}
	}
	if p := elems[2]; len(p) == 1 && p[0] == 0xf6 {
		c.detached = true
	} else if err := decodeBytes(p, &c.payload); err != nil {
		return c, fmt.Errorf("%s: payload is neither a byte string nor null", name)
	}
	return c, nil
}

// checkCoseElems checks the types of a COSE array's protected header, unprotected header
// and signature or tag, with errors that name the one that is wrong.
func checkCoseElems(name string, protected, unprotected, last []byte) error {
	if !isMajor(protected, majorBytes) {
		return fmt.Errorf("%s: protected header is not a byte string", name)
	}
	if !isMajor(unprotected, majorMap) {
		return fmt.Errorf("%s: unprotected header is not a map", name)
	}
	if !isMajor(last, majorBytes) {
		return fmt.Errorf("%s: signature or tag is not a byte string", name)
	}
	return nil
}

// decodeCoseGeneric is decodeCose through the decode mode, for the forms the direct path
// leaves to it (an array inside another tag, anything that is not an array).
func decodeCoseGeneric(data []byte, tagged bool, name string) (c coseParts, err error) {
	c.tagged = tagged
	var elems []cbor.RawMessage
	if err := decMode.Unmarshal(data, &elems); err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	if len(elems) != 4 {
		return c, fmt.Errorf("%s: expected an array of 4 elements", name)
	}
	if err := checkCoseElems(name, elems[0], elems[1], elems[3]); err != nil {
		return c, err
	}
	var a coseArray
	if err := decMode.Unmarshal(data, &a); err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	if _, err := decodeHeaderMap(a.Unprotected); err != nil {
		return c, fmt.Errorf("%s: unprotected header: %w", name, err)
	}
	if len(a.Protected) > 0 {
		var hdr map[any]cbor.RawMessage
		if err := decMode.Unmarshal(a.Protected, &hdr); err != nil {
			return c, fmt.Errorf("%s: protected header: %w", name, err)
		}
	}
	if len(a.Payload) == 1 && a.Payload[0] == 0xf6 {
		c.detached = true
	} else if err := decodeBytes(a.Payload, &c.payload); err != nil {
		return c, fmt.Errorf("%s: payload is neither a byte string nor null", name)
	}
	c.protected, c.unprotected, c.last = a.Protected, a.Unprotected, a.Last
	return c, nil
}

// maxDirectHeaderLabels bounds the header maps checked by comparing every label with
// every other; larger ones go through the decode mode.
const maxDirectHeaderLabels = 32

// checkHeaderMap checks a COSE header map as decoding it into map[any]cbor.RawMessage
// would: no duplicate label, and each value's leading built-in tags valid. A map of
// integer labels is checked directly; anything else (text labels, tags, a null) through
// the decode mode. trusted says the map is part of an item that passes wellformed;
// otherwise (serialized protected header) it is checked first.
func checkHeaderMap(m []byte, trusted bool) error {
	if !trusted {
		if err := wellformed(m); err != nil {
			return err
		}
	}
	if checkIntLabels(m) {
		return nil
	}
	if !trusted {
		var hdr map[any]cbor.RawMessage
		return decMode.Unmarshal(m, &hdr)
	}
	_, err := decodeHeaderMap(m)
	return err
}

// checkIntLabels reports whether m is a plain map whose labels are all distinct integers
// that fit an int64 and whose values' built-in tags are valid: a header map that passes
// checkHeaderMap. false means "ask the decode mode" (which words the error if any).
func checkIntLabels(m []byte) bool {
	h, err := readHead(m)
	if err != nil || h.major != majorMap || !h.indefinite && h.arg > maxDirectHeaderLabels {
		return false
	}
	type label struct {
		neg bool
		arg uint64
	}
	var seen [maxDirectHeaderLabels]label
	n := 0
	off := h.size
	for i := uint64(0); h.indefinite || i < h.arg; i++ {
		if h.indefinite && off < len(m) && m[off] == 0xff {
			break
		}
		kh, err := readHead(m[off:])
		if err != nil || kh.indefinite || kh.major != majorUint && kh.major != majorNeg || kh.arg > math.MaxInt64 || n == len(seen) {
			return false
		}
		l := label{kh.major == majorNeg, kh.arg}
		for _, s := range seen[:n] {
			if s == l {
				return false
			}
		}
		seen[n] = l
		n++
		off += kh.size
		vn, err := trustedLength(m[off:])
		if err != nil || builtinTagsOK(afterSelfDescribed(m[off:off+vn])) != nil {
			return false
		}
		off += vn
	}
	return true
}

// UnmarshalCBOR accepts COSE_Sign1 tagged (18) or untagged.
func (s *CoseSign1) UnmarshalCBOR(data []byte) error {
	var out CoseSign1
	if err := out.decode(bytes.Clone(data), 0); err != nil {
		return err
	}
	*s = out
	return nil
}

func (s *CoseSign1) decode(data []byte, t trust) error {
	c, err := decodeCose(data, t, 18, "COSE_Sign1")
	if err != nil {
		return err
	}
	*s = CoseSign1{Protected: c.protected, Unprotected: c.unprotected, Payload: c.payload,
		Detached: c.detached, Signature: c.last, Tagged: c.tagged}
	return nil
}

// MarshalCBOR writes the untagged array (mdoc uses untagged COSE_Sign1).
func (s CoseSign1) MarshalCBOR() ([]byte, error) { return s.appendCBOR(nil) }

func (s CoseSign1) appendCBOR(dst []byte) ([]byte, error) {
	return appendCoseArray(dst, s.Protected, s.Unprotected, s.Payload, s.Detached, s.Signature)
}

func appendCoseArray(dst, protected []byte, unprotected cbor.RawMessage, payload []byte, detached bool, last []byte) ([]byte, error) {
	if len(unprotected) == 0 {
		unprotected = cbor.RawMessage{0xa0}
	}
	var p any = payload
	switch {
	case detached:
		p = nil
	case payload == nil:
		p = []byte{} // attached and empty, not null
	}
	if protected == nil {
		protected = []byte{}
	}
	return appendArray(dst, []any{protected, unprotected, p, last})
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
	for i, hdr := range [][]byte{s.Unprotected, s.Protected} {
		raw, ok, err := headerLabel(hdr, HeaderX5Chain)
		if err != nil {
			return nil, false, false, err
		}
		if !ok {
			continue
		}
		// the certificates are the caller's, apart from the header
		certs, asArray, err := decodeX5Chain(bytes.Clone(raw))
		return certs, asArray, i == 1, err
	}
	return nil, false, false, errors.New("no x5chain header")
}

// KID returns the key identifier if it is a byte string. A kid that is CBOR undefined,
// text or anything else is tolerated and reported as absent.
func (s *CoseSign1) KID() []byte {
	for _, hdr := range [][]byte{s.Protected, s.Unprotected} {
		raw, ok, err := headerLabel(hdr, HeaderKID)
		if err != nil || !ok {
			continue
		}
		var kid []byte
		if decodeBytes(raw, &kid) == nil {
			return bytes.Clone(kid)
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
	var out CoseMac0
	if err := out.decode(bytes.Clone(data), 0); err != nil {
		return err
	}
	*m = out
	return nil
}

func (m *CoseMac0) decode(data []byte, t trust) error {
	c, err := decodeCose(data, t, 17, "COSE_Mac0")
	if err != nil {
		return err
	}
	*m = CoseMac0{Protected: c.protected, Unprotected: c.unprotected, Payload: c.payload,
		Detached: c.detached, Tag: c.last, Tagged: c.tagged}
	return nil
}

// MarshalCBOR writes the untagged array.
func (m CoseMac0) MarshalCBOR() ([]byte, error) { return m.appendCBOR(nil) }

func (m CoseMac0) appendCBOR(dst []byte) ([]byte, error) {
	return appendCoseArray(dst, m.Protected, m.Unprotected, m.Payload, m.Detached, m.Tag)
}

// Alg returns the MAC algorithm from the protected header.
func (m *CoseMac0) Alg() (alg int64, inProtected bool, err error) {
	return headerAlg(m.Protected, m.Unprotected)
}

// EncodeProtectedHeader serializes a protected header {1: alg} (plus extra labels in order).
func EncodeProtectedHeader(alg int64) []byte {
	var m Map[int64, any]
	m.Set(HeaderAlg, alg)
	b, _ := m.MarshalCBOR()
	return b
}

// EncodeX5ChainHeader builds an unprotected header {33: x5chain}: a single bstr for one
// certificate, an array for more (RFC 9360).
func EncodeX5ChainHeader(chain [][]byte) cbor.RawMessage {
	var m Map[int64, any]
	if len(chain) == 1 {
		m.Set(HeaderX5Chain, chain[0])
	} else {
		m.Set(HeaderX5Chain, chain)
	}
	b, _ := m.MarshalCBOR()
	return b
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
		v, ok, err := headerLabel(raw, HeaderAlg)
		if err != nil {
			return 0, false, err
		}
		if ok {
			var alg int64
			if err := decodeInt(v, &alg); err != nil {
				return 0, false, errors.New("COSE alg is not an integer")
			}
			return alg, i == 0, nil
		}
	}
	return 0, false, errors.New("COSE alg header missing")
}

// headerLabel finds label in a serialized header map as decoding it (decodeHeader) and
// lookupLabel do; a plain map of distinct integer labels is searched without building
// the map. The value may share raw.
func headerLabel(raw []byte, label int64) (value []byte, found bool, err error) {
	if len(raw) == 0 {
		return nil, false, nil
	}
	if n, err := walk(raw, 0, rulesDecMode, 0, 0); err == nil && n == len(raw) && checkIntLabels(raw) {
		v, ok := findIntLabel(raw, label)
		return afterSelfDescribed(v), ok, nil
	}
	m, err := decodeHeaderMap(raw)
	if err != nil {
		return nil, false, err
	}
	v, ok := lookupLabel(m, label)
	return v, ok, nil
}

// findIntLabel returns the value of label in m, a map that passes checkIntLabels.
func findIntLabel(m []byte, label int64) ([]byte, bool) {
	h, _ := readHead(m)
	off := h.size
	for i := uint64(0); h.indefinite || i < h.arg; i++ {
		if off >= len(m) || m[off] == 0xff {
			break
		}
		kh, err := readHead(m[off:])
		if err != nil {
			return nil, false
		}
		off += kh.size
		n, err := trustedLength(m[off:])
		if err != nil {
			return nil, false
		}
		if kh.major == majorUint && label >= 0 && kh.arg == uint64(label) ||
			kh.major == majorNeg && label < 0 && kh.arg == uint64(-1-label) {
			return m[off : off+n : off+n], true
		}
		off += n
	}
	return nil, false
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

// SigStructure returns the COSE Sig_structure of a COSE_Sign1, the bytes its signature
// covers: ["Signature1", protected, h” (no external_aad), payload], with protected the
// serialized protected header (nil is the empty one). It is what Marshal writes for that
// array, built in one allocation.
func SigStructure(protected, payload []byte) []byte {
	return toBeAuthenticated("Signature1", protected, payload)
}

// MACStructure returns the COSE MAC_structure of a COSE_Mac0, the bytes its tag covers:
// ["MAC0", protected, h”, payload], as SigStructure builds its array.
func MACStructure(protected, payload []byte) []byte {
	return toBeAuthenticated("MAC0", protected, payload)
}

func toBeAuthenticated(context string, protected, payload []byte) []byte {
	out := make([]byte, 0, 1+1+len(context)+9+len(protected)+1+9+len(payload))
	out = appendHead(out, majorArray, 4)
	out = append(appendHead(out, majorText, uint64(len(context))), context...)
	out = append(appendHead(out, majorBytes, uint64(len(protected))), protected...)
	out = appendHead(out, majorBytes, 0)
	return append(appendHead(out, majorBytes, uint64(len(payload))), payload...)
}
