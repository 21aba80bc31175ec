// Package messages is the CBOR data model of ISO/IEC TS 23220-4 and ISO/IEC 18013-5:
// engagement, session messages, SessionTranscript, DeviceRequest, DeviceResponse and the
// MobileSecurityObject, with their COSE envelopes as plain data.
//
// It knows nothing of keys or signatures. Its two promises are:
//
//   - Decoding is bounded: every decoder goes through one immutable decode mode with
//     limits on size, nesting, array and map lengths, and duplicate map keys are refused.
//   - Received bytes are kept: every #6.24 item (EncodedCBOR) and every structure that is
//     hashed, MACed or signed keeps the exact bytes it was decoded from, so digests and
//     signatures are computed over what was received, never over a re-encoding. Maps keep
//     their received key order, so encoding what was decoded reproduces the input bytes
//     (for input that uses preferred serialization, as the Annex D vectors do).
//
// Encoding always emits the preferred (shortest) serialization with definite lengths.
package messages
