package middleware

import (
	"context"
	"errors"
	"reflect"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/llmwrap/wrapkit"
)

// Budget returns middleware that makes every call pay for itself from b and from
// every budget carried by the call's context (budget.NewContext), all-or-nothing.
//
// Guarantees, per call:
//
//   - Before anything is sent, the call reserves its estimate (prompt estimate +
//     completion allowance, see the package doc) from every budget taking part. A
//     budget that cannot cover it denies the call: its *budget.DeniedError is
//     returned and the model is not called. Any other budget error
//     (budget.ErrUnavailable, say) is returned as well, and the call is not sent:
//     the guard fails closed unless the budget itself fails open.
//   - The hold is settled exactly once: Recorded with what the provider billed (its
//     report, with the parts it left out estimated), or Released whole when nothing
//     was billed (the call failed before the provider billed it, or the model
//     panicked; the panic goes on). Settles run on context.WithoutCancel(ctx)
//     bounded by WithSettleTimeout, so a cancelled call still settles; a settle that
//     fails does not hide the response (WithErrorHandler, Spend.Budget.SettleErr).
//   - The call's Spend gets the budget's part, Spend.Budget: estimates, reserved,
//     charged, the usage charged and how it was arrived at, what is left, alerts.
//     Nothing else in the Spend is written, and nothing is put in the call's options
//     but what is sent: a hard cap's MaxTokens and a streaming function that copies
//     the stream, appended to the options the middleware is passed.
//
// Every budget taking part is reserved from separately, even if the same budget is
// both b and in the context. A nil b enforces only the context's budgets; with none,
// the call passes through untouched and Spend.Budget stays nil. A nil pointer of a
// budget type (a typed-nil *redisbudget.Budget) refuses every call with an error
// wrapping budget.ErrNilBudget; the call is not sent.
//
// Bad input: Budget panics when its options contradict each other (a WithFallback
// alternative with a nil Model or no Name, or one missing from the WithPrices table):
// a configuration error is reported when the middleware is built, not on every call.
// Applied to a nil next it gives a GenerateFunc that returns an error, without
// affecting other applications of the same value. A call outside llmwrap.Wrap (no
// Spend in its context) is refused with an error and not sent: a budget needs the
// call's record to settle it.
func Budget(b budget.TokenBudget, opts ...Option) llmwrap.Middleware {
	c := config{
		est:           estimate.Default(),
		allowance:     defaultCompletionAllowance,
		settleTimeout: defaultSettleTimeout,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if b != nil {
		b = budget.All(b) // b itself, or for a typed-nil b a budget that refuses every call (budget.ErrNilBudget)
	}
	m := &mw{config: c, b: b, name: nameOf(b), learn: newLearner(c.allowance)}
	m.pest, _ = c.est.(estimate.ProviderEstimator)
	// Whether the own budget has alerts is known now; comparing a call's budget with it
	// is safe only when its type is comparable (== panics on identical uncomparable types).
	m.ownComparable = b != nil && reflect.TypeOf(b).Comparable()
	m.alerts = b != nil && alerting(b, 0)
	fb, err := newFallback(&c)
	if err != nil {
		panic(err)
	}
	m.fb = fb
	return func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		if next == nil {
			return failing(errNilNext)
		}
		return (&handler{mw: m, next: next}).generate
	}
}

var (
	errNilNext    = errors.New("middleware: Budget was given a nil next GenerateFunc")
	errNotWrapped = errors.New("middleware: Budget called outside llmwrap.Wrap (no Spend in the context); the call was not sent")
)

// failing is a GenerateFunc that sends nothing and returns err.
func failing(err error) llmwrap.GenerateFunc {
	return func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
		return nil, err
	}
}

type mw struct {
	config
	b      budget.TokenBudget
	name   string
	learn  *learner                   // per model: the learned allowance and the calibration
	pest   estimate.ProviderEstimator // est, when it follows provider rules; else nil
	fb     *fallback                  // nil: no WithFallback
	alerts bool                       // b has alert thresholds
	// ownComparable: b's dynamic type is comparable, so a call's budget can be checked
	// for being b with ==.
	ownComparable bool
}

type handler struct {
	*mw
	next llmwrap.GenerateFunc
}

// generate is one call: find the budgets, reserve (reserve.go), tap the stream
// (stream.go), call, settle (settle.go), learn.
func (h *handler) generate(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	s := llmwrap.SpendFrom(ctx)
	if s == nil {
		return nil, errNotWrapped
	}
	b, name := h.budgetFor(ctx)
	if b == nil {
		return h.next(ctx, msgs, opts...)
	}
	if err := ctx.Err(); err != nil {
		return nil, err // nothing reserved, nothing sent
	}
	c := wrapkit.StartBudget(s)
	c.Name = name

	p, err := h.reserve(ctx, b, s, msgs, opts)
	if err != nil {
		markDenied(c, err)
		return nil, err
	}
	tap := p.tapStream()

	answered := false
	defer func() {
		if !answered { // the model panicked: give the hold back; the panic goes on
			h.release(ctx, b, p.r, s)
		}
	}()
	resp, err := p.call(ctx, msgs, p.opts...)
	answered = true

	h.settle(ctx, b, p, s, resp, err, tap)
	h.learnFrom(s, p, resp, err)
	return resp, err
}
