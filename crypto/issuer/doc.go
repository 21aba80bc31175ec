// Package issuer is a test issuing authority: it makes IACA, Document Signer and reader
// authentication certificates with the ISO/IEC 18013-5 Annex B profiles and issues mdocs
// (IssuerSigned with a signed MobileSecurityObject) for simulated holders, tests and the
// `mdocgate issue` command.
//
// It is not for production issuance: keys live in memory and in unencrypted PEM files,
// there is no revocation, and no policy limits what it signs.
//
// Certificates can be made on P-256, P-384, P-521 and Ed25519 (what crypto/x509 can sign
// with); device keys may be on any signing curve of package keys.
package issuer
