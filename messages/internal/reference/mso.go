package reference

import (
	"errors"

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
	Status          cbor.RawMessage // kept raw
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
	f, err := newFieldMap[string]("DeviceKeyInfo", data)
	if err != nil {
		return err
	}
	var out DeviceKeyInfo
	if f.null("deviceKey") {
		out.DeviceKeyMissing = true
	} else {
		f.req("deviceKey", &out.DeviceKey)
	}
	var ka KeyAuthorizations
	if f.opt("keyAuthorizations", &ka) {
		out.KeyAuthorizations = &ka
	}
	f.opt("keyInfo", &out.KeyInfo)
	if f.err != nil {
		return f.err
	}
	*d = out
	return nil
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
	f, err := newFieldMap[string]("ValidityInfo", data)
	if err != nil {
		return err
	}
	var out ValidityInfo
	f.req("signed", &out.Signed)
	f.req("validFrom", &out.ValidFrom)
	f.req("validUntil", &out.ValidUntil)
	var eu TDate
	if f.opt("expectedUpdate", &eu) {
		out.ExpectedUpdate = &eu
	}
	if f.err != nil {
		return f.err
	}
	*v = out
	return nil
}

// UnmarshalCBOR decodes an MSO in any key order.
func (m *MobileSecurityObject) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("MobileSecurityObject", data)
	if err != nil {
		return err
	}
	var out MobileSecurityObject
	f.req("version", &out.Version)
	f.req("digestAlgorithm", &out.DigestAlgorithm)
	f.req("valueDigests", &out.ValueDigests)
	f.req("deviceKeyInfo", &out.DeviceKeyInfo)
	f.req("docType", &out.DocType)
	f.req("validityInfo", &out.ValidityInfo)
	f.opt("status", &out.Status)
	if f.err != nil {
		return f.err
	}
	out.Other = f.rest()
	*m = out
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
		e, err := ParseEncodedCBOR(payload)
		if err != nil {
			return nil, &DecodeError{"MobileSecurityObjectBytes", err}
		}
		if err := decodeAs("MobileSecurityObject", e.Content(), &mso); err != nil {
			return nil, err
		}
		return &mso, nil
	}
	if err := decodeAs("MobileSecurityObject", payload, &mso); err != nil {
		return nil, err
	}
	mso.NotTagged = true
	return &mso, nil
}
