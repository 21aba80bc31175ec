package nfc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/handoff"
	"github.com/mdocgate/mdocgate/transports/nfc/apdu"
	"github.com/mdocgate/mdocgate/transports/nfc/ndef"
)

// ReaderOptions are the reader's side of engagement and data retrieval.
type ReaderOptions struct {
	// Prefer is the reader's carrier preference, best first (default NFC, then the
	// carriers of Handoff). It orders the Hr's carriers and the choice in a static Hs. A
	// choice other than NFC needs Handoff to allow it, or ends with ErrNoNFCCarrier.
	Prefer []ndef.Kind
	// Handoff, when set, lets sessions continue on BLE or Wi-Fi Aware when that is what
	// the mdoc selects or offers (its Allowed carriers, its radio).
	Handoff *handoff.Reader
	// MaxCommand and MaxResponse are the reader's own limits on command and response
	// data (default 65535 and 65536); the smaller of these and the mdoc's are used.
	MaxCommand, MaxResponse int
	// ReaderEngagement, when set, is put in the Hr as a readerengagement record.
	ReaderEngagement []byte
	// MaxMessage bounds a session message from the mdoc (default messages.MaxMessageSize).
	MaxMessage int
	// Extended says when data retrieval uses extended-length APDUs (default ExtendedAuto).
	Extended ExtendedMode
}

// ExtendedMode says when a reader uses extended-length APDUs for data retrieval (the
// extended_apdu setting of a lane). Whatever the mode, extended APDUs are used only when
// the mdoc's NFC carrier sizes and the reader's own exceed the short limits (255-byte
// commands, 256-byte responses).
type ExtendedMode string

// Extended-length modes.
const (
	// ExtendedAuto probes: the mdoc application is selected with an extended-length
	// SELECT; when the reader cannot send it or the mdoc refuses it, the reader selects
	// again with a short SELECT and uses short APDUs.
	ExtendedAuto ExtendedMode = "auto"
	// ExtendedOn uses extended APDUs whenever the sizes allow, without a probe.
	ExtendedOn ExtendedMode = "on"
	// ExtendedOff uses short APDUs only: command chaining and GET RESPONSE.
	ExtendedOff ExtendedMode = "off"
)

// ParseExtendedMode reads auto, on or off ("" is auto).
func ParseExtendedMode(s string) (ExtendedMode, error) {
	switch m := ExtendedMode(s); m {
	case "":
		return ExtendedAuto, nil
	case ExtendedAuto, ExtendedOn, ExtendedOff:
		return m, nil
	}
	return "", fmt.Errorf("extended-length mode %q: want auto, on or off", s)
}

func (o *ReaderOptions) defaults() {
	if o.Extended == "" {
		o.Extended = ExtendedAuto
	}
	if len(o.Prefer) == 0 {
		o.Prefer = []ndef.Kind{ndef.KindNFC}
		if o.Handoff != nil {
			for _, k := range o.Handoff.Allowed {
				if ck := carrierOf(k); !containsKind(o.Prefer, ck) {
					o.Prefer = append(o.Prefer, ck)
				}
			}
		}
	}
	if o.MaxCommand <= 0 {
		o.MaxCommand = apdu.MaxExtendedData
	}
	if o.MaxResponse <= 0 {
		o.MaxResponse = apdu.MaxExtendedNe
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = messages.MaxMessageSize
	}
}

// Engagement is what NFC engagement produced on the reader's side.
type Engagement struct {
	Negotiated       bool
	HandoverSelect   []byte
	HandoverRequest  []byte // nil for static handover
	DeviceEngagement []byte
	Carrier          ndef.Kind       // the selected carrier
	NFC              ndef.NFCCarrier // the mdoc's sizes (NFC)
	// Target is where the session continues when the carrier is not NFC (hand-off).
	Target   *handoff.Target
	Handover cbor.RawMessage // messages.NFCHandover(hs, hr or nil)
	// Extended is set by SelectData when data retrieval uses extended-length APDUs.
	Extended bool
}

