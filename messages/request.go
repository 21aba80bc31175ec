package messages

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

// MarshalCBOR writes version, docRequests, deviceRequestInfo, readerAuthAll, extensions.
func (r DeviceRequest) MarshalCBOR() ([]byte, error) { return r.appendCBOR(nil) }

func (r DeviceRequest) appendCBOR(dst []byte) ([]byte, error) {
	var m Map[string, any]
	m.reserve(4)
	m.Set("version", r.Version)
	m.Set("docRequests", r.DocRequests)
	if r.DeviceRequestInfo != nil {
		m.Set("deviceRequestInfo", *r.DeviceRequestInfo)
	}
	if r.ReaderAuthAll != nil {
		m.Set("readerAuthAll", r.ReaderAuthAll)
	}
	appendRest(&m, r.Other)
	return m.appendCBOR(dst)
}

// UnmarshalCBOR decodes a DeviceRequest.
func (r *DeviceRequest) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(r, data)
}

func (r *DeviceRequest) topMap() bool { return true }

func (r *DeviceRequest) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("DeviceRequest", data, t); err != nil {
		return err
	}
	f.text("version", &r.Version, true)
	if raw, ok := f.take("docRequests", false); ok {
		f.fail("docRequests", decodeOwnSlice(raw, f.t, &r.DocRequests))
	} else {
		f.absent("docRequests", true)
	}
	if raw, ok := f.take("deviceRequestInfo", false); ok {
		info := new(EncodedCBOR)
		if f.fail("deviceRequestInfo", info.decode(raw, f.t)) {
			r.DeviceRequestInfo = info
		}
	}
	if raw, ok := f.take("readerAuthAll", false); ok {
		f.fail("readerAuthAll", decodeOwnSlice(raw, f.t, &r.ReaderAuthAll))
	}
	if f.err != nil {
		return f.err
	}
	if len(r.DocRequests) == 0 {
		return errors.New("DeviceRequest: docRequests is empty")
	}
	r.Other = f.rest()
	return nil
}

// DecodeDeviceRequest decodes a DeviceRequest.
func DecodeDeviceRequest(data []byte) (*DeviceRequest, error) {
	return decodeDeviceRequest(data, false)
}

// DecodeDeviceRequestBorrowing is DecodeDeviceRequest whose result may share data's
// memory instead of copying it: data must stay unchanged while the result is in use.
func DecodeDeviceRequestBorrowing(data []byte) (*DeviceRequest, error) {
	return decodeDeviceRequest(data, true)
}

func decodeDeviceRequest(data []byte, borrow bool) (*DeviceRequest, error) {
	var r DeviceRequest
	if err := decodeAsFrom("DeviceRequest", data, &r, borrow); err != nil {
		return nil, err
	}
	return &r, nil
}

// MarshalCBOR writes itemsRequest, readerAuth, extensions.
func (d DocRequest) MarshalCBOR() ([]byte, error) { return d.appendCBOR(nil) }

func (d DocRequest) appendCBOR(dst []byte) ([]byte, error) {
	var m Map[string, any]
	m.reserve(2)
	m.Set("itemsRequest", d.ItemsRequest)
	if d.ReaderAuth != nil {
		m.Set("readerAuth", *d.ReaderAuth)
	}
	appendRest(&m, d.Other)
	return m.appendCBOR(dst)
}

// UnmarshalCBOR decodes a DocRequest.
func (d *DocRequest) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(d, data)
}

func (d *DocRequest) topMap() bool { return true }

func (d *DocRequest) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("DocRequest", data, t); err != nil {
		return err
	}
	f.own("itemsRequest", &d.ItemsRequest, true)
	if raw, ok := f.take("readerAuth", false); ok {
		ra := new(CoseSign1)
		if f.fail("readerAuth", ra.decode(raw, f.t)) {
			d.ReaderAuth = ra
		}
	}
	if f.err != nil {
		return f.err
	}
	d.Other = f.rest()
	return nil
}

// Items decodes the ItemsRequest carried in ItemsRequestBytes.
func (d *DocRequest) Items() (*ItemsRequest, error) {
	var ir ItemsRequest
	if err := d.ItemsRequest.decodeInto(&ir); err != nil {
		return nil, fmt.Errorf("ItemsRequest: %w", err)
	}
	return &ir, nil
}

