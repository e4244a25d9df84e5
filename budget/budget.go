package budget

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/spendguard/spendguard/budget/internal/kithook"
)

// ErrDenied is the soft denial: the budget has too little left for the request.
// Denials are returned as *DeniedError, which matches ErrDenied under errors.Is.
var ErrDenied = errors.New("budget: denied")

// ErrUnavailable reports that the budget's store (Redis, for instance) could not be
// reached, so the budget could neither grant nor deny. Errors wrapping it carry the
// cause.
var ErrUnavailable = errors.New("budget: unavailable")

// ErrNilBudget is wrapped by the error of every reservation from a nil budget (see the
// package doc's bad-input rule); it is not a denial.
var ErrNilBudget = errors.New("budget: nil budget")

// DeniedError is a soft denial: the budget had too little left. It matches ErrDenied
// under errors.Is.
type DeniedError struct {
	Budget    string // name of the budget that said no
	Requested uint64 // units asked for (the minimum, for a range)
	Remaining uint64 // units the budget had left at that instant
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

// TokenBudget is a pool of units that calls reserve from before they run and settle
// after, under the rules of the package doc. Implementations are safe for concurrent
// use.
type TokenBudget interface {
	// TryReserve holds estimate units for one call. A soft denial returns a
	// *DeniedError; any other error is a failure of the budget itself
	// (ErrUnavailable, say).
	TryReserve(ctx context.Context, estimate uint64) (*Reservation, error)
	// Record settles r with the usage the provider reported: the unused part of the
	// hold returns to the pool, usage beyond it is charged as debt.
	Record(ctx context.Context, r *Reservation, prompt, completion uint64) error
	// Release returns r whole (nothing was billed).
	Release(ctx context.Context, r *Reservation) error
}

// rangeReserver is budgetkit.RangeReserver, which All looks for in its members.
type rangeReserver interface {
	TryReserveRange(ctx context.Context, min, max uint64) (*Reservation, error)
}

// Reservation is units held by one call until it is settled by Record or Release.
//
// A Reservation belongs to the budget that issued it; passing it to another budget is
// an error. It is safe to settle from any goroutine, and exactly one settle takes
// effect. Users only read it (Tokens, FailedOpen); budgets outside this package build
// and settle theirs with package budget/budgetkit, so that nothing a user can call
// marks a hold settled without the budget returning it.
type Reservation struct {
	issuer  any
	id      string
	tokens  uint64
	settled atomic.Bool
	win     *period // the Atomic window the hold was taken in
	state   any
	failErr error // non-nil: granted without accounting because the store failed open
}

// Tokens is the number of tokens held. It is 0 for a nil reservation.
func (r *Reservation) Tokens() uint64 {
	if r == nil {
		return 0
	}
	return r.tokens
}

// FailedOpen reports whether r was granted without any accounting because its
// budget's store could not be reached and the budget is configured to fail open (see
// redisbudget.WithFailOpen). Such a call is not counted anywhere. It is false for a
// nil reservation.
func (r *Reservation) FailedOpen() bool { return r != nil && r.failErr != nil }

// issuedBy is r's issuer: the budget that built it (an Atomic reservation finds its
// owner through its window, which saves a field write on the hot path).
func (r *Reservation) issuedBy() any {
	if r.issuer == nil && r.win != nil {
		return r.win.owner
	}
	return r.issuer
}

// settle marks r settled: true exactly once, to the first caller.
func (r *Reservation) settle() bool {
	return r != nil && r.settled.CompareAndSwap(false, true)
}

// checkIssuer returns nil when r is non-nil and was issued by issuer, and otherwise an
// error wrapping budgetkit.ErrInvalidReservation that names budgetName.
func checkIssuer(r *Reservation, issuer any, budgetName string) error {
	if r == nil {
		return fmt.Errorf("%w: nil reservation passed to budget %q", kithook.ErrInvalidReservation, budgetName)
	}
	if r.issuedBy() != issuer {
		return fmt.Errorf("%w: reservation was not issued by budget %q", kithook.ErrInvalidReservation, budgetName)
	}
	return nil
}

// The implementer's kit (package budgetkit) reaches the unexported parts of a
// Reservation through these hooks; they are not part of this package's API.
func init() {
	kithook.Set(kithook.Hooks[Reservation]{
		New: func(issuer any, id string, tokens uint64, state any, failOpen error) *Reservation {
			return &Reservation{issuer: issuer, id: id, tokens: tokens, state: state, failErr: failOpen}
		},
		Settle:      (*Reservation).settle,
		Settled:     func(r *Reservation) bool { return r != nil && r.settled.Load() },
		ID:          func(r *Reservation) string { return r.id },
		CheckIssuer: checkIssuer,
	})
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

// Observable is implemented by budgets that can report a Snapshot, fresh from their
// store (which may cost a round trip). Middleware reads it before a fallback decision,
// and after a settle when the budget is no budgetkit.RemainingReader; otel.ObserveBudget
// exports it as gauges.
type Observable interface {
	Snapshot(ctx context.Context) (Snapshot, error)
}

// named is budgetkit.Named, which All looks for in its members.
type named interface {
	Name() string
}
