package reference

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
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
// elementValue may be any value, null included. Unknown keys are ignored.
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
