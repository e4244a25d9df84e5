package middleware

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/internal/callopts"
	"github.com/spendguard/spendguard/internal/sat"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/tmc/langchaingo/llms"
)

// ErrHardCapUnsupported is wrapped by the error a HardCap call returns when a budget
// taking part (the middleware's own or one from the context) does not implement
// budgetkit.RangeReserver. The provider is not called.
var ErrHardCapUnsupported = errors.New("middleware: HardCap needs every budget to implement budgetkit.RangeReserver")

// minHardCapCompletion is the smallest completion a hard-capped call is sent with
// (unless the allowance itself is smaller): fewer tokens are rarely a useful answer.
const minHardCapCompletion = 16

// A hard-capped call whose caller set no MaxTokens asks for up to
// max(hardCapAllowanceFactor × the learned allowance, hardCapFloor) completion tokens
// per choice, and is sent what the budget grants of that: the answer is cut only when
// the budget can no longer pay for more, not at the learned p95. (langchaingo does not
// expose a model's output limit; a caller who knows it sets MaxTokens.)
const (
	hardCapAllowanceFactor = 4
	hardCapFloor           = 4096
)

// plan is what the reservation decided for one call.
type plan struct {
	r         *budget.Reservation
	call      llmwrap.GenerateFunc                // next, or the fallback model reserved for
	opts      []llms.CallOption                   // the options to send
	choices   uint64                              // completions asked for
	maxTokens int                                 // per-choice completion limit sent; 0: none
	named     bool                                // the options name the model (llms.WithModel)
	stream    func(context.Context, []byte) error // the streaming function the options set
	shape     shape                               // the request's shape, which the calibration is per
}

// request is the call as the reservation estimates it, whatever model it goes to.
type request struct {
	msgs  []llms.MessageContent
	o     *llms.CallOptions // resolved from the opts the middleware was passed
	embed bool              // a batch of texts to embed (llmwrap.WrapEmbedder): no completion
}

// operationEmbeddings is llmwrap.Spend.Operation for a llmwrap.WrapEmbedder batch.
const operationEmbeddings = "embeddings"

// budgetFor is what a call reserves from, and the name its record carries: the
// middleware's budget, joined all-or-nothing with the context's budgets when there are
// any. Nil when there is no budget at all.
func (h *handler) budgetFor(ctx context.Context) (budget.TokenBudget, string) {
	inCtx := budgetkit.FromContext(ctx)
	if len(inCtx) == 0 {
		return h.b, h.name
	}
	members := make([]budget.TokenBudget, 0, len(inCtx)+1)
	if h.b != nil {
		members = append(members, h.b)
	}
	for _, b := range inCtx {
		if b != nil {
			members = append(members, b)
		}
	}
	switch len(members) {
	case 0:
		return nil, ""
	case 1:
		return members[0], nameOf(members[0])
	}
	name := h.name
	if h.b == nil {
		name = nameOf(members[len(members)-1])
	}
	return budget.All(members...), name
}

// reserve estimates the call from the options it was passed and reserves the estimate
// from b, on the model the call is for or, with WithFallback, on the first model that
// fits.
func (h *handler) reserve(ctx context.Context, b budget.TokenBudget, s *llmwrap.Spend, msgs []llms.MessageContent, opts []llms.CallOption) (plan, error) {
	o := callopts.Resolve(opts)
	defer callopts.Release(o)
	p := plan{call: h.next, opts: opts, choices: choices(o), maxTokens: o.MaxTokens, named: o.Model != "", stream: o.StreamingFunc, shape: shapeOf(msgs, o)}
	q := request{msgs: msgs, o: o, embed: s.Operation == operationEmbeddings}

	var err error
	if h.fb == nil || q.embed { // the alternatives are chat models: an embedding has none
		err = h.reserveOn(ctx, b, s.Model, s.ModelType, q, s.Budget, &p)
	} else {
		err = h.reserveWithFallback(ctx, b, s, q, &p)
	}
	if err != nil {
		return plan{}, err
	}
	c := s.Budget
	c.Reserved, c.FailOpen = p.r.Tokens(), p.r.FailedOpen()
	return p, nil
}

// reserveOn estimates the call as a call to the model called name (of Go type typ)
// and reserves the estimate from b (a range under HardCap, whose grant becomes the
// MaxTokens sent). c gets the estimates.
func (h *handler) reserveOn(ctx context.Context, b budget.TokenBudget, name, typ string, q request, c *llmwrap.BudgetCharge, p *plan) error {
	if err := h.priced(name, c); err != nil {
		return err
	}
	h.estimateOn(name, typ, q, c, p)
	var err error
	if h.hardCap && !q.embed { // an embedding has no completion to cap
		err = h.reserveRange(ctx, b, name, c, p)
	} else {
		p.r, err = b.TryReserve(ctx, c.Estimate)
	}
	if err == nil && p.r == nil {
		err = fmt.Errorf("middleware: budget %q granted a nil reservation", c.Name)
	}
	return err
}

// priced returns an error wrapping ErrUnpriced when the budget counts money with
// WithPrices and model is not in the table.
func (h *handler) priced(model string, c *llmwrap.BudgetCharge) error {
	if h.prices != nil {
		if _, ok := h.prices[model]; !ok {
			return fmt.Errorf("%w %q (budget %q); add it to the WithPrices table", ErrUnpriced, model, c.Name)
		}
	}
	return nil
}