// MarshalCBOR writes docType, nameSpaces, requestInfo, extensions.
func (ir ItemsRequest) MarshalCBOR() ([]byte, error) { return ir.appendCBOR(nil) }

func (ir ItemsRequest) appendCBOR(dst []byte) ([]byte, error) {
	var m Map[string, any]
	m.reserve(3)
	m.Set("docType", ir.DocType)
	m.Set("nameSpaces", ir.NameSpaces)
	if ir.RequestInfo != nil {
		m.Set("requestInfo", *ir.RequestInfo)
	}
	appendRest(&m, ir.Other)
	return m.appendCBOR(dst)
}

// UnmarshalCBOR decodes an ItemsRequest.
func (ir *ItemsRequest) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(ir, data)
}

func (ir *ItemsRequest) topMap() bool { return true }

func (ir *ItemsRequest) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("ItemsRequest", data, t); err != nil {
		return err
	}
	f.text("docType", &ir.DocType, true)
	f.own("nameSpaces", &ir.NameSpaces, true)
	if raw, ok := f.take("requestInfo", false); ok {
		info := new(Map[string, cbor.RawMessage])
		if f.fail("requestInfo", info.decode(raw, f.t)) {
			ir.RequestInfo = info
		}
	}
	if f.err != nil {
		return f.err
	}
	if ir.DocType == "" {
		return errors.New("ItemsRequest: empty docType")
	}
	ir.Other = f.rest()
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

// MarshalCBOR writes useCases and extensions.
func (d DeviceRequestInfo) MarshalCBOR() ([]byte, error) { return d.appendCBOR(nil) }

func (d DeviceRequestInfo) appendCBOR(dst []byte) ([]byte, error) {
	var m Map[string, any]
	if d.UseCases != nil {
		m.Set("useCases", d.UseCases)
	}
	appendRest(&m, d.Other)
	return m.appendCBOR(dst)
}

// UnmarshalCBOR decodes a DeviceRequestInfo.
func (d *DeviceRequestInfo) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(d, data)
}

func (d *DeviceRequestInfo) topMap() bool { return true }

func (d *DeviceRequestInfo) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("DeviceRequestInfo", data, t); err != nil {
		return err
	}
	f.generic("useCases", &d.UseCases, false)
	if f.err != nil {
		return f.err
	}
	d.Other = f.rest()
	return nil
}

// Validate checks the use cases against the number of DocRequests.
func (d *DeviceRequestInfo) Validate(numDocRequests int) error {
	for i, uc := range d.UseCases {
		if len(uc.DocumentSets) == 0 {
			return fmt.Errorf("useCase %d has no document sets", i)
		}
		for _, set := range uc.DocumentSets {
			if len(set) == 0 {
				return fmt.Errorf("useCase %d has an empty document set", i)
			}
			for _, id := range set {
				if id >= uint64(numDocRequests) {
					return fmt.Errorf("useCase %d names docRequest %d of %d", i, id, numDocRequests)
				}
			}
		}
	}
	return nil
}

// ReaderAuthentication is ["ReaderAuthentication", SessionTranscript, ItemsRequestBytes];
// ReaderAuthenticationBytes wraps it in tag 24.
func ReaderAuthenticationBytes(t SessionTranscript, itemsRequest EncodedCBOR) (EncodedCBOR, error) {
	return EncodeToCBOR([]any{"ReaderAuthentication", t, itemsRequest})
}

// ReaderAuthenticationAllBytes is #6.24(["ReaderAuthenticationAll", SessionTranscript,
// [ItemsRequestBytes...], DeviceRequestInfoBytes / null]).
func ReaderAuthenticationAllBytes(t SessionTranscript, items []EncodedCBOR, info *EncodedCBOR) (EncodedCBOR, error) {
	var i any
	if info != nil {
		i = *info
	}
	if items == nil {
		items = []EncodedCBOR{}
	}
	return EncodeToCBOR([]any{"ReaderAuthenticationAll", t, items, i})
}
