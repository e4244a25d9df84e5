package middleware

import (
	"context"
	"fmt"
	"math"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/wrapkit"
)

// Alternative is a model a budget may send a call to instead of the wrapped one
// (WithFallback).
type Alternative struct {
	// Name is the model's name: the call is estimated, priced (WithPrices), learned
	// (the completion allowance is per model) and traced by it, and, when the call's
	// options name a model (llms.WithModel), it is sent as the model to use.
	Name string
	// Model is the client the call is sent to. It is called directly, through
	// llmwrap.Terminal, so that the call's Spend records it as Wrap would: the
	// middleware listed after Budget in Wrap do not see a call that fell back.
	Model llms.Model
}

// WithFallback gives the budget models to fall back on, in order of preference
// (cheapest last, usually), so that it degrades before it denies. Per call:
//
//   - The call is estimated on the model it is for (the primary) and reserved. When
//     every budget taking part grants it, it goes to the primary as usual.
//   - When a budget denies it (a *budget.DeniedError; with HardCap, when less than the
//     minimum completion is left), it is estimated again as each alternative in turn,
//     with that model's price, its provider's prompt rules (from its Go type, unless
//     WithProvider names one for all), its calibration and its learned allowance, and
//     reserved from the same
//     budgets, all-or-nothing, until one is granted: the call goes to that
//     alternative. A call that fell back is never retried on the primary.
//   - Only when no model fits is the call denied, with the last alternative's
//     *budget.DeniedError, and nothing is sent.
//   - Errors of the budget itself (budget.ErrUnavailable, say) and errors of the
//     provider never cause a fallback: they are returned as they are.
//
// The call's llmwrap.Spend says what happened: Spend.Model is the model called,
// Spend.ModelType its Go type, Spend.Fallback.From the primary's name; Spend.Budget
// describes the reservation on the model called (for a call no model fitted, on the
// last alternative tried). The overspend bounds are unchanged: each call is bounded
// by the estimate of the model it was reserved for.
//
// An alternative with a nil Model or an empty Name, or, with WithPrices, one missing
// from the table, makes every call through the middleware fail with an error that
// says which, before anything is reserved. No alternatives remove the fallback.
func WithFallback(alts ...Alternative) Option {
	cp := append([]Alternative(nil), alts...)
	return func(c *config) { c.alts = cp }
}

// FallbackBelow makes WithFallback also skip the primary when its grant would leave a
// budget taking part with less than fraction of its capacity (read before reserving:
// from a budget.Observable's Snapshot, which is fleet-wide and fresh but costs
// redisbudget a round trip per call, else from budgets with a Capacity() uint64
// method and budgetkit.RemainingReader). The alternatives are then tried first; when none fits, the primary is
// reserved after all. The check is advisory (concurrent calls may move the budget
// between it and the reservation); the reservation itself is exact. A fraction
// outside (0, 1) turns it off.
func FallbackBelow(fraction float64) Option {
	return func(c *config) {
		if fraction > 0 && fraction < 1 {
			c.below = fraction
		} else {
			c.below = 0
		}
	}
}

// fallback is WithFallback's alternatives, ready to call.
type fallback struct {
	alts  []alternative
	below float64
}

type alternative struct {
	name string
	typ  string               // the model's Go type, for Spend.ModelType
	call llmwrap.GenerateFunc // the model through llmwrap.Terminal
}

// newFallback checks the alternatives; nil when there are none.
func newFallback(c *config) (*fallback, error) {
	if len(c.alts) == 0 {
		return nil, nil
	}
	f := &fallback{below: c.below}
	for i, a := range c.alts {
		switch {
		case a.Model == nil:
			return nil, fmt.Errorf("middleware: WithFallback: alternative %d (%q) has a nil Model", i+1, a.Name)
		case a.Name == "":
			return nil, fmt.Errorf("middleware: WithFallback: alternative %d (a %T) has no Name", i+1, a.Model)
		}
		if c.prices != nil {
			if _, ok := c.prices[a.Name]; !ok {
				return nil, fmt.Errorf("%w: WithFallback alternative %q is not in the WithPrices table", ErrUnpriced, a.Name)
			}
		}
		f.alts = append(f.alts, alternative{name: a.Name, typ: fmt.Sprintf("%T", a.Model), call: wrapkit.Terminal(a.Model)})
	}
	return f, nil
}

