package reference

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// DeviceResponse status codes (18013-5 Table 8).
const (
	ResponseOK                  = 0
	ResponseGeneralError        = 10
	ResponseCBORDecodingError   = 11
	ResponseCBORValidationError = 12
)

// DeviceResponse is the mdoc's answer (18013-5 §8.3.2.1.2.2, with the 2nd-edition
// zkDocuments and encryptedDocuments kept raw).
type DeviceResponse struct {
	Version            string
	Documents          []Document
	ZkDocuments        []cbor.RawMessage
	EncryptedDocuments []cbor.RawMessage
	DocumentErrors     []Map[string, int64]
	Status             uint64
	Other              Map[string, cbor.RawMessage]
}

// Document is one returned document.
type Document struct {
	DocType      string
	IssuerSigned IssuerSigned
	DeviceSigned *DeviceSigned // mandatory in a DeviceResponse; nil in a bare IssuerSigned use
	Errors       *Map[string, Map[string, int64]]
	Other        Map[string, cbor.RawMessage]
}

// IssuerSigned holds the issuer-signed items and the issuer's COSE_Sign1 over the MSO.
type IssuerSigned struct {
	NameSpaces *Map[string, []EncodedCBOR] // IssuerSignedItemBytes per name space, kept as issued
	IssuerAuth CoseSign1
}

// IssuerSignedItem is one element as issued.
type IssuerSignedItem struct {
	DigestID          uint64          `cbor:"digestID"`
	Random            []byte          `cbor:"random"`
	ElementIdentifier string          `cbor:"elementIdentifier"`
	ElementValue      cbor.RawMessage `cbor:"elementValue"`
}

// UnmarshalCBOR decodes an IssuerSignedItem in any key order. digestID, random,
// elementIdentifier and elementValue are required; random must be a byte string;
// elementValue may be any value, null included. Unknown keys are ignored. Encoding uses
// the struct layout: digestID, random, elementIdentifier, elementValue.
func (it *IssuerSignedItem) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("IssuerSignedItem", data)
	if err != nil {
		return err
	}
	var out IssuerSignedItem
	f.req("digestID", &out.DigestID)
	f.req("random", &out.Random)
	f.req("elementIdentifier", &out.ElementIdentifier)
	f.req("elementValue", &out.ElementValue)
	if f.err != nil {
		return f.err
	}
	*it = out
	return nil
}

// DeviceSigned holds the device-signed name spaces and the device authentication.
type DeviceSigned struct {
	NameSpaces EncodedCBOR // DeviceNameSpacesBytes, kept as received
	DeviceAuth DeviceAuth
}

// DeviceAuth holds exactly one of deviceSignature and deviceMac.
type DeviceAuth struct {
	DeviceSignature *CoseSign1
	DeviceMac       *CoseMac0
}

// MarshalCBOR writes version, documents, zkDocuments, encryptedDocuments, documentErrors, status.
func (r DeviceResponse) MarshalCBOR() ([]byte, error) {
	var m Map[string, any]
	m.Set("version", r.Version)
	if r.Documents != nil {
		m.Set("documents", r.Documents)
	}
	if r.ZkDocuments != nil {
		m.Set("zkDocuments", r.ZkDocuments)
	}
	if r.EncryptedDocuments != nil {
		m.Set("encryptedDocuments", r.EncryptedDocuments)
	}
	if r.DocumentErrors != nil {
		m.Set("documentErrors", r.DocumentErrors)
	}
	m.Set("status", r.Status)
	appendRest(&m, r.Other)
	return m.MarshalCBOR()
}

// UnmarshalCBOR decodes a DeviceResponse.
func (r *DeviceResponse) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("DeviceResponse", data)
	if err != nil {
		return err
	}
	var out DeviceResponse
	f.req("version", &out.Version)
	f.opt("documents", &out.Documents)
	f.opt("zkDocuments", &out.ZkDocuments)
	f.opt("encryptedDocuments", &out.EncryptedDocuments)
	f.opt("documentErrors", &out.DocumentErrors)
	f.req("status", &out.Status)
	if f.err != nil {
		return f.err
	}
	out.Other = f.rest()
	*r = out
	return nil
}

