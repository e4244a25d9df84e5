// Package budgetkit is for implementers of budget.TokenBudget and for middleware: it
// builds, settles and reads back reservations, and names what middleware asks of a
// budget beyond TokenBudget and budget.Observable (Named, RemainingReader,
// RangeReserver, Composite, Alerting) and how an alert crossing reaches the call that
// caused it (NotifyAlerts, ReportAlert). Users of a budget never need it.
//
// The kit lives apart from package budget on purpose. Settling is the one step that
// decides "at most once": a budget calls Settle before it changes any count, and only
// the first call returns true. Were Settle a method users could reach, calling it by
// mistake before Record would make Record a no-op and leave the hold in the budget
// for ever.
//
// A budget of your own follows this shape (see the package example):
//
//	func (b *MyBudget) TryReserve(ctx context.Context, n uint64) (*budget.Reservation, error) {
//		// ... hold n in your store, or return &budget.DeniedError{...}
//		return budgetkit.NewReservation(b, holdID, n), nil
//	}
//
//	func (b *MyBudget) Record(ctx context.Context, r *budget.Reservation, prompt, completion uint64) error {
//		if err := budgetkit.CheckIssuer(r, b, b.name); err != nil {
//			return err // nil or foreign: an error wrapping ErrInvalidReservation
//		}
//		if !budgetkit.Settle(r) {
//			return nil // settled before: at most once
//		}
//		// ... move budgetkit.ID(r)'s hold of r.Tokens() to the usage
//	}
//
// Implement Named, RemainingReader and budget.Observable as well, so that middleware
// names your budget in spans and denials and reads what it has left without an extra
// round trip; RangeReserver for middleware.HardCap; Alerting when it has alert
// thresholds.
//
// Every function here is safe for concurrent use and accepts a nil reservation or
// context without panicking.
package budgetkit

import (
	"context"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/internal/kithook"
)

var hooks = kithook.Get[budget.Reservation]()

// NewReservation builds a reservation of tokens issued by issuer (the budget itself:
// CheckIssuer compares against it). id is the budget's own handle for the hold and
// may be empty.
func NewReservation(issuer any, id string, tokens uint64) *budget.Reservation {
	return hooks.New(issuer, id, tokens, nil, nil)
}

// NewFailOpen builds a reservation granted without holding anything because the
// budget's store could not be reached and the budget is configured to fail open. Its
// FailedOpen is true, so middleware marks the call as not accounted for.
func NewFailOpen(issuer any, tokens uint64) *budget.Reservation {
	return hooks.New(issuer, "", tokens, nil, budget.ErrUnavailable)
}

// Settle marks r settled. It returns true exactly once, to the first caller, and
// false to every later one and for a nil reservation. A budget calls it after
// CheckIssuer and before it changes any count, so that a reservation is settled at
// most once however many goroutines race to settle it.
func Settle(r *budget.Reservation) bool { return hooks.Settle(r) }

// Settled reports whether r has been settled; false for nil.
func Settled(r *budget.Reservation) bool { return hooks.Settled(r) }

// CheckIssuer returns nil when r is non-nil and was issued by issuer, and otherwise an
// error wrapping ErrInvalidReservation that names budgetName.
func CheckIssuer(r *budget.Reservation, issuer any, budgetName string) error {
	return hooks.CheckIssuer(r, issuer, budgetName)
}

// ID is the handle given to NewReservation; "" for nil.
func ID(r *budget.Reservation) string {
	if r == nil {
		return ""
	}
	return hooks.ID(r)
}

// ErrInvalidReservation is wrapped by the error a budget returns when asked to settle a
// nil reservation or one it did not issue (CheckIssuer returns one).
var ErrInvalidReservation = kithook.ErrInvalidReservation

// Named is implemented by budgets that have a name, which middleware puts in spans,
// metrics and the call's record, and which a DeniedError should carry.
type Named interface {
	Name() string
}

// RemainingReader is implemented by budgets that can say, without a round trip, what
// the next reservation may take: capacity − consumed − held, floored at 0 (a value
// the budget last learned from its store is fine). Middleware reads it after every
// settle.
type RemainingReader interface {
	Remaining() uint64
}

// RangeReserver is implemented by budgets that can grant as much as is left between
// min and max in one atomic step, which is what middleware.HardCap needs. A denial
// reports Requested = min; min > max is a request for exactly min.
type RangeReserver interface {
	TryReserveRange(ctx context.Context, min, max uint64) (*budget.Reservation, error)
}

// Composite is implemented by budgets made of other budgets, such as the one
// budget.All returns. Middleware looks through it to the members: what is left is the
// smallest among them, and a fallback or a hard cap judges each.
type Composite interface {
	// Members are the budgets reserved from, in order. The slice must not be changed.
	Members() []budget.TokenBudget
}

// Alerting is implemented by budgets that have alert thresholds (budget.WithAlerts,
// redisbudget.WithAlerts). Middleware asks it so that it prepares a settle to note
// crossings (NotifyAlerts) only for budgets that may report one.
type Alerting interface {
	// AlertFractions are the thresholds, ascending; empty when there are none.
	AlertFractions() []float64
}

// NotifyAlerts returns a copy of ctx carrying fn: a Record made with it (or with a
// context derived from it) that crosses an alert threshold of a budget of this module,
// or of one that calls ReportAlert, calls fn with the Alert, synchronously, after the
// budget's own alert function. Middleware uses it to put each crossing on the record of
// the call that crossed it. A fn already in ctx is called too, before fn. A nil fn
// returns ctx; a nil ctx means context.Background().
func NotifyAlerts(ctx context.Context, fn func(budget.Alert)) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	if fn == nil {
		return ctx
	}
	if prev, ok := ctx.Value(kithook.AlertKey{}).(func(budget.Alert)); ok {
		next := fn
		fn = func(a budget.Alert) {
			prev(a)
			next(a)
		}
	}
	return context.WithValue(ctx, kithook.AlertKey{}, fn)
}

// ReportAlert tells the function NotifyAlerts put in ctx, if any, of an alert
// threshold crossed by the Record made with ctx. A budget with alert thresholds calls
// it once per crossing, synchronously in that Record, after its own alert function.
func ReportAlert(ctx context.Context, a budget.Alert) {
	if ctx == nil {
		return
	}
	if fn, ok := ctx.Value(kithook.AlertKey{}).(func(budget.Alert)); ok {
		fn(a)
	}
}

// FromContext returns the budgets budget.NewContext put in ctx, outermost first, or nil
// (also for a nil ctx). None is nil. Middleware reserves against every one of them. The
// slice is shared with ctx and must not be modified.
func FromContext(ctx context.Context) []budget.TokenBudget {
	if ctx == nil {
		return nil
	}
	list, _ := ctx.Value(kithook.BudgetsKey{}).([]budget.TokenBudget)
	return list
}
