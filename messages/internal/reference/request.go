package reference

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// DeviceRequest is the reader's request (18013-5 §8.3.2.1.2.1, with the 2nd-edition
// deviceRequestInfo and readerAuthAll). Unknown keys are kept in Other.
type DeviceRequest struct {
	Version           string
	DocRequests       []DocRequest
	DeviceRequestInfo *EncodedCBOR // #6.24(bstr .cbor DeviceRequestInfo)
	ReaderAuthAll     []CoseSign1
	Other             Map[string, cbor.RawMessage]
}

// DocRequest asks for one document.
type DocRequest struct {
	ItemsRequest EncodedCBOR // ItemsRequestBytes, kept as received (readerAuth covers them)
	ReaderAuth   *CoseSign1
	Other        Map[string, cbor.RawMessage]
}

// ItemsRequest names the doc type and the elements wanted, with intent to retain.
type ItemsRequest struct {
	DocType     string
	NameSpaces  Map[string, Map[string, bool]]
	RequestInfo *Map[string, cbor.RawMessage] // DocRequestInfo (2nd edition), kept raw
	Other       Map[string, cbor.RawMessage]
}

// UnmarshalCBOR decodes a DeviceRequest.
func (r *DeviceRequest) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("DeviceRequest", data)
	if err != nil {
		return err
	}
	var out DeviceRequest
	f.req("version", &out.Version)
	f.req("docRequests", &out.DocRequests)
	var info EncodedCBOR
	if f.opt("deviceRequestInfo", &info) {
		out.DeviceRequestInfo = &info
	}
	f.opt("readerAuthAll", &out.ReaderAuthAll)
	if f.err != nil {
		return f.err
	}
	if len(out.DocRequests) == 0 {
		return errors.New("DeviceRequest: docRequests is empty")
	}
	out.Other = f.rest()
	*r = out
	return nil
}

// DecodeDeviceRequest decodes a DeviceRequest.
func DecodeDeviceRequest(data []byte) (*DeviceRequest, error) {
	var r DeviceRequest
	if err := decodeAs("DeviceRequest", data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// UnmarshalCBOR decodes a DocRequest.
func (d *DocRequest) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("DocRequest", data)
	if err != nil {
		return err
	}
	var out DocRequest
	f.req("itemsRequest", &out.ItemsRequest)
	var ra CoseSign1
	if f.opt("readerAuth", &ra) {
		out.ReaderAuth = &ra
	}
	if f.err != nil {
		return f.err
	}
	out.Other = f.rest()
	*d = out
	return nil
}

// Items decodes the ItemsRequest carried in ItemsRequestBytes.
func (d *DocRequest) Items() (*ItemsRequest, error) {
	var ir ItemsRequest
	if err := d.ItemsRequest.Decode(&ir); err != nil {
		return nil, fmt.Errorf("ItemsRequest: %w", err)
	}
	return &ir, nil
}

// UnmarshalCBOR decodes an ItemsRequest.
func (ir *ItemsRequest) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("ItemsRequest", data)
	if err != nil {
		return err
	}
	var out ItemsRequest
	f.req("docType", &out.DocType)
	f.req("nameSpaces", &out.NameSpaces)
	var info Map[string, cbor.RawMessage]
	if f.opt("requestInfo", &info) {
		out.RequestInfo = &info
	}
	if f.err != nil {
		return f.err
	}
	if out.DocType == "" {
		return errors.New("ItemsRequest: empty docType")
	}
	out.Other = f.rest()
	*ir = out
	return nil
}

// DeviceRequestInfo is the 2nd-edition request-wide information.
type DeviceRequestInfo struct {
	UseCases []UseCase
	Other    Map[string, cbor.RawMessage]
}

// UseCase groups document sets that together satisfy one purpose.
type UseCase struct {
	Mandatory    bool            `cbor:"mandatory"`
	DocumentSets [][]uint64      `cbor:"documentSets"`
	PurposeHints cbor.RawMessage `cbor:"purposeHints,omitempty"`
}

// UnmarshalCBOR decodes a DeviceRequestInfo.
func (d *DeviceRequestInfo) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("DeviceRequestInfo", data)
	if err != nil {
		return err
	}
	var out DeviceRequestInfo
	f.opt("useCases", &out.UseCases)
	if f.err != nil {
		return f.err
	}
	out.Other = f.rest()
	*d = out
	return nil
}
