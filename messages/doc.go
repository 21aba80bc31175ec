// Package messages is the CBOR data model of ISO/IEC TS 23220-4 and ISO/IEC 18013-5:
// engagement, session messages, SessionTranscript, DeviceRequest, DeviceResponse and the
// MobileSecurityObject, with their COSE envelopes as plain data.
//
// It knows nothing of keys or signatures. Its two promises are:
//
//   - Decoding is bounded: every decoder applies the limits of one immutable decode mode
//     on size, nesting, array and map lengths, and duplicate map keys are refused. This
//     package's own structures are decoded directly from the CBOR heads, in one pass that
//     makes the decode mode's checks, and accept and refuse exactly what decoding them
//     through the decode mode did (messages/internal/reference keeps that decoder, and the
//     differential tests hold the two together).
//   - Received bytes are kept: every #6.24 item (EncodedCBOR) and every structure that is
//     hashed, MACed or signed keeps the exact bytes it was decoded from, so digests and
//     signatures are computed over what was received, never over a re-encoding. Maps keep
//     their received key order, so encoding what was decoded reproduces the input bytes
//     (for input that uses preferred serialization, as the Annex D vectors do).
//
// A decoded structure shares one private copy of the input per message: its byte
// slices are parts of that copy, never of the caller's buffer, never of an EncodedCBOR
// it was decoded from, and never of each other, so changing one changes nothing else.
// (The received bytes an EncodedCBOR or an Engagement keeps must not be changed.)
//
// Encoding always emits the preferred (shortest) serialization with definite lengths.
package messages
