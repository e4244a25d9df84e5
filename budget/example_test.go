package budget_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
)

// Reserve an estimate before a call, then settle it with what the provider reported.
func Example() {
	ctx := context.Background()
	b := budget.NewAtomic(1000, budget.WithName("run"))

	r, err := b.TryReserve(ctx, 300) // prompt estimate + completion allowance
	if err != nil {
		fmt.Println(err)
		return
	}
	// ... call the model; it reported 120 prompt and 80 completion tokens.
	_ = b.Record(ctx, r, 120, 80) // the 100 over-estimated tokens go back

	s, _ := b.Snapshot(ctx)
	fmt.Printf("consumed %d, held %d, remaining %d\n", s.Consumed, s.Held, s.Remaining)

	_, err = b.TryReserve(ctx, 900)
	var denied *budget.DeniedError
	if errors.As(err, &denied) {
		fmt.Println(errors.Is(err, budget.ErrDenied), denied.Requested, denied.Remaining)
	}
	// Output:
	// consumed 200, held 0, remaining 800
	// true 900 800
}

// A per-run budget nested under a global one: a call must fit both.
func ExampleAll() {
	ctx := context.Background()
	global := budget.NewAtomic(10_000, budget.WithName("global"))
	run := budget.NewAtomic(500, budget.WithName("run-42"))

	both := budget.All(global, run)
	_, err := both.TryReserve(ctx, 800) // the run budget says no; global is untouched
	fmt.Println(err)
	fmt.Println("global remaining:", global.Remaining())
	// Output:
	// budget: denied by "run-42": requested 800 tokens, 500 remaining
	// global remaining: 10000
}

// A missing budget fails closed: a nil *Atomic (or *redisbudget.Budget, from an
// unchecked error) in All refuses every reservation instead of lifting its limit.
func ExampleAll_nilMember() {
	ctx := context.Background()
	var tenant *budget.Atomic // never built
	global := budget.NewAtomic(10_000, budget.WithName("global"))

	_, err := budget.All(tenant, global).TryReserve(ctx, 100)
	fmt.Println(errors.Is(err, budget.ErrNilBudget), errors.Is(err, budget.ErrDenied))
	fmt.Println("global remaining:", global.Remaining())
	// Output:
	// true false
	// global remaining: 10000
}

// Budgets carried by the context: middleware reserves against each of them.
func ExampleNewContext() {
	ctx := budget.NewContext(context.Background(), budget.NewAtomic(1000, budget.WithName("tenant")))
	ctx = budget.NewContext(ctx, budget.NewAtomic(100, budget.WithName("run")))
	for _, b := range budgetkit.FromContext(ctx) {
		fmt.Println(b.(*budget.Atomic).Name())
	}
	// Output:
	// tenant
	// run
}

// A range reservation grants what is left, down to a minimum: what a hard cap needs.
func ExampleAtomic_TryReserveRange() {
	ctx := context.Background()
	b := budget.NewAtomic(1000)
	r, _ := b.TryReserveRange(ctx, 100, 4096)
	fmt.Println(r.Tokens())
	// Output: 1000
}

// Alert at several thresholds, each once per window, on the Record that crosses it.
func ExampleWithAlerts() {
	ctx := context.Background()
	b := budget.NewAtomic(1000, budget.WithName("team"),
		budget.WithAlerts(func(a budget.Alert) {
			fmt.Printf("alert: %q passed %.0f%% (%d of %d)\n", a.Snapshot.Name, 100*a.Fraction, a.Snapshot.Consumed, a.Snapshot.Capacity)
		}, 0.5, 0.8, 0.95))
	for _, usage := range []uint64{400, 200, 300, 50} {
		r, err := b.TryReserve(ctx, usage)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("record", usage)
		_ = b.Record(ctx, r, usage, 0)
	}
	// Output:
	// record 400
	// record 200
	// alert: "team" passed 50% (600 of 1000)
	// record 300
	// alert: "team" passed 80% (900 of 1000)
	// record 50
	// alert: "team" passed 95% (950 of 1000)
}
