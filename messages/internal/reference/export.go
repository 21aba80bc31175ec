package reference

// ItemLength exposes itemLength to the walk tests of package messages.
func ItemLength(data []byte) (int, error) { return itemLength(data) }
