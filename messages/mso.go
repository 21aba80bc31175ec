package messages

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// MobileSecurityObject is the issuer-signed MSO (18013-5 §9.1.2.4), with the token status
// list reference of 23220-4 kept.
type MobileSecurityObject struct {
	Version         string
	DigestAlgorithm string
	ValueDigests    Map[string, Map[uint64, []byte]]
	DeviceKeyInfo   DeviceKeyInfo
	DocType         string
	ValidityInfo    ValidityInfo
	Status          cbor.RawMessage // kept raw; StatusList() reads the token status list form
	Other           Map[string, cbor.RawMessage]

	// NotTagged is set when the issuerAuth payload held the MSO directly instead of
	// MobileSecurityObjectBytes (seen in pyMDOC-CBOR output).
	NotTagged bool
}

// DeviceKeyInfo holds the device key and what it may sign.
//
// deviceKey is mandatory. For lenience one non-conformant form is decoded: deviceKey
// null (seen in pyMDOC-CBOR output) leaves DeviceKey zero and sets DeviceKeyMissing, so
// that the issuer-signed data stays readable while mdoc authentication fails clearly.
// Encoding such a value fails (there is no key to write).
type DeviceKeyInfo struct {
	DeviceKey         COSEKey            `cbor:"deviceKey"`
	KeyAuthorizations *KeyAuthorizations `cbor:"keyAuthorizations,omitempty"`
	KeyInfo           cbor.RawMessage    `cbor:"keyInfo,omitempty"`

	// DeviceKeyMissing is set when deviceKey was received as null (or undefined).
	DeviceKeyMissing bool `cbor:"-"`
}

// UnmarshalCBOR decodes DeviceKeyInfo in any key order; deviceKey is required (null is
// tolerated and flagged, see DeviceKeyMissing). Unknown keys are ignored.
func (d *DeviceKeyInfo) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(d, data)
}

func (d *DeviceKeyInfo) topMap() bool { return true }

func (d *DeviceKeyInfo) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("DeviceKeyInfo", data, t); err != nil {
		return err
	}
	if f.null("deviceKey") {
		d.DeviceKeyMissing = true
	} else {
		f.own("deviceKey", &d.DeviceKey, true)
	}
	if raw, ok := f.take("keyAuthorizations", false); ok {
		ka := new(KeyAuthorizations)
		if f.fail("keyAuthorizations", decodeValue(raw, ka, f.t)) {
			d.KeyAuthorizations = ka
		}
	}
	f.raw("keyInfo", &d.KeyInfo, false)
	return f.err
}

// KeyAuthorizations lists name spaces and elements the device key may sign.
type KeyAuthorizations struct {
	NameSpaces   []string            `cbor:"nameSpaces,omitempty"`
	DataElements map[string][]string `cbor:"dataElements,omitempty"`
}

// ValidityInfo is the MSO's validity window.
type ValidityInfo struct {
	Signed         TDate  `cbor:"signed"`
	ValidFrom      TDate  `cbor:"validFrom"`
	ValidUntil     TDate  `cbor:"validUntil"`
	ExpectedUpdate *TDate `cbor:"expectedUpdate,omitempty"`
}

// UnmarshalCBOR decodes ValidityInfo in any key order and requires signed, validFrom
// and validUntil. Unknown keys are ignored.
func (v *ValidityInfo) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(v, data)
}

func (v *ValidityInfo) topMap() bool { return true }

func (v *ValidityInfo) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("ValidityInfo", data, t); err != nil {
		return err
	}
	f.own("signed", &v.Signed, true)
	f.own("validFrom", &v.ValidFrom, true)
	f.own("validUntil", &v.ValidUntil, true)
	if raw, ok := f.take("expectedUpdate", false); ok {
		eu := new(TDate)
		if f.fail("expectedUpdate", eu.decode(raw, f.t)) {
			v.ExpectedUpdate = eu
		}
	}
	return f.err
}

// StatusListRef is the token status list reference in MSO "status".
type StatusListRef struct {
	Idx uint64 `cbor:"idx"`
	URI string `cbor:"uri"`
}

// StatusList returns the status_list reference when the MSO carries one.
func (m *MobileSecurityObject) StatusList() (*StatusListRef, error) {
	if m.Status == nil {
		return nil, nil
	}
	var st struct {
		StatusList *StatusListRef `cbor:"status_list"`
	}
	if err := decMode.Unmarshal(m.Status, &st); err != nil {
		return nil, fmt.Errorf("MSO status: %w", err)
	}
	return st.StatusList, nil
}

// MarshalCBOR writes the MSO fields in the 18013-5 order.
func (m MobileSecurityObject) MarshalCBOR() ([]byte, error) {
	var o Map[string, any]
	o.Set("version", m.Version)
	o.Set("digestAlgorithm", m.DigestAlgorithm)
	o.Set("valueDigests", m.ValueDigests)
	o.Set("deviceKeyInfo", m.DeviceKeyInfo)
	o.Set("docType", m.DocType)
	o.Set("validityInfo", m.ValidityInfo)
	if m.Status != nil {
		o.Set("status", m.Status)
	}
	appendRest(&o, m.Other)
	return o.MarshalCBOR()
}

// UnmarshalCBOR decodes an MSO in any key order.
func (m *MobileSecurityObject) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(m, data)
}

func (m *MobileSecurityObject) topMap() bool { return true }

func (m *MobileSecurityObject) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("MobileSecurityObject", data, t); err != nil {
		return err
	}
	f.text("version", &m.Version, true)
	f.text("digestAlgorithm", &m.DigestAlgorithm, true)
	f.own("valueDigests", &m.ValueDigests, true)
	f.own("deviceKeyInfo", &m.DeviceKeyInfo, true)
	f.text("docType", &m.DocType, true)
	f.own("validityInfo", &m.ValidityInfo, true)
	f.raw("status", &m.Status, false)
	if f.err != nil {
		return f.err
	}
	m.Other = f.rest()
	return nil
}

// DecodeMSO decodes the issuerAuth payload: MobileSecurityObjectBytes (#6.24), or for
// lenience a bare MSO map (NotTagged).
func DecodeMSO(payload []byte) (*MobileSecurityObject, error) {
	if len(payload) == 0 {
		return nil, &DecodeError{"MobileSecurityObject", errors.New("empty payload")}
	}
	var mso MobileSecurityObject
	if isTag24(payload) {
		// ParseEncodedCBOR and then decoding its content, with the content walked once
		start, err := encodedContent(payload)
		if err != nil {
			return nil, &DecodeError{"MobileSecurityObjectBytes", err}
		}
		content := payload[start:]
		t, err := wellformedFor(content, &mso)
		if err != nil {
			return nil, &DecodeError{"MobileSecurityObjectBytes", fmt.Errorf("tag 24 content: %w", err)}
		}
		if len(content) > MaxMessageSize {
			return nil, &DecodeError{"MobileSecurityObject", ErrTooLarge}
		}
		item := afterSelfDescribed(content)
		if err := builtinTagsOK(item); err != nil {
			return nil, &DecodeError{"MobileSecurityObject", err}
		}
		if err := mso.decode(bytes.Clone(item), t); err != nil {
			return nil, &DecodeError{"MobileSecurityObject", err}
		}
		return &mso, nil
	}
	if err := decodeAs("MobileSecurityObject", payload, &mso); err != nil {
		return nil, err
	}
	mso.NotTagged = true
	return &mso, nil
}
