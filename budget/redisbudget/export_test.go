package redisbudget

import "time"

// Test access to the scripts, to replay what a retrying client would send.
var ReserveScript = reserveScript

// The unexported constants and options the tests use.
const (
	MaxCapacity      = maxCapacity
	DefaultLease     = defaultLease
	DefaultKeyPrefix = defaultPrefix
)

// WithClock sets the clock windows are read from.
func WithClock(now func() time.Time) Option { return withClock(now) }

// Keys returns the current window's hash and lease-set keys.
func (b *Budget) Keys() []string { w, _ := b.current(); return w.keys }

// ParseKey splits a key into a budget's name and the rest, as Family's scans do.
func (f *Family) ParseKey(key string) (name, rest string, ok bool) { return f.parse(key) }

// WaitLate waits until every call of b's abandoned at its context's end has returned
// from the client (and given back what it was granted late).
func (b *Budget) WaitLate() { b.late.Wait() }

// Capacity and Lease are the budget's own, as built.
func (b *Budget) Capacity() uint64 { return b.capacity }

func (b *Budget) Lease() time.Duration { return b.lease }

// Capacity and Prefix are the family's own, as built.
func (f *Family) Capacity() uint64 { return f.c.capacity }

func (f *Family) Prefix() string { return f.c.prefix }
