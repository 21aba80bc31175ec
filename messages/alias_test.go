package messages

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

// scribble flips every byte a decoded value exposes for writing: []byte and raw CBOR
// fields, reached through exported fields, pointers, slices and Map values. EncodedCBOR
// is skipped (its bytes are read-only by contract).
func scribble(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			scribble(v.Elem())
		}
	case reflect.Struct:
		name := v.Type().Name()
		switch {
		case name == "EncodedCBOR":
			return
		case strings.HasPrefix(name, "Map["):
			p := reflect.New(v.Type())
			p.Elem().Set(v)
			keys := p.MethodByName("Keys").Call(nil)[0]
			for i := range keys.Len() {
				scribble(p.MethodByName("Get").Call([]reflect.Value{keys.Index(i)})[0])
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				scribble(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := v.Bytes()
			for i := range b {
				b[i] ^= 0xa5
			}
			return
		}
		for i := range v.Len() {
			scribble(v.Index(i))
		}
	}
}

// TestDecodedValuesShareNothing: changing what a decoded value exposes changes neither
// the input nor any other value, the EncodedCBOR items it came from included.
func TestDecodedValuesShareNothing(t *testing.T) {
	inputs := testvectors.WalletResponses(t)
	inputs["annexd"] = testvectors.AnnexD(t, "device_response")
	for _, name := range sortedKeys(inputs) {
		data := bytes.Clone(inputs[name])
		r, err := DecodeDeviceResponse(data)
		if err != nil {
			t.Fatal(name, err)
		}
		var items []EncodedCBOR
		var raws [][]byte
		for _, d := range r.Documents {
			if d.IssuerSigned.NameSpaces != nil {
				for _, its := range d.IssuerSigned.NameSpaces.All() {
					for _, it := range its {
						items, raws = append(items, it), append(raws, bytes.Clone(it.Raw()))
					}
				}
			}
			if d.DeviceSigned != nil {
				items, raws = append(items, d.DeviceSigned.NameSpaces), append(raws, bytes.Clone(d.DeviceSigned.NameSpaces.Raw()))
				ns, err := d.DeviceSigned.DeviceNameSpaces()
				if err != nil {
					t.Fatal(err)
				}
				scribble(reflect.ValueOf(&ns))
			}
			if m, err := DecodeMSO(d.IssuerSigned.IssuerAuth.Payload); err == nil {
				payload := bytes.Clone(d.IssuerSigned.IssuerAuth.Payload)
				scribble(reflect.ValueOf(m))
				if !bytes.Equal(payload, d.IssuerSigned.IssuerAuth.Payload) {
					t.Fatalf("%s: changing the MSO changed the issuerAuth payload", name)
				}
			}
		}
		for _, it := range items[:len(items):len(items)] {
			if v, err := DecodeIssuerSignedItem(it); err == nil {
				scribble(reflect.ValueOf(v))
			}
		}
		// the response's own fields, last: the items must still be as received
		scribble(reflect.ValueOf(r))
		for i, it := range items {
			if !bytes.Equal(it.Raw(), raws[i]) {
				t.Fatalf("%s: item %d changed through a decoded value", name, i)
			}
		}
		if !bytes.Equal(data, inputs[name]) {
			t.Fatalf("%s: the input changed through the decoded value", name)
		}
	}

	// An engagement keeps the bytes it was decoded from apart from its fields.
	for _, data := range [][]byte{testvectors.AnnexD(t, "device_engagement_qr"), mustMarshal(builtEngagement(t))} {
		e, err := DecodeEngagement(data)
		if err != nil {
			t.Fatal(err)
		}
		scribble(reflect.ValueOf(e))
		if !bytes.Equal(e.Raw(), data) {
			t.Fatal("changing an engagement's fields changed its Raw")
		}
	}

	// A DeviceRequest's ItemsRequest, decoded and changed, leaves ItemsRequestBytes alone.
	req, err := DecodeDeviceRequest(testvectors.AnnexD(t, "device_request"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range req.DocRequests {
		raw := bytes.Clone(req.DocRequests[i].ItemsRequest.Raw())
		ir, err := req.DocRequests[i].Items()
		if err != nil {
			t.Fatal(err)
		}
		scribble(reflect.ValueOf(ir))
		scribble(reflect.ValueOf(req.DocRequests[i].ReaderAuth))
		if !bytes.Equal(raw, req.DocRequests[i].ItemsRequest.Raw()) {
			t.Fatal("changing an ItemsRequest changed ItemsRequestBytes")
		}
	}
}

// TestDecodedBytesDoNotGrowIntoNeighbours: appending to a decoded byte slice never
// writes over the bytes that follow it in the message.
func TestDecodedBytesDoNotGrowIntoNeighbours(t *testing.T) {
	is, err := DecodeIssuerSigned(testvectors.AnnexD(t, "issuer_signed"))
	if err != nil {
		t.Fatal(err)
	}
	items, _ := is.NameSpaces.Get("org.iso.18013.5.1")
	raw := bytes.Clone(items[0].Raw())
	it, err := DecodeIssuerSignedItem(items[0])
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Clone(it.ElementValue)
	_ = append(it.Random, 0xee, 0xee, 0xee, 0xee)
	if !bytes.Equal(it.ElementValue, value) || !bytes.Equal(items[0].Raw(), raw) {
		t.Fatal("append to Random overwrote what follows it")
	}
	unprotected := bytes.Clone(is.IssuerAuth.Unprotected)
	_ = append(is.IssuerAuth.Protected, 0xee, 0xee)
	if !bytes.Equal(is.IssuerAuth.Unprotected, unprotected) {
		t.Fatal("append to Protected overwrote what follows it")
	}
}
