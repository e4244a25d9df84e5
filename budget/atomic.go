package budget

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/spendguard/spendguard/budget/window"
	"github.com/spendguard/spendguard/internal/sat"
)

// Atomic is an in-process TokenBudget: a grant is decided against an exact view of
// the budget at that instant, so it never grants beyond capacity, and usage is never
// lost or counted twice, windows and rollovers included.
//
// It takes no lock: every grant is one compare-and-swap or atomic add on a single word,
// committed (consumed + held, debt included), and a reserve and settle called directly
// allocate nothing. Grants are optimistic: TryReserve adds its estimate and takes it
// back when it did not fit, so for the few nanoseconds a refused estimate is on the
// counter, a concurrent TryReserve near exhaustion may be refused too, and Snapshot and
// Remaining may read that much less. TryReserveRange decides with a compare-and-swap
// loop.
//
// Windows (WithWindow): each period starts with nothing consumed or held. A
// reservation belongs to the window it was taken in: settled after that window has
// closed, its usage is recorded in the closed window (never in the new window's
// Consumed) and its hold, which the new window never carried, is not returned to the
// new window. The rollover is one compare-and-swap.
//
// Atomic is safe for concurrent use. The zero value is not usable; call NewAtomic. A
// nil *Atomic never panics: it grants nothing and its reservations fail with an error
// wrapping ErrNilBudget.
type Atomic struct {
	capacity uint64
	name     string
	window   window.Window
	clock    func() time.Time
	// thresholds are every alert, ascending by consumption; bit i of a window's
	// alerted is set once thresholds[i] has fired in it. nil: no alerts.
	thresholds []threshold
	allAlerted uint64
	fractions  []float64
	cur        atomic.Pointer[period]
}

// period is one window's counters. A non-windowed budget has exactly one, forever.
type period struct {
	owner     *Atomic
	end       int64 // Unix nanoseconds; math.MaxInt64 when not windowed
	endTime   time.Time
	alerted   atomic.Uint64 // the thresholds that fired in this window, one bit each
	_         [64]byte      // keep the read-mostly fields off the contended lines
	committed atomic.Uint64 // consumed + held, debt included; the word grants decide on
	_         [56]byte
	// consumed is only added to and rarely read, so it is spread over shards on lines
	// of their own: concurrent settles then contend on committed alone.
	consumed [consumedShards]paddedCounter
}

const consumedShards = 8 // a power of two

type paddedCounter struct {
	n atomic.Uint64
	_ [56]byte
}

// addConsumed adds usage to a shard picked at random (the runtime's per-thread
// generator: no shared state) and saturates that shard rather than wrap it.
func (w *period) addConsumed(usage uint64) {
	c := &w.consumed[rand.Uint32()&(consumedShards-1)].n
	if n := c.Add(usage); n < usage {
		c.Store(math.MaxUint64)
	}
}

// consumedTotal sums the shards, saturating.
func (w *period) consumedTotal() uint64 {
	var t uint64
	for i := range w.consumed {
		t = sat.Add(t, w.consumed[i].n.Load())
	}
	return t
}

// Option configures a budget built by NewAtomic. A nil Option is ignored.
type Option func(*config)

type config struct {
	name   string
	window window.Window
	clock  func() time.Time
	alerts []threshold
}

// WithName names the budget; the name is reported in denials, snapshots and alerts.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithWindow resets the budget at the start of every period of w. A nil w means no
// window. Windows are read from time.Now; a test moves time with testing/synctest.
func WithWindow(w window.Window) Option { return func(c *config) { c.window = w } }

// NewAtomic returns a budget of capacity tokens per window. A capacity of 0 denies
// everything.
func NewAtomic(capacity uint64, opts ...Option) *Atomic {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	a := &Atomic{capacity: capacity, name: c.name, window: c.window, clock: c.clock}
	if a.clock == nil {
		a.clock = time.Now
	}
	a.buildThresholds(c.alerts)
	a.cur.Store(a.newWindow(a.clock()))
	return a
}

