package exact

// Encoding names the encoding e counts with ("" for a nil e), for the tests.
func (e *Estimator) Encoding() string {
	if e == nil {
		return ""
	}
	return e.name
}
