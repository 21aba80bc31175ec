package reference

func majorOf(raw []byte) (byte, bool) {
	h, err := readHead(raw)
	if err != nil {
		return 0, false
	}
	return h.major, true
}

func isMajor(raw []byte, major byte) bool {
	m, ok := majorOf(raw)
	return ok && m == major
}

func isTag24(raw []byte) bool {
	h, err := readHead(raw)
	return err == nil && h.major == majorTag && !h.indefinite && h.arg == 24
}
