// Package oid4vp is OpenID for Verifiable Presentations 1.0 with mdocs (ISO/IEC 18013-7,
// ISO/IEC TS 23220-4) and the W3C Digital Credentials API: the verifier side and a
// simulated wallet.
//
// The verifier (Verifier) publishes a signed request object (JAR, typ
// oauth-authz-req+jwt, x5c with its reader certificate chain) at a request_uri that a
// wallet fetches with GET or POST, identifies itself with an x509_san_dns: or
// x509_hash: client_id (an x509_san_dns name must be the response URI's host, or the
// verifier refuses to start), asks for mdocs with a DCQL query (credential_sets and
// claim_sets honoured), and receives the vp_token at its response_uri either in the
// clear (direct_post) or as a JWE (direct_post.jwt, ECDH-ES with A128GCM or A256GCM,
// any apu/apv). Through the Digital Credentials API (BeginDCAPI) it makes requests for
// the protocols openid4vp-v1-unsigned, openid4vp-v1-signed (with expected_origins) and
// org-iso-mdoc (ISO 18013-7 Annex C: a DeviceRequest with readerAuth, an EncryptionInfo
// and the answer sealed with HPKE). It verifies every DeviceResponse against the
// SessionTranscript it rebuilds itself (OpenID4VPHandover, OpenID4VPDCAPIHandover with
// the page's origin, or the Annex C dcapi handover): nothing the wallet says about the
// transcript is trusted. The 18013-7:2024 Annex B handover of older wallets is accepted
// only when VerifierConfig.AnnexBHandover says so. A gate verifies in its own engine
// instead (VerifierConfig.Deliver, Complete).
//
// Guarantees of the verifier:
//   - every transaction has fresh random ids (the one it is begun under is never shown
//     to the wallet), nonce and state and an expiry; a transaction is answered at most
//     once (a replayed response is refused with ErrReplay) and an expired one never;
//   - the open transactions are bounded in total and, with a ClientLimiter, per client;
//   - request and response bodies are bounded; JWE, JWT, JSON and CBOR input is parsed
//     with size limits and every failure names the failing check;
//   - a response is accepted only when its state matches, the credential queries it
//     answers satisfy the query, each DeviceResponse's docType equals its query's
//     doctype_value and verify.VerifyDeviceResponse finds it valid under the rebuilt
//     transcript.
//
// The wallet (Wallet) fetches the request object, checks its signature, its x5c chain
// to the wallet's trusted reader roots and the binding of the client_id to the leaf
// certificate, builds one DeviceResponse per credential query it answers with its
// Presenter (crypto/holder's; deviceSignature over the handover) and posts it plain or
// encrypted. AnswerDCAPI plays the wallet behind navigator.credentials.get for the
// three DC API protocols.
package oid4vp
