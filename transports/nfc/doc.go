// Package nfc is the ISO 18013-5 NFC bearer: NFC engagement (static handover from a Type 4
// Tag and negotiated handover over TNEP), NFC data retrieval with APDUs, and two links
// that carry the APDUs:
//
//   - an in-memory ISO-DEP link (Link) with frame-size limits and a timing model, used by
//     the "nfc" load-test bearer, the demo and most tests;
//   - PC/SC (Lane): the reader talks to a real pcscd through github.com/gballet/go-libpcsclite,
//     and the simulated holder is a virtual contactless card (VirtualCard) on vsmartcard's
//     vpcd driver, speaking vpcd's card-side TCP protocol.
//
// # What is real and what is simulated
//
// Real: the byte layouts (NDEF, Hs/Hr, carrier records, TNEP, CC file, APDUs, DO'53'),
// the reader and mdoc protocol logic, and on the PC/SC path pcscd, vpcd and the socket
// traffic between them. Simulated: the phone (Card, driven by the engine's holder) and,
// in memory, the radio (Link's timing model).
//
// # Message flow
//
// The reader drives: a session message goes to the mdoc in ENVELOPE commands; the mdoc's
// message comes back in the response to the last ENVELOPE (and GET RESPONSE after
// 61XX). An mdoc that has no message ready holds the final ENVELOPE for up to
// CardConfig.PollWindow and then answers an empty 9000; the reader then polls with an
// ENVELOPE without data until the mdoc's message arrives or the connection is closed.
// A transports.Conn frame is a whole session message (use WholeMessage as the Framer):
// APDU chaining does the fragmentation.
//
// # Timing model of the in-memory link
//
// ISO-DEP (ISO 14443-4) at 106, 212, 424 or 848 kbit/s: every frame costs
// (INF + 3) × 9 bits (PCB and CRC_A; 8 data bits plus parity per byte) at the bit rate,
// plus a frame delay time of 86 µs. An APDU longer than the frame size (FSC towards the
// card, FSD towards the reader, prologue and CRC included) is sent as chained I-blocks,
// each but the last acknowledged with a 3-byte R(ACK). When the card takes longer than
// the frame waiting time FWT to answer, it sends one S(WTX) per FWT elapsed, each
// answered by the reader (4-byte frames both ways). Air time is the sum of those frame
// times; the time the card spends thinking is not air time. With Timing.RealTime the
// link also sleeps the modelled time.
package nfc
