// Package verify checks mdoc presentations: issuer data authentication (MSO signature,
// DS→IACA chain, digests, docType, validity), mdoc authentication (deviceSignature or
// deviceMac bound to the SessionTranscript) and reader authentication.
//
// A verifier reports; it does not decide and it does not panic. Every check is listed in
// the result with its outcome and a machine-readable reason. A Policy then decides: the
// default fails on anything that breaks authenticity and reports certificate-profile and
// encoding deviations seen in real wallets as warnings; a strict policy fails on those too.
package verify