// reserveWithFallback reserves the call on the first model that fits: the primary,
// unless a budget denies it (or, with FallbackBelow, it would leave too little), then
// each alternative in order. On a switch the Spend and p are pointed at the
// alternative. When nothing fits it returns the last denial, and the Spend describes
// the last alternative tried.
func (h *handler) reserveWithFallback(ctx context.Context, b budget.TokenBudget, s *llmwrap.Spend, q request, p *plan) error {
	primary, primaryType := s.Model, s.ModelType
	if err := h.priced(primary, s.Budget); err != nil {
		return err // refused before anything is tried, as without a fallback
	}
	skipped := false // the primary fits but was passed over for FallbackBelow
	var err error
	if h.fb.below > 0 && h.leavesTooLittle(ctx, b, h.estimateOn(primary, primaryType, q, s.Budget, p)) {
		skipped = true
	} else if err = h.reserveOn(ctx, b, primary, primaryType, q, s.Budget, p); asDenied(err) == nil {
		return err // granted, or the budget failed: no fallback either way
	}
	fromEstimate := s.Budget.Estimate
	for i := range h.fb.alts {
		a := &h.fb.alts[i]
		err = h.reserveOn(ctx, b, a.name, a.typ, q, s.Budget, p)
		if err == nil {
			wrapkit.StartFallback(s, a.name, a.typ, fromEstimate)
			p.call = a.call
			if p.named { // the call's options name the primary: name the alternative instead
				p.opts = append(p.opts[:len(p.opts):len(p.opts)], llms.WithModel(a.name))
			}
			return nil
		}
		if asDenied(err) == nil { // the budget failed: no further fallback
			wrapkit.StartFallback(s, a.name, a.typ, fromEstimate)
			return err
		}
	}
	if skipped { // nothing cheaper fits, but the primary does
		return h.reserveOn(ctx, b, primary, primaryType, q, s.Budget, p)
	}
	last := &h.fb.alts[len(h.fb.alts)-1]
	wrapkit.StartFallback(s, last.name, last.typ, fromEstimate) // the record describes the last model tried
	return err
}

// leavesTooLittle reports whether reserving estimate would leave some budget of b
// with less than the FallbackBelow fraction of its capacity. Budgets that cannot say
// what they have left, or have no capacity, are not judged.
func (h *handler) leavesTooLittle(ctx context.Context, b budget.TokenBudget, estimate uint64) bool {
	return h.leaves(ctx, b, estimate, 0)
}

type capacityReader interface{ Capacity() uint64 }

func (h *handler) leaves(ctx context.Context, b budget.TokenBudget, estimate uint64, depth int) bool {
	if all, ok := b.(budgetkit.Composite); ok {
		if depth > 8 {
			return false
		}
		for _, m := range all.Members() {
			if h.leaves(ctx, m, estimate, depth+1) {
				return true
			}
		}
		return false
	}
	// A Snapshot first: before the call, what another process of the fleet did, and
	// the capacity in force, matter; a RemainingReader's value may predate both.
	var capacity, left uint64
	cr, hasCap := b.(capacityReader)
	switch x := b.(type) {
	case budget.Observable:
		snap, err := x.Snapshot(ctx)
		if err != nil {
			h.report(fmt.Errorf("middleware: reading what is left in budget %q for FallbackBelow: %w", nameOf(b), err))
			return false
		}
		capacity, left = snap.Capacity, snap.Remaining
	case budgetkit.RemainingReader:
		if !hasCap {
			return false
		}
		capacity, left = cr.Capacity(), x.Remaining()
	default:
		return false
	}
	if capacity == 0 || left < estimate {
		return capacity != 0
	}
	reserve := uint64(math.Ceil(h.fb.below * float64(capacity)))
	return left-estimate < reserve
}
