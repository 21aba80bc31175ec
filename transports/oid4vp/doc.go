// Package oid4vp is OpenID for Verifiable Presentations 1.0 with mdocs (ISO/IEC 18013-7,
// ISO/IEC TS 23220-4): the verifier side and a simulated wallet.
//
// The verifier (Verifier) publishes a signed request object (JAR, typ
// oauth-authz-req+jwt, x5c with its reader certificate chain) at a request_uri that a
// wallet fetches with GET or POST, identifies itself with an x509_san_dns: or
// x509_hash: client_id, asks for mdocs with a DCQL query, and receives the vp_token at
// its response_uri either in the clear (direct_post) or as a JWE (direct_post.jwt,
// ECDH-ES with A128GCM or A256GCM, any apu/apv). It verifies every DeviceResponse
// against the OpenID4VPHandover SessionTranscript it rebuilds itself from its own
// client_id, nonce, encryption key thumbprint and response_uri: nothing the wallet
// says about the transcript is trusted. VerifyDCAPIResponse does the same for the
// Digital Credentials API with the OpenID4VPDCAPIHandover and the browser's origin.
//
// Guarantees of the verifier:
//   - every transaction has a fresh 32-byte nonce and state and an expiry; a
//     transaction is answered at most once (a replayed response is refused with
//     ErrReplay) and an expired one never;
//   - request and response bodies are bounded; JWE, JWT, JSON and CBOR input is parsed
//     with size limits and every failure names the failing check;
//   - a response is accepted only when its state matches, every credential query is
//     answered, each DeviceResponse's docType equals its query's doctype_value and
//     verify.VerifyDeviceResponse finds it valid under the rebuilt transcript.
//
// The wallet (Wallet) fetches the request object, checks its signature, its x5c chain
// to the wallet's trusted reader roots and the binding of the client_id to the leaf
// certificate, builds one DeviceResponse per credential query with crypto/holder
// (deviceSignature over the OpenID4VPHandover) and posts it plain or encrypted.
package oid4vp
