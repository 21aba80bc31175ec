// Package trust provides the trust material of a gate: VICAL parsing and signature
// verification (ISO/IEC 18013-5 Annex C), a store of IACA trust anchors loaded from a
// folder or a VICAL with expiry awareness, and a token status list client
// (draft-ietf-oauth-status-list, JWT form) that checks the MSO status reference with
// bounded downloads, timeouts and a TTL cache.
//
// Everything read from files or the network is size-limited and verified before use;
// errors name the failing check.
package trust
