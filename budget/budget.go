package budget

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"
)

// ErrDenied is the soft denial: the budget has too little left for the request.
// Denials are returned as *DeniedError, which matches ErrDenied under errors.Is.
var ErrDenied = errors.New("budget: denied")

// ErrUnavailable reports that the budget's store (Redis, for instance) could not be
// reached, so the budget could neither grant nor deny. Errors wrapping it carry the
// cause.
var ErrUnavailable = errors.New("budget: unavailable")

// ErrInvalidReservation is wrapped by the error a budget returns when asked to settle a
// nil reservation or one it did not issue.
var ErrInvalidReservation = errors.New("budget: invalid reservation")

// DeniedError is a soft denial. It matches ErrDenied under errors.Is.
type DeniedError struct {
	Budget    string // name of the budget that said no
	Requested uint64 // tokens asked for (the minimum, for a range)
	Remaining uint64 // tokens the budget had left at that instant
}

// Error names the budget and says what was requested and what was left; an unnamed
// budget is called "unnamed".
func (e *DeniedError) Error() string {
	name := e.Budget
	if name == "" {
		name = "unnamed"
	}
	return "budget: denied by " + strconv.Quote(name) + ": requested " +
		strconv.FormatUint(e.Requested, 10) + " tokens, " +
		strconv.FormatUint(e.Remaining, 10) + " remaining"
}

// Is reports whether target is ErrDenied.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// TokenBudget is a pool of tokens that calls reserve from before they run and settle
// after. Implementations are safe for concurrent use.
type TokenBudget interface {
	// TryReserve holds estimate tokens for one call. A soft denial returns a
	// *DeniedError; any other error is a failure of the budget itself.
	TryReserve(ctx context.Context, estimate uint64) (*Reservation, error)
	// Record settles r with the provider-reported usage: the unused part of the
	// estimate returns to the pool, usage beyond it is charged (it may push the
	// budget into debt, which later reservations must pay off first).
	Record(ctx context.Context, r *Reservation, prompt, completion uint64) error
	// Release returns r whole (nothing was billed).
	Release(ctx context.Context, r *Reservation) error
	// Consumed is the usage recorded so far (in the current window, if windowed).
	Consumed(ctx context.Context) (uint64, error)
}

// RangeReserver is implemented by budgets that can grant as much as is left between
// min and max in one atomic step, which is what a hard cap needs. A denial reports
// Requested = min. min > max is treated as a request for exactly min.
type RangeReserver interface {
	TryReserveRange(ctx context.Context, min, max uint64) (*Reservation, error)
}

// Reservation is tokens held by one call until it is settled by Record or Release.
//
// A Reservation belongs to the budget that issued it; passing it to another budget is
// an error. It is safe to settle from any goroutine, and exactly one settle takes
// effect.
type Reservation struct {
	issuer  any
	id      string
	tokens  uint64
	settled atomic.Bool
	win     *window // the Atomic window the hold was taken in
	state   any
	failErr error // non-nil: granted without accounting because the store failed open
}

// NewReservation builds a reservation for a budget outside this package. issuer
// identifies the budget (compare it to reject foreign reservations), id is the
// budget's own handle for the hold (empty is allowed) and tokens is what it holds.
func NewReservation(issuer any, id string, tokens uint64) *Reservation {
	return &Reservation{issuer: issuer, id: id, tokens: tokens}
}

// NewReservationState is NewReservation with a value of the budget's own, returned by
// State, for budgets that need more than an id to settle (All keeps its members'
// reservations there).
func NewReservationState(issuer any, id string, tokens uint64, state any) *Reservation {
	return &Reservation{issuer: issuer, id: id, tokens: tokens, state: state}
}

// NewFailOpenReservation builds a reservation that a budget grants without holding
// anything because its store could not be reached and it is configured to fail open.
// cause (which should wrap ErrUnavailable) is reported by FailedOpen, so middleware can
// say in the call's record that the call was not accounted for.
func NewFailOpenReservation(issuer any, tokens uint64, cause error) *Reservation {
	if cause == nil {
		cause = ErrUnavailable
	}
	return &Reservation{issuer: issuer, tokens: tokens, failErr: cause}
}

// FailedOpen returns the cause when r was granted without accounting because its
// budget's store was unavailable (see NewFailOpenReservation), and nil otherwise.
func (r *Reservation) FailedOpen() error {
	if r == nil {
		return nil
	}
	return r.failErr
}

// Tokens is the number of tokens held. It is 0 for a nil reservation.
func (r *Reservation) Tokens() uint64 {
	if r == nil {
		return 0
	}
	return r.tokens
}

// ID is the issuing budget's handle for the hold.
func (r *Reservation) ID() string {
	if r == nil {
		return ""
	}
	return r.id
}

// Issuer is the budget that issued r, as given to NewReservation.
func (r *Reservation) Issuer() any {
	if r == nil {
		return nil
	}
	if r.issuer == nil && r.win != nil {
		return r.win.owner
	}
	return r.issuer
}

// State is the value given to NewReservationState, or nil.
func (r *Reservation) State() any {
	if r == nil {
		return nil
	}
	return r.state
}

// Settle marks r settled. It returns true exactly once, to the first caller, and false
// to every later one and for a nil reservation; budgets call it before changing any
// count, so that "settle at most once" holds for every implementation.
func (r *Reservation) Settle() bool {
	return r != nil && r.settled.CompareAndSwap(false, true)
}

// Settled reports whether r has been settled.
func (r *Reservation) Settled() bool { return r != nil && r.settled.Load() }

// CheckIssuer returns nil when r is non-nil and was issued by issuer, and otherwise an
// error wrapping ErrInvalidReservation that names budgetName.
func CheckIssuer(r *Reservation, issuer any, budgetName string) error {
	if r == nil {
		return fmt.Errorf("%w: nil reservation passed to budget %q", ErrInvalidReservation, budgetName)
	}
	if r.Issuer() != issuer {
		return fmt.Errorf("%w: reservation was not issued by budget %q", ErrInvalidReservation, budgetName)
	}
	return nil
}

// Snapshot is a budget's state at one instant.
type Snapshot struct {
	Name      string
	Capacity  uint64
	Consumed  uint64    // usage recorded in the current window
	Held      uint64    // tokens reserved and not yet settled
	Remaining uint64    // what the next reservation may take: capacity − consumed − held, floored at 0
	WindowEnd time.Time // zero when the budget is not windowed
}

// Observable is implemented by budgets that can report a Snapshot.
type Observable interface {
	Snapshot(ctx context.Context) (Snapshot, error)
}

// SaturatingAdd returns a+b, or math.MaxUint64 when the sum overflows.
func SaturatingAdd(a, b uint64) uint64 {
	s := a + b
	if s < a {
		return math.MaxUint64
	}
	return s
}
