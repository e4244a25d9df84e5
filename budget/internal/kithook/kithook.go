// Package kithook connects package budget to package budgetkit: budget fills in the
// hooks at init, budgetkit calls them. Keeping them here keeps the implementer's kit
// out of package budget's API, where a user could settle a hold by mistake.
package kithook

import "errors"

// ErrInvalidReservation is budgetkit.ErrInvalidReservation, here so that package budget
// can wrap it too.
var ErrInvalidReservation = errors.New("budget: invalid reservation")

// Hooks are the operations budgetkit needs on a reservation of type R (always
// budget.Reservation; the type parameter only breaks the import cycle).
type Hooks[R any] struct {
	New         func(issuer any, id string, tokens uint64, state any, failOpen error) *R
	Settle      func(r *R) bool
	Settled     func(r *R) bool
	ID          func(r *R) string
	CheckIssuer func(r *R, issuer any, budgetName string) error
}

var hooks any

// Set installs h. Package budget calls it once, at init.
func Set[R any](h Hooks[R]) { hooks = h }

// Get returns the hooks installed by Set. It panics when none of type R were set,
// which can only happen if package budget was not initialized first (it always is: it
// is imported by every caller of Get).
func Get[R any]() Hooks[R] { return hooks.(Hooks[R]) }

// AlertKey is the context key of the function budgetkit.NotifyAlerts installs (a
// func(budget.Alert)); budgetkit.ReportAlert and package budget call it.
type AlertKey struct{}

// MaxAlerts is the most alert thresholds a budget of this module keeps: an Atomic
// marks the ones fired in a window in the bits of one uint64, and redisbudget keeps
// the same limit.
const MaxAlerts = 64

// BudgetsKey is the context key of the budgets budget.NewContext carries (a
// []budget.TokenBudget, outermost first); budgetkit.FromContext reads them.
type BudgetsKey struct{}
