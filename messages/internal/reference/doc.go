// Package reference is a frozen copy of package messages' decoders as they were before
// the single-pass decoders (commit 55fa623): every structure decoded through the
// fxamacker/cbor decode mode and Map[K, cbor.RawMessage] field maps. It is not used by
// the engine; the differential tests and fuzz targets of package messages decode the
// same input with both and require the same error-or-not and the same values.
//
// Only what those tests call is kept (decoders and the accessors they compare): the
// encoders and constructors were dropped, as nothing compares against them. Do not
// change its decoding behaviour: it is the specification the fast path is held to.
package reference