// SelectData selects the data retrieval application on t after engagement e, choosing
// short or extended-length APDUs as o.Extended says (see ExtendedMode); e.Extended
// records the choice.
func SelectData(ctx context.Context, t apdu.Transceiver, e *Engagement, o ReaderOptions) error {
	o.defaults()
	r := &apdu.Reader{T: t, MaxCommand: min(o.MaxCommand, e.NFC.MaxCommand), MaxResponse: min(o.MaxResponse, e.NFC.MaxResponse)}
	e.Extended = false
	if !r.Extended() || o.Extended == ExtendedOff {
		return r.SelectMdoc(ctx)
	}
	if o.Extended == ExtendedOn {
		e.Extended = true
		return r.SelectMdoc(ctx)
	}
	if ok, _ := r.ProbeExtended(ctx); ok {
		e.Extended = true
		return nil
	}
	// refused by the mdoc, or the reader could not send it: short APDUs (a card that
	// is gone fails this SELECT too)
	return r.SelectMdoc(ctx)
}

// engagementStep wraps an error with the step of engagement that failed.
func engagementStep(step string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrEngagement, step, err)
}

func xmit(ctx context.Context, t apdu.Transceiver, step string, c apdu.Command, want uint16) (apdu.Response, error) {
	b, err := c.Encode()
	if err != nil {
		return apdu.Response{}, engagementStep(step, err)
	}
	out, err := t.Transmit(ctx, b)
	if err != nil {
		return apdu.Response{}, engagementStep(step, err)
	}
	r, err := apdu.ParseResponse(out)
	if err != nil {
		return r, engagementStep(step, err)
	}
	if r.SW != want {
		return r, engagementStep(step, &apdu.StatusError{Step: step, SW: r.SW})
	}
	return r, nil
}

// Engage runs NFC engagement against the tag on t: SELECT of the NDEF application, the
// Capability Container, the NDEF file; then for a Tp (negotiated handover) TNEP service
// select, Handover Request and the Hs answer (with waiting-time extensions), otherwise
// the static Hs. The carrier is the reader's most preferred one the Hs offers.
func Engage(ctx context.Context, t apdu.Transceiver, o ReaderOptions) (*Engagement, error) {
	o.defaults()
	if _, err := xmit(ctx, t, "SELECT NDEF application", apdu.SelectAID(ndefAID), apdu.SWOK); err != nil {
		return nil, err
	}
	if _, err := xmit(ctx, t, "SELECT CC file", apdu.SelectFile(fileCC), apdu.SWOK); err != nil {
		return nil, err
	}
	cc, err := xmit(ctx, t, "READ CC file", apdu.ReadBinary(0, 15), apdu.SWOK)
	if err != nil {
		return nil, err
	}
	if len(cc.Data) < 15 || cc.Data[7] != 0x04 || cc.Data[8] != 0x06 {
		return nil, engagementStep("READ CC file", fmt.Errorf("%w: CC %X", apdu.ErrMalformed, cc.Data))
	}
	mle := int(binary.BigEndian.Uint16(cc.Data[3:]))
	mlc := int(binary.BigEndian.Uint16(cc.Data[5:]))
	fileID := binary.BigEndian.Uint16(cc.Data[9:])
	maxFile := int(binary.BigEndian.Uint16(cc.Data[11:]))
	tag := &t4t{t: t, mle: min(max(mle, 15), 255), mlc: min(max(mlc, 13), 255), maxFile: maxFile}
	if _, err := xmit(ctx, t, "SELECT NDEF file", apdu.SelectFile(fileID), apdu.SWOK); err != nil {
		return nil, err
	}
	first, err := tag.read(ctx, "READ NDEF file")
	if err != nil {
		return nil, err
	}
	m, err := ndef.Parse(first)
	if err != nil {
		return nil, engagementStep("initial NDEF message", err)
	}
	e := &Engagement{}
	if m[0].Is(ndef.TNFWellKnown, ndef.TypeServiceParameter) {
		e.Negotiated = true
		if err := tag.negotiate(ctx, e, m, o); err != nil {
			return nil, err
		}
	} else {
		e.HandoverSelect = first
	}
	if err := e.choose(o); err != nil {
		return nil, err
	}
	e.Handover = messages.NFCHandover(e.HandoverSelect, e.HandoverRequest)
	return e, nil
}

