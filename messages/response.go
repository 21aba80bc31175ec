package messages

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
	return unmarshalOwn(it, data)
}

func (it *IssuerSignedItem) topMap() bool { return true }

func (it *IssuerSignedItem) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("IssuerSignedItem", data, t); err != nil {
		return err
	}
	f.uint("digestID", &it.DigestID, true)
	f.bytes("random", &it.Random, true)
	f.text("elementIdentifier", &it.ElementIdentifier, true)
	f.raw("elementValue", &it.ElementValue, true)
	return f.err
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
func (r DeviceResponse) MarshalCBOR() ([]byte, error) { return r.appendCBOR(nil) }

func (r DeviceResponse) appendCBOR(dst []byte) ([]byte, error) {
	var m Map[string, any]
	m.reserve(6)
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
	return m.appendCBOR(dst)
}

// UnmarshalCBOR decodes a DeviceResponse.
func (r *DeviceResponse) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(r, data)
}

func (r *DeviceResponse) topMap() bool { return true }

func (r *DeviceResponse) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("DeviceResponse", data, t); err != nil {
		return err
	}
	f.text("version", &r.Version, true)
	if raw, ok := f.take("documents", false); ok {
		f.fail("documents", decodeOwnSlice(raw, f.t, &r.Documents))
	}
	f.generic("zkDocuments", &r.ZkDocuments, false)
	f.generic("encryptedDocuments", &r.EncryptedDocuments, false)
	f.generic("documentErrors", &r.DocumentErrors, false)
	f.uint("status", &r.Status, true)
	if f.err != nil {
		return f.err
	}
	r.Other = f.rest()
	return nil
}

// DecodeDeviceResponse decodes a DeviceResponse.
func DecodeDeviceResponse(data []byte) (*DeviceResponse, error) {
	return decodeDeviceResponse(data, false)
}

// DecodeDeviceResponseBorrowing is DecodeDeviceResponse whose result may share data's
// memory instead of copying it: data must stay unchanged while the result is in use.
func DecodeDeviceResponseBorrowing(data []byte) (*DeviceResponse, error) {
	return decodeDeviceResponse(data, true)
}

func decodeDeviceResponse(data []byte, borrow bool) (*DeviceResponse, error) {
	var r DeviceResponse
	if err := decodeAsFrom("DeviceResponse", data, &r, borrow); err != nil {
		return nil, err
	}
	return &r, nil
}

// MarshalCBOR writes docType, issuerSigned, deviceSigned, errors.
func (d Document) MarshalCBOR() ([]byte, error) { return d.appendCBOR(nil) }

func (d Document) appendCBOR(dst []byte) ([]byte, error) {
	var m Map[string, any]
	m.reserve(4)
	m.Set("docType", d.DocType)
	m.Set("issuerSigned", d.IssuerSigned)
	if d.DeviceSigned != nil {
		m.Set("deviceSigned", *d.DeviceSigned)
	}
	if d.Errors != nil {
		m.Set("errors", *d.Errors)
	}
	appendRest(&m, d.Other)
	return m.appendCBOR(dst)
}

// UnmarshalCBOR decodes a Document. deviceSigned is optional here; the verifier requires it.
func (d *Document) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(d, data)
}

func (d *Document) topMap() bool { return true }

func (d *Document) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("Document", data, t); err != nil {
		return err
	}
	f.text("docType", &d.DocType, true)
	f.own("issuerSigned", &d.IssuerSigned, true)
	if raw, ok := f.take("deviceSigned", false); ok {
		ds := new(DeviceSigned)
		if f.fail("deviceSigned", ds.decode(raw, f.t)) {
			d.DeviceSigned = ds
		}
	}
	if raw, ok := f.take("errors", false); ok {
		errs := new(Map[string, Map[string, int64]])
		if f.fail("errors", errs.decode(raw, f.t)) {
			d.Errors = errs
		}
	}
	if f.err != nil {
		return f.err
	}
	d.Other = f.rest()
	return nil
}

// MarshalCBOR writes nameSpaces (when present) then issuerAuth.
func (s IssuerSigned) MarshalCBOR() ([]byte, error) { return s.appendCBOR(nil) }

func (s IssuerSigned) appendCBOR(dst []byte) ([]byte, error) {
	var m Map[string, any]
	m.reserve(2)
	if s.NameSpaces != nil && s.NameSpaces.Len() > 0 {
		m.Set("nameSpaces", *s.NameSpaces)
	}
	m.Set("issuerAuth", s.IssuerAuth)
	return m.appendCBOR(dst)
}