// DecodeDeviceResponse decodes a DeviceResponse.
func DecodeDeviceResponse(data []byte) (*DeviceResponse, error) {
	var r DeviceResponse
	if err := decodeAs("DeviceResponse", data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// MarshalCBOR writes docType, issuerSigned, deviceSigned, errors.
func (d Document) MarshalCBOR() ([]byte, error) {
	var m Map[string, any]
	m.Set("docType", d.DocType)
	m.Set("issuerSigned", d.IssuerSigned)
	if d.DeviceSigned != nil {
		m.Set("deviceSigned", *d.DeviceSigned)
	}
	if d.Errors != nil {
		m.Set("errors", *d.Errors)
	}
	appendRest(&m, d.Other)
	return m.MarshalCBOR()
}

// UnmarshalCBOR decodes a Document. deviceSigned is optional here; the verifier requires it.
func (d *Document) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("Document", data)
	if err != nil {
		return err
	}
	var out Document
	f.req("docType", &out.DocType)
	f.req("issuerSigned", &out.IssuerSigned)
	var ds DeviceSigned
	if f.opt("deviceSigned", &ds) {
		out.DeviceSigned = &ds
	}
	var errs Map[string, Map[string, int64]]
	if f.opt("errors", &errs) {
		out.Errors = &errs
	}
	if f.err != nil {
		return f.err
	}
	out.Other = f.rest()
	*d = out
	return nil
}

// MarshalCBOR writes nameSpaces (when present) then issuerAuth.
func (s IssuerSigned) MarshalCBOR() ([]byte, error) {
	var m Map[string, any]
	if s.NameSpaces != nil && s.NameSpaces.Len() > 0 {
		m.Set("nameSpaces", *s.NameSpaces)
	}
	m.Set("issuerAuth", s.IssuerAuth)
	return m.MarshalCBOR()
}

// UnmarshalCBOR decodes IssuerSigned in any key order.
func (s *IssuerSigned) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("IssuerSigned", data)
	if err != nil {
		return err
	}
	var out IssuerSigned
	var ns Map[string, []EncodedCBOR]
	if f.opt("nameSpaces", &ns) {
		out.NameSpaces = &ns
	}
	f.req("issuerAuth", &out.IssuerAuth)
	if f.err != nil {
		return f.err
	}
	*s = out
	return nil
}

// DecodeIssuerSigned decodes a bare IssuerSigned (as some issuers publish it).
func DecodeIssuerSigned(data []byte) (*IssuerSigned, error) {
	var s IssuerSigned
	if err := decodeAs("IssuerSigned", data, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodeIssuerSignedItem decodes the item inside IssuerSignedItemBytes.
func DecodeIssuerSignedItem(b EncodedCBOR) (*IssuerSignedItem, error) {
	var it IssuerSignedItem
	if err := b.Decode(&it); err != nil {
		return nil, &DecodeError{"IssuerSignedItem", err}
	}
	if it.Random == nil || it.ElementIdentifier == "" || it.ElementValue == nil {
		return nil, &DecodeError{"IssuerSignedItem", errors.New("random, elementIdentifier or elementValue missing")}
	}
	return &it, nil
}

// MarshalCBOR writes nameSpaces then deviceAuth.
func (s DeviceSigned) MarshalCBOR() ([]byte, error) {
	var m Map[string, any]
	m.Set("nameSpaces", s.NameSpaces)
	m.Set("deviceAuth", s.DeviceAuth)
	return m.MarshalCBOR()
}

// UnmarshalCBOR decodes DeviceSigned.
func (s *DeviceSigned) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("DeviceSigned", data)
	if err != nil {
		return err
	}
	var out DeviceSigned
	f.req("nameSpaces", &out.NameSpaces)
	f.req("deviceAuth", &out.DeviceAuth)
	if f.err != nil {
		return f.err
	}
	*s = out
	return nil
}

// DeviceNameSpaces decodes DeviceNameSpacesBytes.
func (s *DeviceSigned) DeviceNameSpaces() (Map[string, Map[string, cbor.RawMessage]], error) {
	var ns Map[string, Map[string, cbor.RawMessage]]
	if err := s.NameSpaces.Decode(&ns); err != nil {
		return ns, fmt.Errorf("DeviceNameSpaces: %w", err)
	}
	return ns, nil
}

// MarshalCBOR writes the one authentication present.
func (a DeviceAuth) MarshalCBOR() ([]byte, error) {
	var m Map[string, any]
	switch {
	case a.DeviceSignature != nil && a.DeviceMac == nil:
		m.Set("deviceSignature", *a.DeviceSignature)
	case a.DeviceMac != nil && a.DeviceSignature == nil:
		m.Set("deviceMac", *a.DeviceMac)
	default:
		return nil, errors.New("DeviceAuth: exactly one of deviceSignature and deviceMac")
	}
	return m.MarshalCBOR()
}

// UnmarshalCBOR decodes DeviceAuth and requires exactly one of its two forms.
func (a *DeviceAuth) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("DeviceAuth", data)
	if err != nil {
		return err
	}
	var out DeviceAuth
	var sig CoseSign1
	var mac CoseMac0
	if f.opt("deviceSignature", &sig) {
		out.DeviceSignature = &sig
	}
	if f.opt("deviceMac", &mac) {
		out.DeviceMac = &mac
	}
	if f.err != nil {
		return f.err
	}
	if (out.DeviceSignature == nil) == (out.DeviceMac == nil) {
		return errors.New("DeviceAuth: exactly one of deviceSignature and deviceMac is required")
	}
	*a = out
	return nil
}

// DeviceAuthenticationBytes is #6.24(["DeviceAuthentication", SessionTranscript, DocType,
// DeviceNameSpacesBytes]), with DeviceNameSpacesBytes exactly as received.
func DeviceAuthenticationBytes(t SessionTranscript, docType string, deviceNameSpaces EncodedCBOR) (EncodedCBOR, error) {
	return EncodeToCBOR([]any{"DeviceAuthentication", t, docType, deviceNameSpaces})
}

// EmptyDeviceNameSpaces is #6.24(<<{}>>).
func EmptyDeviceNameSpaces() EncodedCBOR { return NewEncodedCBOR([]byte{0xa0}) }
