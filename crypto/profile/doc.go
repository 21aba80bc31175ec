// Package profile decides whether a verified mdoc presentation is acceptable at a gate:
// a Profile (ISO/IEC TS 23220-4 Annex B style) names the document types and elements to
// request with intent to retain, the mandatory elements, element type validation (mDL
// per ISO/IEC 18013-5 Table 5, Photo ID per TS 23220-4 Annex C with the older identifier
// spellings accepted), accepted device authentication kinds and curves, MSO freshness
// limits, the token status list check, and a decision rule in a small safe language
// (see Rule).
//
// The package trusts crypto/verify for authenticity: it reads only the elements verify
// established (DocumentResult.RawElements) and the MSO of documents verify found valid.
// Decisions fail closed: whatever cannot be established rejects, with Decision.Reason
// naming the failed check. Details name elements and types, never element values.
package profile