// UnmarshalCBOR decodes IssuerSigned in any key order.
func (s *IssuerSigned) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(s, data)
}

func (s *IssuerSigned) topMap() bool { return true }

func (s *IssuerSigned) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("IssuerSigned", data, t); err != nil {
		return err
	}
	if raw, ok := f.take("nameSpaces", false); ok {
		ns := new(Map[string, []EncodedCBOR])
		if f.fail("nameSpaces", ns.decode(raw, f.t)) {
			s.NameSpaces = ns
		}
	}
	f.own("issuerAuth", &s.IssuerAuth, true)
	return f.err
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
	if err := b.decodeInto(&it); err != nil {
		return nil, &DecodeError{"IssuerSignedItem", err}
	}
	if it.Random == nil || it.ElementIdentifier == "" || it.ElementValue == nil {
		return nil, &DecodeError{"IssuerSignedItem", errors.New("random, elementIdentifier or elementValue missing")}
	}
	return &it, nil
}

// MarshalCBOR writes nameSpaces then deviceAuth.
func (s DeviceSigned) MarshalCBOR() ([]byte, error) { return s.appendCBOR(nil) }

func (s DeviceSigned) appendCBOR(dst []byte) ([]byte, error) {
	var m Map[string, any]
	m.reserve(2)
	m.Set("nameSpaces", s.NameSpaces)
	m.Set("deviceAuth", s.DeviceAuth)
	return m.appendCBOR(dst)
}

// UnmarshalCBOR decodes DeviceSigned.
func (s *DeviceSigned) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(s, data)
}

func (s *DeviceSigned) topMap() bool { return true }

func (s *DeviceSigned) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("DeviceSigned", data, t); err != nil {
		return err
	}
	f.own("nameSpaces", &s.NameSpaces, true)
	f.own("deviceAuth", &s.DeviceAuth, true)
	return f.err
}

// DeviceNameSpaces decodes DeviceNameSpacesBytes.
func (s *DeviceSigned) DeviceNameSpaces() (Map[string, Map[string, cbor.RawMessage]], error) {
	var ns Map[string, Map[string, cbor.RawMessage]]
	if err := s.NameSpaces.decodeInto(&ns); err != nil {
		return ns, fmt.Errorf("DeviceNameSpaces: %w", err)
	}
	return ns, nil
}

// MarshalCBOR writes the one authentication present.
func (a DeviceAuth) MarshalCBOR() ([]byte, error) { return a.appendCBOR(nil) }

func (a DeviceAuth) appendCBOR(dst []byte) ([]byte, error) {
	var m Map[string, any]
	switch {
	case a.DeviceSignature != nil && a.DeviceMac == nil:
		m.Set("deviceSignature", *a.DeviceSignature)
	case a.DeviceMac != nil && a.DeviceSignature == nil:
		m.Set("deviceMac", *a.DeviceMac)
	default:
		return nil, errors.New("DeviceAuth: exactly one of deviceSignature and deviceMac")
	}
	return m.appendCBOR(dst)
}

// UnmarshalCBOR decodes DeviceAuth and requires exactly one of its two forms.
func (a *DeviceAuth) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(a, data)
}

func (a *DeviceAuth) topMap() bool { return true }

func (a *DeviceAuth) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("DeviceAuth", data, t); err != nil {
		return err
	}
	if raw, ok := f.take("deviceSignature", false); ok {
		sig := new(CoseSign1)
		if f.fail("deviceSignature", sig.decode(raw, f.t)) {
			a.DeviceSignature = sig
		}
	}
	if raw, ok := f.take("deviceMac", false); ok {
		mac := new(CoseMac0)
		if f.fail("deviceMac", mac.decode(raw, f.t)) {
			a.DeviceMac = mac
		}
	}
	if f.err != nil {
		return f.err
	}
	if (a.DeviceSignature == nil) == (a.DeviceMac == nil) {
		return errors.New("DeviceAuth: exactly one of deviceSignature and deviceMac is required")
	}
	return nil
}

// DeviceAuthenticationBytes is #6.24(["DeviceAuthentication", SessionTranscript, DocType,
// DeviceNameSpacesBytes]), with DeviceNameSpacesBytes exactly as received.
func DeviceAuthenticationBytes(t SessionTranscript, docType string, deviceNameSpaces EncodedCBOR) (EncodedCBOR, error) {
	return EncodeToCBOR([]any{"DeviceAuthentication", t, docType, deviceNameSpaces})
}

// EmptyDeviceNameSpaces is #6.24(<<{}>>).
func EmptyDeviceNameSpaces() EncodedCBOR { return NewEncodedCBOR([]byte{0xa0}) }
