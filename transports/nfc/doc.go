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
// The reader drives (ISO/IEC 18013-5 8.3.3.1.2): a session message goes to the mdoc in
// ENVELOPE commands (CLA 10 chaining, the last one with Le, the response length both
// sides support); the mdoc's message comes back in the response to the last ENVELOPE
// and, after 61XX, in GET RESPONSE answers. The mdoc withholds that response until its
// message is ready, however long its holder takes (the reader waits: ISO-DEP waiting-
// time extensions on a radio, a Transmit that has not returned over PC/SC); there is no
// polling and no ENVELOPE without data. A reader that gets an empty final response ends
// the session with an error (apdu.ErrEmptyResponse). Extended-length APDUs are used only
// where the reader's ExtendedMode allows them (a lane's extended_apdu: auto probes with an
// extended-length SELECT and falls back to short APDUs). A transports.Conn frame is a
// whole session message (use WholeMessage as the Framer): APDU chaining does the
// fragmentation.
//
// # Hand-off
//
// A Handover Select may offer BLE or Wi-Fi Aware instead of NFC. A reader whose
// ReaderOptions.Handoff allows that carrier puts its own records in the Hr (package
// handoff), reads the Hs, switches the card off and returns an arrival whose Conn is the
// handed-off connection, dialled in the background; its bearer is ENGAGEMENT>DATA
// ("nfc-pcsc>ble-central"). A simulated phone offering such a carrier (CardConfig.Carriers)
// signals the end of its engagement with Card.Handed.
//
// # Timing
//
// Trace receives timestamped events of both sides of the PC/SC path (the virtual card's
// vpcd messages and APDUs, the lane's Connect and Transmit calls); BenchmarkPCSCSession
// takes a session apart with them.
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
