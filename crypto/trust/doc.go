// Package trust provides the trust material of a gate: VICAL parsing and signature
// verification (ISO/IEC 18013-5 Annex C), a store of IACA trust anchors loaded from a
// folder or a VICAL with expiry awareness, and revocation: token status list tokens
// (draft-ietf-oauth-status-list-20, CWT and JWT) and CRLs, decoded with limits, and a
// StatusClient that fetches and caches them within bounds, honours ttl, exp and
// nextUpdate, refreshes in the background and applies a stale-if-error and fail-open
// policy; it answers verify.Revocation.
//
// Everything read from files or the network is size-limited and verified before use;
// errors name the failing check.
package trust