func (a *Atomic) newWindow(now time.Time) *period {
	if a.window == nil {
		return &period{owner: a, end: math.MaxInt64}
	}
	_, end := a.window.Bounds(now)
	if !end.After(now) { // a broken Window; never loop on it
		end = now.Add(time.Nanosecond)
	}
	return &period{owner: a, end: end.UnixNano(), endTime: end}
}

// current returns the window that holds now, rolling over when the clock has passed
// the end of the one in force. The unwindowed case is small enough to inline.
func (a *Atomic) current() *period {
	w := a.cur.Load()
	if a.window == nil {
		return w
	}
	return a.currentWindowed(w)
}

func (a *Atomic) currentWindowed(w *period) *period {
	now := a.clock()
	if now.UnixNano() < w.end {
		return w
	}
	return a.roll(w, now)
}

func (a *Atomic) roll(old *period, now time.Time) *period {
	next := a.newWindow(now)
	for {
		if a.cur.CompareAndSwap(old, next) {
			return next
		}
		old = a.cur.Load()
		if now.UnixNano() < old.end {
			return old // another goroutine rolled first
		}
	}
}

// Name is the name given by WithName ("" for a nil *Atomic).
func (a *Atomic) Name() string {
	if a == nil {
		return ""
	}
	return a.name
}

// TryReserve holds estimate tokens, or returns a *DeniedError when
// capacity − consumed − held is less than estimate or is 0. It never blocks and
// ignores ctx.
//
// When the caller keeps the reservation on its stack (TryReserve is small enough to
// inline), a reserve and settle allocate nothing.
func (a *Atomic) TryReserve(_ context.Context, estimate uint64) (*Reservation, error) {
	return a.reserve(&Reservation{tokens: estimate}) // Issuer() finds a through r.win
}

// TryReserveRange holds as much as is left between min and max (all of max when it
// fits), or returns a *DeniedError with Requested = min when less than min, or
// nothing, is left. min > max is a request for exactly min.
func (a *Atomic) TryReserveRange(_ context.Context, min, max uint64) (*Reservation, error) {
	return a.reserveRange(&Reservation{}, min, max)
}

// reserve adds r.tokens to committed when they fit, sets r.win to the window they were
// taken in and returns r; it returns nil and a *DeniedError when they do not fit. r
// only flows to the result, so it can live on the stack of TryReserve's caller.
func (a *Atomic) reserve(r *Reservation) (*Reservation, error) {
	if a == nil {
		return nil, nilAtomic()
	}
	w := a.current()
	if r.tokens < fastLimit {
		// Optimistic: one Add, which never retries under contention, then take it back
		// if it did not fit. Checking old < capacity as well keeps "nothing left denies
		// everything" for an estimate of 0.
		if n := w.committed.Add(r.tokens); n <= a.capacity && n-r.tokens < a.capacity {
			r.win = w
			return r, nil
		}
		w.committed.Add(-r.tokens)
	}
	for { // the exact decision, for huge estimates and to report what is left
		c := w.committed.Load()
		if c >= a.capacity || a.capacity-c < r.tokens {
			return nil, a.denied(r.tokens, c)
		}
		if w.committed.CompareAndSwap(c, c+r.tokens) {
			r.win = w
			return r, nil
		}
	}
}

func (a *Atomic) reserveRange(r *Reservation, min, max uint64) (*Reservation, error) {
	if a == nil {
		return nil, nilAtomic()
	}
	if max < min {
		max = min
	}
	w := a.current()
	for {
		c := w.committed.Load()
		if c >= a.capacity || a.capacity-c < min {
			return nil, a.denied(min, c)
		}
		g := a.capacity - c
		if g > max {
			g = max
		}
		if w.committed.CompareAndSwap(c, c+g) {
			r.tokens, r.win = g, w
			return r, nil
		}
	}
}

func (a *Atomic) denied(requested, committed uint64) error {
	var left uint64
	if committed < a.capacity {
		left = a.capacity - committed
	}
	return &DeniedError{Budget: a.name, Requested: requested, Remaining: left}
}

