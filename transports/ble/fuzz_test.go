package ble

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/mdocgate/mdocgate/transports"
)

// FuzzL2CAPFrames: the length-prefix parser never panics, never returns an empty or
// oversized message, does not depend on how the stream is segmented, and gives back
// exactly the messages AppendL2CAPMessage framed.
func FuzzL2CAPFrames(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 1, 'd'}, uint8(1))
	f.Add([]byte{0, 0, 0, 0}, uint8(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1}, uint8(3))
	f.Add(AppendL2CAPMessage(nil, bytes.Repeat([]byte{7}, 300)), uint8(246))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		const limit = 1024
		whole := NewL2CAPParser(limit)
		werr := whole.Feed(data)
		var want [][]byte
		for m, ok := whole.Next(); ok; m, ok = whole.Next() {
			if len(m) == 0 || len(m) > limit {
				t.Fatalf("message of %d bytes", len(m))
			}
			want = append(want, m)
		}
		parts := NewL2CAPParser(limit)
		var got [][]byte
		var perr error
		for rest := data; len(rest) > 0 && perr == nil; {
			n := min(int(cut)+1, len(rest))
			perr = parts.Feed(rest[:n])
			rest = rest[n:]
			for m, ok := parts.Next(); ok; m, ok = parts.Next() {
				got = append(got, m)
			}
		}
		if (werr == nil) != (perr == nil) || len(got) != len(want) {
			t.Fatalf("segmentation changed the result: %v/%v, %d/%d messages", werr, perr, len(want), len(got))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("message %d differs", i)
			}
		}
		if werr != nil && !errors.Is(werr, transports.ErrBadFrame) && !errors.Is(werr, transports.ErrMessageLimit) {
			t.Fatalf("unexpected error %v", werr)
		}
		// Round trip: cut data into messages of cut+1 bytes and frame them.
		var stream []byte
		var msgs [][]byte
		for rest := data; len(rest) > 0; {
			n := min(int(cut)+1, len(rest))
			msgs = append(msgs, rest[:n])
			stream = AppendL2CAPMessage(stream, rest[:n])
			rest = rest[n:]
		}
		rt := NewL2CAPParser(limit)
		if err := rt.Feed(stream); err != nil {
			t.Fatal(err)
		}
		for i, m := range msgs {
			g, ok := rt.Next()
			if !ok || !bytes.Equal(g, m) {
				t.Fatalf("round trip message %d", i)
			}
		}
		if rt.Pending() {
			t.Fatal("parser left pending")
		}
		if len(data) >= 4 && binary.BigEndian.Uint32(data) > limit && werr == nil {
			t.Fatal("oversized declared length accepted")
		}
	})
}

// FuzzBLEChunks sends a message through a simulated GATT connection the way the link
// actor does (ChunkFramer at min(MTU−3, 512)) and reassembles it; arbitrary frames fed
// to the reassembler never panic nor exceed its limit.
func FuzzBLEChunks(f *testing.F) {
	f.Add([]byte("hello"), uint16(23))
	f.Add(bytes.Repeat([]byte{1}, 1000), uint16(185))
	f.Add(bytes.Repeat([]byte{2}, 513), uint16(517))
	f.Add([]byte{0x01, 0x00, 0x02}, uint16(0))
	s := NewSim(SimConfig{QueueLen: 256})
	f.Fuzz(func(t *testing.T, msg []byte, mtu uint16) {
		if len(msg) > 4096 {
			msg = msg[:4096]
		}
		// Arbitrary bytes as frames of 3.
		r := transports.ChunkFramer{}.NewReassembler(64)
		for rest := msg; len(rest) > 0; {
			n := min(3, len(rest))
			out, err := r.Feed(rest[:n])
			if err == nil && out != nil && (len(out) == 0 || len(out) > 64) {
				t.Fatalf("reassembled %d bytes", len(out))
			}
			rest = rest[n:]
		}
		if len(msg) == 0 {
			return
		}
		ctx := context.Background()
		u := NewUUID()
		p, err := s.NewAdapter(DeviceConfig{}).Advertise(ctx, Service{UUID: u, Characteristics: []CharacteristicConfig{
			{UUID: PeripheralServerChars.Client2Server, Props: PropWriteWithoutResponse}}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		c, err := s.NewAdapter(DeviceConfig{}).Connect(ctx, u, int(mtu))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Disconnect()
		sc, _ := p.Accept(ctx)
		ch, _ := c.Characteristic(ctx, u, PeripheralServerChars.Client2Server)
		frames, err := transports.ChunkFramer{}.Fragment(msg, MaxValueFor(c.MTU()))
		if err != nil {
			t.Fatal(err)
		}
		re := transports.ChunkFramer{}.NewReassembler(4096)
		for _, fr := range frames {
			if err := ch.WriteWithoutResponse(ctx, fr); err != nil {
				t.Fatalf("write of %d bytes at MTU %d: %v", len(fr), c.MTU(), err)
			}
			v, err := sc.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out, err := re.Feed(v.Data)
			if err != nil {
				t.Fatal(err)
			}
			if out != nil && !bytes.Equal(out, msg) {
				t.Fatal("reassembled message differs")
			}
		}
	})
}
