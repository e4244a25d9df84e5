// Package budgetkit is for implementers of budget.TokenBudget: it builds, settles and
// reads back reservations. Users of a budget never need it.
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
//			return err // nil or foreign: an error wrapping budget.ErrInvalidReservation
//		}
//		if !budgetkit.Settle(r) {
//			return nil // settled before: at most once
//		}
//		// ... move budgetkit.ID(r)'s hold of r.Tokens() to the usage
//	}
//
// Implement budget.Named, budget.RemainingReader and budget.Observable as well, so
// that middleware names your budget in spans and denials and reads what it has left
// without an extra round trip.
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

// NewReservationState is NewReservation with a value of the budget's own, returned by
// State, for budgets that need more than an id to settle (a composite budget keeps its
// members' reservations there).
func NewReservationState(issuer any, id string, tokens uint64, state any) *budget.Reservation {
	return hooks.New(issuer, id, tokens, state, nil)
}

// NewFailOpen builds a reservation granted without holding anything because the
// budget's store could not be reached and the budget is configured to fail open. Its
// FailedOpen is true, so middleware marks the call as not accounted for; cause (nil
// means budget.ErrUnavailable) is returned by FailOpenCause.
func NewFailOpen(issuer any, tokens uint64, cause error) *budget.Reservation {
	if cause == nil {
		cause = budget.ErrUnavailable
	}
	return hooks.New(issuer, "", tokens, nil, cause)
}

// Settle marks r settled. It returns true exactly once, to the first caller, and
// false to every later one and for a nil reservation. A budget calls it after
// CheckIssuer and before it changes any count, so that a reservation is settled at
// most once however many goroutines race to settle it.
func Settle(r *budget.Reservation) bool { return hooks.Settle(r) }

// Settled reports whether r has been settled; false for nil.
func Settled(r *budget.Reservation) bool { return hooks.Settled(r) }

// CheckIssuer returns nil when r is non-nil and was issued by issuer, and otherwise an
// error wrapping budget.ErrInvalidReservation that names budgetName.
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

// Issuer is the budget that issued r; nil for nil.
func Issuer(r *budget.Reservation) any {
	if r == nil {
		return nil
	}
	return hooks.Issuer(r)
}

// State is the value given to NewReservationState; nil otherwise and for nil.
func State(r *budget.Reservation) any {
	if r == nil {
		return nil
	}
	return hooks.State(r)
}

// FailOpenCause is the cause given to NewFailOpen, or nil when r was accounted for
// normally (and for nil).
func FailOpenCause(r *budget.Reservation) error {
	if r == nil {
		return nil
	}
	return hooks.FailOpen(r)
}

// ReportAlert tells the function budget.NotifyAlerts put in ctx, if any, of an alert
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