// choose picks the carrier and reads the DeviceEngagement and the NFC sizes.
func (e *Engagement) choose(o ReaderOptions) error {
	hs, err := ndef.ParseHandover(e.HandoverSelect)
	if err != nil {
		return engagementStep("Handover Select", err)
	}
	if !hs.Select {
		return engagementStep("Handover Select", fmt.Errorf("%w: not an Hs", ndef.ErrMalformed))
	}
	if e.Negotiated && len(hs.Carriers) != 1 {
		return engagementStep("Handover Select", fmt.Errorf("%w: %d carriers selected, want 1", ndef.ErrMalformed, len(hs.Carriers)))
	}
	de, ok := hs.DeviceEngagement()
	if !ok {
		return engagementStep("Handover Select", fmt.Errorf("%w: no deviceengagement record", ndef.ErrNotFound))
	}
	if _, err := messages.DecodeEngagement(de); err != nil {
		return engagementStep("DeviceEngagement", err)
	}
	e.DeviceEngagement = de
	offered := map[ndef.Kind]*ndef.Record{}
	for _, a := range hs.Carriers {
		if r, ok := hs.Carrier(a); ok && ndef.KindOf(r) != "" && a.CPS != ndef.CPSInactive {
			if _, dup := offered[ndef.KindOf(r)]; !dup {
				offered[ndef.KindOf(r)] = r
			}
		}
	}
	for _, k := range o.Prefer {
		if r, ok := offered[k]; ok {
			e.Carrier = k
			if k != ndef.KindNFC {
				if o.Handoff == nil {
					return engagementStep("carrier selection", fmt.Errorf("%w (reader chose %s)", ErrNoNFCCarrier, k))
				}
				t, err := handoff.FromHandover(de, e.HandoverSelect, e.HandoverRequest, kindsOf(o.Handoff.Allowed, k), o.Handoff.L2CAP)
				if errors.Is(err, handoff.ErrNoCarrier) {
					continue // offered, but not in a way this reader may use
				}
				if err != nil {
					return engagementStep("hand-off", err)
				}
				e.Target = &t
				return nil
			}
			c, err := ndef.ParseNFCCarrier(r.Payload)
			if err != nil {
				return engagementStep("NFC carrier record", err)
			}
			if !c.HasSizes {
				c = ndef.NFCCarrier{MaxCommand: apdu.MaxShortData, MaxResponse: apdu.MaxShortNe, HasSizes: true}
			}
			e.NFC = c
			return nil
		}
	}
	return engagementStep("carrier selection", ErrNoNFCCarrier)
}

// carrierOf is the carrier record kind of a hand-off carrier.
func carrierOf(k handoff.Kind) ndef.Kind {
	if k == handoff.WiFiAware {
		return ndef.KindWiFiAware
	}
	return ndef.KindBLE
}

// kindsOf returns the hand-off carriers of allowed that have records of kind ck.
func kindsOf(allowed []handoff.Kind, ck ndef.Kind) []handoff.Kind {
	var out []handoff.Kind
	for _, k := range allowed {
		if carrierOf(k) == ck {
			out = append(out, k)
		}
	}
	return out
}

// t4t reads and writes the NDEF file of a Type 4 Tag with short APDUs.
type t4t struct {
	t        apdu.Transceiver
	mle, mlc int
	maxFile  int
}

// read returns the NDEF message in the file (nil when NLEN is 0).
func (g *t4t) read(ctx context.Context, step string) ([]byte, error) {
	r, err := xmit(ctx, g.t, step, apdu.ReadBinary(0, 2), apdu.SWOK)
	if err != nil {
		return nil, err
	}
	if len(r.Data) != 2 {
		return nil, engagementStep(step, fmt.Errorf("%w: NLEN of %d bytes", apdu.ErrMalformed, len(r.Data)))
	}
	n := int(binary.BigEndian.Uint16(r.Data))
	if n > g.maxFile-2 || n > ndefFileSize {
		return nil, engagementStep(step, fmt.Errorf("%w: NLEN %d", apdu.ErrTooLarge, n))
	}
	msg := make([]byte, 0, n)
	for len(msg) < n {
		want := min(g.mle, n-len(msg))
		r, err := xmit(ctx, g.t, step, apdu.ReadBinary(2+len(msg), want), apdu.SWOK)
		if err != nil {
			return nil, err
		}
		if len(r.Data) == 0 || len(r.Data) > want {
			return nil, engagementStep(step, fmt.Errorf("%w: read %d bytes, asked %d", apdu.ErrMalformed, len(r.Data), want))
		}
		msg = append(msg, r.Data...)
	}
	if n == 0 {
		return nil, nil
	}
	return msg, nil
}

// write stores msg with the T4T NDEF write procedure (NLEN 0, data, NLEN).
func (g *t4t) write(ctx context.Context, step string, msg []byte) error {
	if len(msg)+2 <= g.mlc {
		_, err := xmit(ctx, g.t, step, apdu.UpdateBinary(0, append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)), apdu.SWOK)
		return err
	}
	if _, err := xmit(ctx, g.t, step, apdu.UpdateBinary(0, []byte{0, 0}), apdu.SWOK); err != nil {
		return err
	}
	for off := 0; off < len(msg); off += g.mlc {
		end := min(off+g.mlc, len(msg))
		if _, err := xmit(ctx, g.t, step, apdu.UpdateBinary(2+off, msg[off:end]), apdu.SWOK); err != nil {
			return err
		}
	}
	_, err := xmit(ctx, g.t, step, apdu.UpdateBinary(0, binary.BigEndian.AppendUint16(nil, uint16(len(msg)))), apdu.SWOK)
	return err
}

