package budgetkit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
)

// Counter is a budget of one's own: a mutex and two counts, built from the exported
// API alone.
type Counter struct {
	name               string
	mu                 sync.Mutex
	capacity, consumed uint64
	held               uint64
}

func (c *Counter) Name() string { return c.name } // budgetkit.Named

func (c *Counter) Remaining() uint64 { // budgetkit.RemainingReader
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remaining()
}

func (c *Counter) remaining() uint64 {
	if used := c.consumed + c.held; used < c.capacity {
		return c.capacity - used
	}
	return 0
}

func (c *Counter) TryReserve(_ context.Context, n uint64) (*budget.Reservation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if left := c.remaining(); left == 0 || left < n {
		return nil, &budget.DeniedError{Budget: c.name, Requested: n, Remaining: left}
	}
	c.held += n
	return budgetkit.NewReservation(c, "", n), nil
}

func (c *Counter) Record(_ context.Context, r *budget.Reservation, prompt, completion uint64) error {
	return c.settle(r, prompt+completion)
}

func (c *Counter) Release(_ context.Context, r *budget.Reservation) error { return c.settle(r, 0) }

func (c *Counter) settle(r *budget.Reservation, usage uint64) error {
	if err := budgetkit.CheckIssuer(r, c, c.name); err != nil {
		return err
	}
	if !budgetkit.Settle(r) {
		return nil // at most once
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held -= r.Tokens()
	c.consumed += usage
	return nil
}

func (c *Counter) Consumed(context.Context) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.consumed, nil
}

func Example() {
	ctx := context.Background()
	b := &Counter{name: "mine", capacity: 100}

	r, _ := b.TryReserve(ctx, 60)
	fmt.Println("held:", r.Tokens(), "left:", b.Remaining())
	fmt.Println(b.Record(ctx, r, 20, 10), "left:", b.Remaining())
	fmt.Println(b.Record(ctx, r, 20, 10), "(a second settle changes nothing)")

	_, err := b.TryReserve(ctx, 80)
	fmt.Println(errors.Is(err, budget.ErrDenied), err)
	fmt.Println(errors.Is(b.Release(ctx, nil), budgetkit.ErrInvalidReservation))
	// Output:
	// held: 60 left: 40
	// <nil> left: 70
	// <nil> (a second settle changes nothing)
	// true budget: denied by "mine": requested 80 tokens, 70 remaining
	// true
}