// estimateOn sets c's estimates for a call to the model called name (of Go type typ):
// the prompt estimate under its provider's rules and its calibration, its completion
// allowance, and their units. It returns the estimate.
func (h *handler) estimateOn(name, typ string, q request, c *llmwrap.BudgetCharge, p *plan) uint64 {
	r := h.learn.ring(name, false) // the model's learned state; nil for a new model
	c.PromptEstimateRaw = h.estimate(name, typ, q.msgs, q.o)
	c.PromptEstimate = c.PromptEstimateRaw
	if !h.noCalibration {
		c.PromptEstimate = r.calibrated(p.shape, c.PromptEstimateRaw)
	}
	if !q.embed {
		c.CompletionAllowance = sat.Mul(h.allowance(r, p.maxTokens), p.choices)
	}
	c.Estimate = h.units(name, c.PromptEstimate, c.CompletionAllowance)
	return c.Estimate
}

// reserveRange reserves for a hard-capped call and sends the granted completion part,
// divided among the choices, as its MaxTokens.
func (h *handler) reserveRange(ctx context.Context, b budget.TokenBudget, model string, c *llmwrap.BudgetCharge, p *plan) error {
	rr, ok := b.(budgetkit.RangeReserver)
	if !ok {
		return fmt.Errorf("%w (budget %q is a %T)", ErrHardCapUnsupported, c.Name, notRange(b))
	}
	pe := c.PromptEstimate
	allow := c.CompletionAllowance
	if p.maxTokens == 0 { // no limit of the caller's: grant what is left, up to the ceiling
		perChoice := allow / p.choices
		c.CompletionAllowance = sat.Mul(max(sat.Mul(perChoice, hardCapAllowanceFactor), hardCapFloor), p.choices)
		allow = c.CompletionAllowance
	}
	allow = min(max(allow, p.choices), math.MaxInt32) // at least 1 per choice: MaxTokens 0 would mean "no limit"
	least := min(sat.Mul(minHardCapCompletion, p.choices), allow)
	c.Estimate = h.units(model, pe, allow)
	r, err := rr.TryReserveRange(ctx, h.units(model, pe, least), c.Estimate)
	if err != nil || r == nil {
		return err
	}
	p.r = r
	p.maxTokens = int(max(h.completionFor(model, pe, least, allow, r.Tokens())/p.choices, 1))
	p.opts = append(p.opts[:len(p.opts):len(p.opts)], llms.WithMaxTokens(p.maxTokens))
	return nil
}

// estimate is the static prompt estimate of a call to the model called name, of Go
// type typ: under the provider's rules (the WithProvider name, else the model
// type's) when the estimator knows them, refined by the model's name (which the
// estimator reads from o.Model: it is set there, for the estimate only, when the
// options name none).
func (h *handler) estimate(name, typ string, msgs []llms.MessageContent, o *llms.CallOptions) uint64 {
	if h.pest == nil {
		return h.est.Estimate(msgs, o)
	}
	p := h.provider
	if !h.providerSet {
		p = estimate.ProviderOf(typ)
	}
	if o.Model != "" || name == callopts.UnknownModel {
		return h.pest.EstimateFor(p, msgs, o)
	}
	o.Model = name
	n := h.pest.EstimateFor(p, msgs, o)
	o.Model = ""
	return n
}

// allowance is the completion allowance of one choice of a call whose options set
// maxTokens, for the model whose ring is r.
func (h *handler) allowance(r *modelRing, maxTokens int) uint64 {
	switch {
	case maxTokens > 0:
		return uint64(maxTokens)
	case h.fixed:
		return h.config.allowance
	}
	return h.learn.allowanceOf(r)
}

// choices is how many completions the call asks for (CallOptions.N or
// CandidateCount): MaxTokens and the allowance are per choice.
func choices(o *llms.CallOptions) uint64 {
	return uint64(min(max(o.N, o.CandidateCount, 1), maxChoices))
}

// units converts a prompt and completion size to budget units.
func (h *handler) units(model string, prompt, completion uint64) uint64 {
	if h.cost != nil {
		return h.cost(model, llmwrap.Usage{PromptTokens: prompt, CompletionTokens: completion})
	}
	return sat.Add(prompt, completion)
}

// completionFor is the largest completion in [lo, hi] whose units with prompt pe fit
// in granted (lo when none does: the budget granted at least lo's units).
func (h *handler) completionFor(model string, pe, lo, hi, granted uint64) uint64 {
	if h.cost == nil {
		if granted <= pe {
			return lo
		}
		return min(max(granted-pe, lo), hi)
	}
	for lo < hi { // cost is non-decreasing: binary search the largest fit
		m := lo + (hi-lo+1)/2
		if h.units(model, pe, m) <= granted {
			lo = m
		} else {
			hi = m - 1
		}
	}
	return lo
}

// notRange names the budget that keeps b from being a RangeReserver, for the error.
func notRange(b budget.TokenBudget) budget.TokenBudget {
	if all, ok := b.(budgetkit.Composite); ok {
		for _, m := range all.Members() {
			if _, ok := m.(budgetkit.RangeReserver); !ok {
				return m
			}
		}
	}
	return b
}

// maxChoices bounds the choices a call is budgeted for (langchaingo passes N through).
const maxChoices = 128

// markDenied notes a denial in the budget's part of the call: which budget refused
// and what it had left.
func markDenied(c *llmwrap.BudgetCharge, err error) {
	if d := asDenied(err); d != nil {
		c.Denied, c.Remaining, c.RemainingKnown = true, d.Remaining, true
		if d.Budget != "" {
			c.Name = d.Budget
		}
	}
}
