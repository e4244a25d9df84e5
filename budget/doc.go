// Package budget is the accounting core of spendguard: token budgets that hold an
// estimate before a model call and settle it with the usage the provider reported.
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
// Every implementation keeps the same rules:
//
//   - A reservation is granted only when capacity − consumed − held covers it at that
//     instant. When nothing is left, every reservation is denied, an estimate of 0
//     included.
//   - A reservation is settled at most once. A second Record or Release changes nothing
//     and returns nil; a nil or foreign reservation returns an error wrapping
//     ErrInvalidReservation and never panics.
//   - Usage beyond the estimate is charged in full and carried as debt, never dropped:
//     Consumed always equals the sum of recorded usage, and later reservations pay the
//     debt off first.
//   - Arithmetic saturates at math.MaxUint64 instead of wrapping.
//
// Atomic is the in-process budget: lock-free, one allocation per reservation at most
// (none when the caller keeps the reservation on its stack, as a direct call allows). All combines budgets
// all-or-nothing, and NewContext carries per-run budgets through a context so that
// middleware reserves against the run's budget as well as its own. Guard limits
// unit-cost work such as tool dispatches.
//
// Budgets outside this package (budget/redisbudget, or a user's own) are built from the
// exported API alone: package budgetkit builds and settles their reservations, and the
// small interfaces Named, RemainingReader, Observable, RangeReserver and Composite
// tell middleware what else a budget can do (name itself in spans and denials, say
// what it has left without a round trip, grant ranges for a hard cap).
package budget