// readAnswer reads the tag's answer to a write, waiting the Tp's minimum waiting time
// before each read and accepting up to N_wait empty reads.
func (g *t4t) readAnswer(ctx context.Context, step string, sp ndef.ServiceParameter) ([]byte, error) {
	wait := sp.MinWait()
	for i := 0; ; i++ {
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, engagementStep(step, err)
		}
		msg, err := g.read(ctx, step)
		if err != nil {
			return nil, err
		}
		if msg != nil {
			return msg, nil
		}
		if i >= int(sp.NWait) {
			return nil, engagementStep(step, fmt.Errorf("no answer after %d waiting time extensions", sp.NWait))
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// negotiate runs TNEP: Ts for the handover service, Te, then Hr and the Hs.
func (g *t4t) negotiate(ctx context.Context, e *Engagement, initial ndef.Message, o ReaderOptions) error {
	var sp ndef.ServiceParameter
	found := false
	for _, r := range initial {
		if r.Is(ndef.TNFWellKnown, ndef.TypeServiceParameter) {
			p, err := ndef.ParseServiceParameter(r.Payload)
			if err == nil && p.URI == ndef.ServiceHandover {
				sp, found = p, true
				break
			}
		}
	}
	if !found {
		return engagementStep("TNEP", fmt.Errorf("%w: no %s service", ndef.ErrNotFound, ndef.ServiceHandover))
	}
	if err := g.write(ctx, "TNEP service select", ndef.Message{ndef.ServiceSelectRecord(ndef.ServiceHandover)}.MustEncode()); err != nil {
		return err
	}
	st, err := g.readAnswer(ctx, "TNEP status", sp)
	if err != nil {
		return err
	}
	sm, err := ndef.Parse(st)
	if err != nil || !sm[0].Is(ndef.TNFWellKnown, ndef.TypeStatus) {
		return engagementStep("TNEP status", fmt.Errorf("%w: no Te record (%v)", ndef.ErrMalformed, err))
	}
	if s, err := ndef.ParseStatus(sm[0].Payload); err != nil || s != ndef.TNEPStatusSuccess {
		return engagementStep("TNEP status", fmt.Errorf("status %d (%v)", s, err))
	}
	hr := &ndef.Handover{Version: ndef.HandoverVersion, Random: uint16(rand.Uint32())}
	var handed []ndef.Record // the records of the carriers the reader may hand off to
	if o.Handoff != nil {
		handed = handoff.RequestRecords(o.Handoff.Allowed)
	}
	for _, k := range o.Prefer {
		var r ndef.Record
		switch k {
		case ndef.KindNFC:
			r = ndef.NFCCarrier{}.Record()
		case ndef.KindBLE, ndef.KindWiFiAware:
			i := slices.IndexFunc(handed, func(h ndef.Record) bool { return ndef.KindOf(&h) == k })
			switch {
			case i >= 0:
				r = handed[i]
			case k == ndef.KindBLE: // offered without a way to hand off: selection tests
				role := byte(ndef.RoleBothPeripheralFirst)
				r = ndef.BLECarrier{Role: &role}.Record()
			default:
				r = ndef.WiFiAwareCarrier{CipherSuites: []byte{0x01}, Bands: []byte{0x14}}.Record()
			}
		default:
			continue
		}
		hr.Carriers = append(hr.Carriers, ndef.AlternativeCarrier{CPS: ndef.CPSActive, CarrierRef: r.ID})
		hr.Records = append(hr.Records, r)
	}
	if o.ReaderEngagement != nil {
		hr.Records = append(hr.Records, ndef.ReaderEngagementRecord(o.ReaderEngagement))
	}
	hrb, err := hr.Encode()
	if err != nil {
		return engagementStep("Handover Request", err)
	}
	if err := g.write(ctx, "write Handover Request", hrb); err != nil {
		return err
	}
	hs, err := g.readAnswer(ctx, "read Handover Select", sp)
	if err != nil {
		return err
	}
	e.HandoverRequest, e.HandoverSelect = hrb, hs
	return nil
}
