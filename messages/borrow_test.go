package messages

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"unsafe"

	"github.com/mdocgate/mdocgate/internal/testvectors"
)

// within reports whether b lies inside data's memory.
func within(b, data []byte) bool {
	if len(b) == 0 || len(data) == 0 {
		return false
	}
	p, start := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	return p >= start && p+uintptr(len(b)) <= start+uintptr(len(data))
}

// TestBorrowingDecodersMatch: every Decode*Borrowing function accepts and refuses what
// its copying twin does, with the same values and errors, and its result really shares
// the input's memory (while the twin's does not).
func TestBorrowingDecodersMatch(t *testing.T) {
	inputs := allVectors(t)
	ct := bytes.Repeat([]byte{0x5a}, 300)
	inputs = append(inputs, mustMarshal(SessionData{Data: ct}), mustMarshal(NewSessionStatus(20)),
		[]byte{0xa1, 0x64, 'd', 'a', 't', 'a', 0x41}, []byte{0xa0}, nil)
	for _, data := range inputs {
		for _, pair := range []struct {
			name       string
			copy, lend func([]byte) (any, error)
		}{
			{"DeviceResponse", func(b []byte) (any, error) { return DecodeDeviceResponse(b) },
				func(b []byte) (any, error) { return DecodeDeviceResponseBorrowing(b) }},
			{"DeviceRequest", func(b []byte) (any, error) { return DecodeDeviceRequest(b) },
				func(b []byte) (any, error) { return DecodeDeviceRequestBorrowing(b) }},
			{"SessionData", func(b []byte) (any, error) { return DecodeSessionData(b) },
				func(b []byte) (any, error) { return DecodeSessionDataBorrowing(b) }},
		} {
			want, wantErr := pair.copy(bytes.Clone(data))
			got, gotErr := pair.lend(bytes.Clone(data))
			if (wantErr == nil) != (gotErr == nil) || wantErr != nil && wantErr.Error() != gotErr.Error() {
				t.Fatalf("%s of % x: borrowing gave %v, copying %v", pair.name, data[:min(len(data), 16)], gotErr, wantErr)
			}
			if wantErr == nil && !reflect.DeepEqual(want, got) {
				t.Fatalf("%s: borrowing decoded another value", pair.name)
			}
		}
	}

	data := mustMarshal(SessionData{Data: ct})
	lent, err := DecodeSessionDataBorrowing(data)
	if err != nil || !within(lent.Data, data) {
		t.Fatalf("borrowed SessionData does not share the input (err %v)", err)
	}
	copied, err := DecodeSessionData(data)
	if err != nil || within(copied.Data, data) {
		t.Fatalf("copied SessionData shares the input (err %v)", err)
	}
	resp := testvectors.AnnexD(t, "device_response")
	r, err := DecodeDeviceResponseBorrowing(resp)
	if err != nil || !within(r.Documents[0].IssuerSigned.IssuerAuth.Signature, resp) {
		t.Fatalf("borrowed DeviceResponse does not share the input (err %v)", err)
	}
}

// TestAppendSessionDataHead: the head plus the data is Marshal's SessionData, for every
// length class of the byte string's head.
func TestAppendSessionDataHead(t *testing.T) {
	for _, n := range []int{1, 23, 24, 255, 256, 65535, 65536} {
		data := bytes.Repeat([]byte{7}, n)
		want := mustMarshal(SessionData{Data: data})
		head := AppendSessionDataHead([]byte("prefix"), n)
		if len(head)-len("prefix") > SessionDataHeadMax {
			t.Fatalf("%d: head of %d bytes is over SessionDataHeadMax", n, len(head)-len("prefix"))
		}
		if got := append(head, data...); !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("%d: head+data differs from Marshal", n)
		}
	}
}

// TestMarshalTransient: use sees Marshal's encoding and its result and error come back;
// an encoding error comes back without use being called.
func TestMarshalTransient(t *testing.T) {
	v := SessionData{Data: []byte{1, 2, 3}}
	want := mustMarshal(v)
	got, err := MarshalTransient(v, func(enc []byte) ([]byte, error) {
		if !bytes.Equal(enc, want) {
			t.Fatalf("use saw % x, want % x", enc, want)
		}
		return append([]byte("kept:"), enc...), nil
	})
	if err != nil || !bytes.Equal(got, append([]byte("kept:"), want...)) {
		t.Fatalf("got % x, %v", got, err)
	}
	boom := errors.New("boom")
	if _, err := MarshalTransient(v, func([]byte) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("use's error lost: %v", err)
	}
	called := false
	if _, err := MarshalTransient(SessionTranscript{}, func([]byte) ([]byte, error) { called = true; return nil, nil }); err == nil || called {
		t.Fatalf("an encoding error must stop before use (err %v, called %v)", err, called)
	}
}

// TestSigAndMACStructure: both are Marshal's encoding of the COSE arrays, for every
// length class of protected header and payload.
func TestSigAndMACStructure(t *testing.T) {
	for _, np := range []int{0, 3, 24} {
		for _, n := range []int{0, 23, 24, 255, 256, 65536} {
			protected, payload := bytes.Repeat([]byte{0xa1}, np), bytes.Repeat([]byte{9}, n)
			if got, want := SigStructure(protected, payload), mustMarshal([]any{"Signature1", protected, []byte{}, payload}); !bytes.Equal(got, want) {
				t.Fatalf("Sig_structure %d/%d: % x, want % x", np, n, got[:min(len(got), 24)], want[:min(len(want), 24)])
			}
			if got, want := MACStructure(protected, payload), mustMarshal([]any{"MAC0", protected, []byte{}, payload}); !bytes.Equal(got, want) {
				t.Fatalf("MAC_structure %d/%d differs", np, n)
			}
		}
	}
	if !bytes.Equal(SigStructure(nil, []byte{1}), SigStructure([]byte{}, []byte{1})) {
		t.Fatal("a nil protected header must be the empty one")
	}
}
