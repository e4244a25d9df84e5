// Package budget is the accounting core of spendguard: budgets that hold an estimate
// before a model call and settle it with the usage the provider reported. A budget
// counts units: tokens, or money in the integer micro-units a price table charges.
//
// The life of one call is a Reservation:
//
//	r, err := b.TryReserve(ctx, estimate) // denied before anything is sent
//	if err != nil {
//		return err // errors.Is(err, budget.ErrDenied) for a soft denial
//	}
//	resp, err := callTheModel()
//	if err != nil {
//		b.Release(ctx, r) // nothing was billed: the hold goes back whole
//		return err
//	}
//	b.Record(ctx, r, promptTokens, completionTokens) // refund or charge the difference
//
// Every TokenBudget keeps the same rules (this package's and budget/redisbudget's are
// tested against them):
//
//   - A reservation is granted only when capacity − consumed − held covers it at that
//     instant. When nothing is left, every reservation is denied, an estimate of 0
//     included.
//   - A reservation is settled at most once. A second Record or Release changes nothing
//     and returns nil; a nil or foreign reservation returns an error wrapping
//     budgetkit.ErrInvalidReservation.
//   - Usage beyond the estimate is charged in full and carried as debt, never dropped:
//     Consumed always equals the sum of recorded usage, and later reservations pay the
//     debt off first.
//   - Arithmetic saturates at math.MaxUint64 instead of wrapping.
//
// Atomic is the in-process budget (budget/redisbudget is the fleet's, on Redis). All
// combines budgets all-or-nothing, and NewContext carries per-run budgets through a
// context, so that middleware reserves against the run's budgets as well as its own.
// A window (package budget/window: Every, Daily, Monthly) starts a budget afresh each
// period; WithAlerts reports the thresholds a Record crosses.
//
// Beyond TokenBudget, middleware asks a budget what else it can do through small
// interfaces: Observable here; Named, RemainingReader, RangeReserver, Composite and
// Alerting in budget/budgetkit, which also builds and settles the reservations of a
// budget of your own.
//
// Bad input, for every function of this package: a nil budget, or a nil pointer of a
// budget type, never panics and never grants: given to NewContext or All, or called
// as a nil *Atomic, it refuses every reservation with an error wrapping ErrNilBudget,
// so a missing budget fails closed instead of becoming "no limit". A nil context is
// context.Background(); a nil Option is ignored.
package budget