// Record settles r with the usage the provider reported: committed moves from the hold
// to the usage, so an over-estimate is refunded and an overage charged in full (as
// debt when it exceeds what was left). A second settle of r returns nil and changes
// nothing; a nil or foreign r returns an error wrapping budgetkit.ErrInvalidReservation.
//
// A Record that makes consumption reach an alert threshold (WithAlerts) fires it, and
// reports it to ctx (budgetkit.NotifyAlerts); ctx is not otherwise used.
func (a *Atomic) Record(ctx context.Context, r *Reservation, prompt, completion uint64) error {
	if r == nil || r.win == nil || r.win.owner != a {
		return a.foreign(r)
	}
	if !r.settle() {
		return nil
	}
	a.settle(ctx, r.win, r.tokens, sat.Add(prompt, completion))
	return nil
}

// Release returns r's hold whole. A second settle of r returns nil and changes
// nothing; a nil or foreign r returns an error wrapping budgetkit.ErrInvalidReservation.
func (a *Atomic) Release(_ context.Context, r *Reservation) error {
	if r == nil || r.win == nil || r.win.owner != a {
		return a.foreign(r)
	}
	if !r.settle() {
		return nil
	}
	a.settle(nil, r.win, r.tokens, 0)
	return nil
}

// foreign is the error for settling r, which a did not issue.
func (a *Atomic) foreign(r *Reservation) error {
	if a == nil {
		return fmt.Errorf("%w: %w", nilAtomic(), checkIssuer(r, a, ""))
	}
	return checkIssuer(r, a, a.name)
}

func nilAtomic() error { return fmt.Errorf("%w: a nil *budget.Atomic grants nothing", ErrNilBudget) }

// fastLimit bounds the amounts settle adds with a plain atomic Add instead of a
// compare-and-swap loop: below it a wrapped sum can only come from a counter that was
// already saturated by an absurd usage, which settle detects and re-saturates.
const fastLimit = 1 << 62

// settle moves hold out of w and usage into it; ctx hears of alerts usage crosses
// (nil for a release, which crosses none).
func (a *Atomic) settle(ctx context.Context, w *period, hold, usage uint64) {
	// committed: the hold leaves, the usage enters. Under contention an Add never
	// retries, which is most of what keeps settle cheap.
	if hold < fastLimit && usage < fastLimit {
		n := w.committed.Add(usage - hold) // c ≥ hold, so this is c − hold + usage mod 2^64
		if usage > hold && n < usage-hold {
			w.committed.Store(math.MaxUint64) // wrapped past a saturated count
		}
	} else {
		for {
			c := w.committed.Load()
			n := sat.Add(c-min(hold, c), usage)
			if w.committed.CompareAndSwap(c, n) {
				break
			}
		}
	}
	if usage == 0 {
		return
	}
	w.addConsumed(usage)
	if a.thresholds != nil && w.alerted.Load() != a.allAlerted {
		a.fireAlerts(ctx, w)
	}
}

// Remaining is what the next reservation may take: capacity − consumed − held,
// floored at 0 (0 for a nil *Atomic).
func (a *Atomic) Remaining() uint64 {
	if a == nil {
		return 0
	}
	c := a.current().committed.Load()
	if c >= a.capacity {
		return 0
	}
	return a.capacity - c
}

// Snapshot reports the budget's current window. Consumed and Held are read one after
// the other, not in one instant, but Held is never negative.
func (a *Atomic) Snapshot(context.Context) (Snapshot, error) {
	if a == nil {
		return Snapshot{}, nilAtomic()
	}
	return a.snapshot(a.current()), nil
}

func (a *Atomic) snapshot(w *period) Snapshot {
	consumed := w.consumedTotal() // before committed: every usage reaches committed first
	committed := w.committed.Load()
	s := Snapshot{Name: a.name, Capacity: a.capacity, Consumed: consumed, WindowEnd: w.endTime}
	if committed > consumed {
		s.Held = committed - consumed
	}
	if committed < a.capacity {
		s.Remaining = a.capacity - committed
	}
	return s
}

var (
	_ named         = (*Atomic)(nil)
	_ TokenBudget   = (*Atomic)(nil)
	_ rangeReserver = (*Atomic)(nil)
	_ Observable    = (*Atomic)(nil)
)
