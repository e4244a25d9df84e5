package budget

import "time"

// WithClock sets the clock windows are read from (time.Now by default); nil means
// time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// AlertAt exposes alertAt to the package's external tests.
var AlertAt = alertAt

// WindowOf identifies the window r was granted in (an opaque key, the same for every
// reservation of one window) and returns its end, in Unix nanoseconds, and the usage
// recorded in it so far. r must be a reservation of an *Atomic.
func WindowOf(r *Reservation) (key any, end int64, consumed func() uint64) {
	return r.win, r.win.end, r.win.consumedTotal
}
