package middleware

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/callopts"
	"github.com/spendguard/spendguard/internal/sat"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
)

// ErrHardCapUnsupported is wrapped by the error a HardCap call returns when a budget
// taking part (the middleware's own or one from the context) does not implement
// budget.RangeReserver. The provider is not called.
var ErrHardCapUnsupported = errors.New("middleware: HardCap needs every budget to implement budget.RangeReserver")

// minHardCapCompletion is the smallest completion a hard-capped call is sent with
// (unless the allowance itself is smaller): fewer tokens are rarely a useful answer.
const minHardCapCompletion = 16

// Budget returns middleware that makes every call pay for itself from b and from
// every budget carried by the call's context (budget.NewContext), all-or-nothing.
//
// Per call:
//
//  1. estimate = prompt estimate + completion allowance. The prompt estimate is the
//     estimator's (WithEstimator) under the provider's published rules (WithProvider,
//     else the wrapped model's type; for an estimate.ProviderEstimator), corrected by
//     the model's calibration (below). The completion allowance is the call's
//     MaxTokens when set, else the model's learned allowance (the p95 of its last 64
//     completions; DefaultCompletionAllowance before it has data; completions cut at
//     their cap never lower it), or the fixed WithCompletionAllowance. The
//     allowance is per choice: a call asking for N choices (CallOptions.N or
//     CandidateCount) reserves N times it.
//  2. TryReserve the estimate (TryReserveRange under HardCap). A denial returns the
//     budget's *budget.DeniedError unchanged and the model is not called; any other
//     budget error (budget.ErrUnavailable, say) is returned too: the call fails
//     closed unless the budget itself fails open. With WithFallback, a denied call is
//     first estimated and reserved again as each alternative model in turn, and goes
//     to the first that fits (see WithFallback).
//  3. Call the model.
//  4. Settle. On success, Record the usage the provider reported; when it reported
//     none, charge the prompt estimate plus estimate.Text of every piece of
//     response text (tool-call arguments included; with streaming, of the streamed
//     text when the response carries none) and mark the usage
//     llmwrap.UsageEstimated. When it reported part of it (llmwrap.ReportedUsage: a
//     prompt of 0, or a completion of 0 next to output, text streamed included), keep
//     the reported part, estimate the missing one the same way and mark the usage
//     llmwrap.UsagePartial. On an error, Record what the provider reported if it
//     reported anything (its missing part estimated), else Release the hold (or,
//     with ChargeOnError, charge the prompt estimate unless the context was
//     cancelled). On a panic, Release and let
//     the panic continue. A call that answered is recorded even when its context was
//     cancelled meanwhile: the model already billed it.
//
// The options the middleware reads (MaxTokens, N, tools for the estimate, the
// streaming function it taps) are the ones it is passed, as an outer middleware may
// have changed them; it sends them on with its own additions appended (a hard cap's
// MaxTokens, a streaming function that copies the stream and calls the one it
// found), never rewriting the caller's.
//
// Calibration. Every settled call whose provider reported its prompt count teaches
// the model's calibration (per Spend.Model, next to its learned allowance) what a
// prompt of that static estimate was billed: a router's hidden system prompt, a chat
// template, another tokenizer. It fits billed ≈ slope × estimate + overhead over the
// model's last 16 such calls, robustly (the better of a pure ratio, a pure overhead and
// a Theil–Sen line; a few outliers move nothing), centred a little above the median
// because an under-estimate is what a hard cap overspends. A model with fewer than 3
// calls (a cold start) reserves the static estimate. Bounds: slope in [1/4, 4],
// overhead within ±65,536 tokens, and the calibrated estimate within [estimate/4,
// 4×estimate + 65,536]. It costs 144 bytes per model (models are bounded like the
// allowance), no lock and no allocation; WithoutCalibration turns it off.
// Spend.Budget.PromptEstimateRaw is the static estimate and PromptEstimate the
// calibrated one.
//
// Settles run on context.WithoutCancel(ctx) bounded by WithSettleTimeout, so that a
// cancelled call still settles; a context that can never be cancelled (Done returns
// nil, as for context.Background) is used as it is. A settle error does not hide the
// response: it goes to WithErrorHandler and Spend.Budget.SettleErr.
//
// Every budget taking part is reserved from separately, even if the same budget is
// both b and in the context. A nil b enforces only the context's budgets; with none,
// the call passes through untouched and Spend.Budget stays nil.
//
// The call's llmwrap.Spend (from Wrap) gets the budget's record in Spend.Budget
// (llmwrap.BudgetCharge): the budget's name (budget.Named; the denying budget's on a
// denial), the estimates, what was reserved and charged, whether it was denied, what
// is left after the settle (budget.RemainingReader, else budget.Observable; the
// smallest among a budget.Composite's members) and whether a budget failed open; the
// usage it charged goes to Spend.Usage, and the alert thresholds its Record crossed
// (budget.WithAlerts) to Spend.Budget.Alerts. Used outside Wrap, the middleware keeps a
// private Spend. Budget state is never put in CallOptions.Metadata.
func Budget(b budget.TokenBudget, opts ...Option) llmwrap.Middleware {
	c := config{
		est:           estimate.Default(),
		allowance:     DefaultCompletionAllowance,
		settleTimeout: DefaultSettleTimeout,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	m := &mw{config: c, b: b, name: nameOf(b), learn: newLearner(c.allowance)}
	m.pest, _ = c.est.(estimate.ProviderEstimator)
	// Whether the own budget has alerts is known now; comparing a call's budget with it
	// is safe only when its type is comparable (== panics on identical uncomparable types).
	m.ownComparable = b != nil && reflect.TypeOf(b).Comparable()
	m.alerts = b != nil && alerting(b, 0)
	fb, badOption := newFallback(&c)
	m.fb = fb
	return func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		if next == nil {
			badOption = errors.New("middleware: Budget was given a nil next GenerateFunc")
		}
		if badOption != nil {
			return func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
				return nil, badOption
			}
		}
		return (&handler{mw: m, next: next}).generate
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

// plan is what the reservation decided for one call.
type plan struct {
	r         *budget.Reservation
	call      llmwrap.GenerateFunc                // next, or the fallback model reserved for
	opts      []llms.CallOption                   // the options to send
	choices   uint64                              // completions asked for
	maxTokens int                                 // per-choice completion limit sent; 0: none
	named     bool                                // the options name the model (llms.WithModel)
	stream    func(context.Context, []byte) error // the streaming function the options set
}

// request is the call as the reservation estimates it, whatever model it goes to.
type request struct {
	msgs []llms.MessageContent
	o    *llms.CallOptions // resolved from the opts the middleware was passed
}

func (h *handler) generate(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	b, name := h.budgetFor(ctx)
	if b == nil {
		return h.next(ctx, msgs, opts...)
	}
	if err := ctx.Err(); err != nil {
		return nil, err // nothing reserved, nothing sent
	}
	s, wrapped := spendOf(ctx, opts)
	c := s.StartBudget()
	c.Name = name

	p, err := h.reserve(ctx, b, s, msgs, opts)
	if err != nil {
		if d := asDenied(err); d != nil {
			c.Denied, c.Remaining, c.RemainingKnown = true, d.Remaining, true
			if d.Budget != "" {
				c.Name = d.Budget
			}
		}
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

	h.settle(ctx, b, p, s, wrapped, resp, err, tap)
	h.learnFrom(s, p, resp, err)
	return resp, err
}

// settle charges the call what its provider billed: the reported usage, with what the
// report left out estimated, or all of it estimated when nothing was reported. A call
// that failed with nothing billed gives its hold back (or, with ChargeOnError, pays
// its prompt estimate when it was sent).
func (h *handler) settle(ctx context.Context, b budget.TokenBudget, p plan, s *llmwrap.Spend, wrapped bool,
	resp *llms.ContentResponse, err error, tap *streamTap) {
	c := s.Budget
	u, missing := s.Usage, s.UsageMissing
	if !wrapped { // no Wrap below to read the report
		u, missing = llmwrap.ReportedUsage(resp)
	}
	if missing&llmwrap.MissingCompletion == 0 && u.CompletionTokens == 0 && tap.streamed() {
		// Output that went out only through the stream is output all the same.
		missing |= llmwrap.MissingCompletion
		if missing == llmwrap.MissingAll {
			u = llmwrap.Usage{}
		}
	}
	s.UsageMissing = missing
	switch {
	case missing == 0: // answered, or failed after the provider billed what it reports
		h.record(ctx, b, p.r, s, u, llmwrap.UsageReported)
	case missing != llmwrap.MissingAll: // keep what was reported, estimate the rest
		if missing&llmwrap.MissingPrompt != 0 {
			u.PromptTokens = c.PromptEstimate
		}
		if missing&llmwrap.MissingCompletion != 0 {
			u.CompletionTokens = responseEstimate(resp, tap)
		}
		h.record(ctx, b, p.r, s, u, llmwrap.UsagePartial)
	case err == nil:
		u = llmwrap.Usage{PromptTokens: c.PromptEstimate, CompletionTokens: responseEstimate(resp, tap)}
		h.record(ctx, b, p.r, s, u, llmwrap.UsageEstimated)
	case h.chargeOnError && ctx.Err() == nil && (s.Sent || !wrapped): // never sent (a later middleware refused it): nothing billed
		h.record(ctx, b, p.r, s, llmwrap.Usage{PromptTokens: c.PromptEstimate}, llmwrap.UsageEstimated)
	default:
		h.release(ctx, b, p.r, s)
	}
}

// learnFrom teaches the model's prompt calibration the prompt the provider reported
// for the estimate, and its learned allowance the completion of a call that answered,
// with one lookup of the model's state for both.
func (h *handler) learnFrom(s *llmwrap.Spend, p plan, resp *llms.ContentResponse, err error) {
	learnPrompt := s.UsageSource != llmwrap.UsageNone && s.UsageMissing&llmwrap.MissingPrompt == 0 && !h.noCalibration
	learnCompletion := err == nil && !h.fixed
	if !learnPrompt && !learnCompletion {
		return
	}
	r := h.learn.ring(s.Model, true)
	if r == nil {
		return
	}
	if learnPrompt {
		r.cal.observe(s.Budget.PromptEstimateRaw, s.Usage.PromptTokens)
	}
	if learnCompletion {
		perChoice := s.Usage.CompletionTokens / p.choices
		h.learn.observeRing(r, perChoice, wasCut(resp, p.maxTokens, perChoice))
	}
}

// budgetFor is what a call reserves from, and the name its record carries: the
// middleware's budget, joined all-or-nothing with the context's budgets when there are
// any. Nil when there is no budget at all.
func (h *handler) budgetFor(ctx context.Context) (budget.TokenBudget, string) {
	inCtx := budget.FromContext(ctx)
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
	p := plan{call: h.next, opts: opts, choices: choices(o), maxTokens: o.MaxTokens, named: o.Model != "", stream: o.StreamingFunc}
	q := request{msgs: msgs, o: o}

	var err error
	if h.fb == nil {
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
	if h.hardCap {
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
	c.PromptEstimateRaw = h.estimate(typ, q.msgs, q.o)
	c.PromptEstimate = c.PromptEstimateRaw
	if !h.noCalibration {
		c.PromptEstimate = r.calibrated(c.PromptEstimateRaw)
	}
	c.CompletionAllowance = sat.Mul(h.allowance(r, p.maxTokens), p.choices)
	c.Estimate = h.units(name, c.PromptEstimate, c.CompletionAllowance)
	return c.Estimate
}

// reserveRange reserves for a hard-capped call and sends the granted completion part,
// divided among the choices, as its MaxTokens.
func (h *handler) reserveRange(ctx context.Context, b budget.TokenBudget, model string, c *llmwrap.BudgetCharge, p *plan) error {
	rr, ok := b.(budget.RangeReserver)
	if !ok {
		return fmt.Errorf("%w (budget %q is a %T)", ErrHardCapUnsupported, c.Name, notRange(b))
	}
	pe := c.PromptEstimate
	allow := min(max(c.CompletionAllowance, p.choices), math.MaxInt32) // at least 1 per choice: MaxTokens 0 would mean "no limit"
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

// estimate is the static prompt estimate of a call to a model of Go type typ: under
// the provider's rules (the WithProvider name, else the model type's) when the
// estimator knows them.
func (h *handler) estimate(typ string, msgs []llms.MessageContent, o *llms.CallOptions) uint64 {
	if h.pest == nil {
		return h.est.Estimate(msgs, o)
	}
	p := h.provider
	if !h.providerSet {
		p = estimate.ProviderOf(typ)
	}
	return h.pest.EstimateFor(p, msgs, o)
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

// maxChoices bounds the choices a call is budgeted for (langchaingo passes N through).
const maxChoices = 128

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
	if all, ok := b.(budget.Composite); ok {
		for _, m := range all.Members() {
			if _, ok := m.(budget.RangeReserver); !ok {
				return m
			}
		}
	}
	return b
}

// record settles r with usage u, which becomes the call's usage.
func (h *handler) record(ctx context.Context, b budget.TokenBudget, r *budget.Reservation, s *llmwrap.Spend, u llmwrap.Usage, src llmwrap.UsageSource) {
	s.Usage, s.UsageSource = u, src
	prompt, completion := u.PromptTokens, u.CompletionTokens
	if h.cost != nil {
		prompt, completion = h.cost(s.Model, u), 0
	}
	s.Budget.Charged = sat.Add(prompt, completion)
	sctx, cancel := h.settleContext(ctx)
	defer cancel()
	if h.alerting(b) {
		c := s.Budget
		sctx = budget.NotifyAlerts(sctx, func(a budget.Alert) {
			c.Alerts = append(c.Alerts, llmwrap.Alert{Budget: a.Snapshot.Name, Fraction: a.Fraction, Consumed: a.Snapshot.Consumed, Capacity: a.Snapshot.Capacity})
		})
	}
	if err := b.Record(sctx, r, prompt, completion); err != nil {
		h.settleFailed(s.Budget, fmt.Errorf("middleware: recording the usage of a %s call in budget %q: %w", s.Model, s.Budget.Name, err))
	}
	s.Budget.Remaining, s.Budget.RemainingKnown = h.remaining(sctx, b, 0)
}

// release gives r back whole.
func (h *handler) release(ctx context.Context, b budget.TokenBudget, r *budget.Reservation, s *llmwrap.Spend) {
	s.Budget.Charged = 0
	sctx, cancel := h.settleContext(ctx)
	defer cancel()
	if err := b.Release(sctx, r); err != nil {
		h.settleFailed(s.Budget, fmt.Errorf("middleware: releasing the hold of a %s call in budget %q: %w", s.Model, s.Budget.Name, err))
	}
	s.Budget.Remaining, s.Budget.RemainingKnown = h.remaining(sctx, b, 0)
}

// alerting reports whether a Record of b may cross an alert threshold, so that the
// settle is prepared to note it (known in advance for the middleware's own budget).
func (h *handler) alerting(b budget.TokenBudget) bool {
	if h.ownComparable && b == h.b {
		return h.alerts
	}
	return alerting(b, 0)
}

// alerting reports whether b, or a member of it, has alert thresholds (budget.Alerting).
func alerting(b budget.TokenBudget, depth int) bool {
	if a, ok := b.(budget.Alerting); ok && len(a.AlertFractions()) > 0 {
		return true
	}
	if all, ok := b.(budget.Composite); ok && depth < 8 {
		for _, m := range all.Members() {
			if alerting(m, depth+1) {
				return true
			}
		}
	}
	return false
}

func (h *handler) settleFailed(c *llmwrap.BudgetCharge, err error) {
	c.SettleErr = err
	h.report(err)
}

// remaining is what b has left (the smallest among a composite's members), and
// whether b could say.
func (h *handler) remaining(ctx context.Context, b budget.TokenBudget, depth int) (uint64, bool) {
	switch x := b.(type) {
	case budget.RemainingReader:
		return x.Remaining(), true
	case budget.Composite:
		if depth > 8 {
			return 0, false
		}
		var least uint64
		known := false
		for _, m := range x.Members() {
			if v, ok := h.remaining(ctx, m, depth+1); ok && (!known || v < least) {
				least, known = v, true
			}
		}
		return least, known
	case budget.Observable:
		snap, err := x.Snapshot(ctx)
		if err != nil {
			h.report(fmt.Errorf("middleware: reading what is left in budget %q: %w", nameOf(b), err))
			return 0, false
		}
		return snap.Remaining, true
	}
	return 0, false
}

func (h *handler) report(err error) {
	if h.onError != nil {
		h.onError(err)
	}
}

// settleContext is the context settles run on: the call's values without its
// cancellation, bounded by the settle timeout, since the call has happened and its
// hold must be settled even if the caller gave up. A context that can never be
// cancelled needs no detaching and is used as it is.
func (h *handler) settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Done() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), h.settleTimeout)
}

func nameOf(b budget.TokenBudget) string {
	if n, ok := b.(budget.Named); ok {
		return n.Name()
	}
	return ""
}

func asDenied(err error) *budget.DeniedError {
	var d *budget.DeniedError
	if errors.As(err, &d) {
		return d
	}
	return nil
}

// spendOf is the call's Spend; wrapped is false for a call made outside Wrap, which
// gets a private Spend nobody reads (and no report of the usage from Wrap).
func spendOf(ctx context.Context, opts []llms.CallOption) (s *llmwrap.Spend, wrapped bool) {
	if s := llmwrap.SpendFrom(ctx); s != nil {
		return s, true
	}
	return llmwrap.NewSpend(opts...), false
}

// wasCut reports whether a completion stopped at its token cap rather than on its own.
func wasCut(resp *llms.ContentResponse, maxTokens int, completion uint64) bool {
	if maxTokens > 0 && completion >= uint64(maxTokens) {
		return true
	}
	if resp == nil {
		return false
	}
	for _, c := range resp.Choices {
		if c != nil && isLengthStop(c.StopReason) {
			return true
		}
	}
	return false
}

func isLengthStop(reason string) bool {
	switch reason {
	case "", "stop", "end_turn", "tool_calls", "tool_use", "function_call", "stop_sequence":
		return false
	case "length", "max_tokens":
		return true
	}
	r := strings.ToLower(reason)
	return strings.Contains(r, "length") || strings.Contains(r, "max_tokens") || strings.Contains(r, "maxtokens")
}

// responseEstimate estimates the completion tokens of a response that reported no
// usage: every choice's text, reasoning and tool calls, or the streamed text when the
// response carries no text at all.
func responseEstimate(resp *llms.ContentResponse, tap *streamTap) uint64 {
	var n uint64
	if resp != nil {
		for _, c := range resp.Choices {
			if c == nil {
				continue
			}
			n = sat.Add(n, estimate.Text(c.Content))
			n = sat.Add(n, estimate.Text(c.ReasoningContent))
			for _, tc := range c.ToolCalls {
				if tc.FunctionCall != nil {
					n = sat.Add(n, estimate.Text(tc.FunctionCall.Name))
					n = sat.Add(n, estimate.Text(tc.FunctionCall.Arguments))
				}
			}
			if len(c.ToolCalls) == 0 && c.FuncCall != nil { // FuncCall repeats ToolCalls[0]
				n = sat.Add(n, estimate.Text(c.FuncCall.Name))
				n = sat.Add(n, estimate.Text(c.FuncCall.Arguments))
			}
		}
	}
	if n == 0 && tap != nil {
		n = estimate.Text(tap.text())
	}
	return n
}

// streamTap keeps a copy of the streamed text, for estimating usage when the
// provider reports none, and passes every chunk on to the function the options set.
type streamTap struct {
	next func(context.Context, []byte) error
	mu   sync.Mutex
	buf  []byte
}

// streamed reports whether any text went out through the stream (false for nil t).
func (t *streamTap) streamed() bool {
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.buf) > 0
}

// tapStream appends to p.opts a streaming function that copies the stream and calls
// the one p's options set. A call that does not stream is not tapped (nil).
func (p *plan) tapStream() *streamTap {
	if p.stream == nil {
		return nil
	}
	t := &streamTap{next: p.stream}
	p.opts = append(p.opts[:len(p.opts):len(p.opts)], llms.WithStreamingFunc(t.chunk))
	return t
}

// maxTapBytes bounds the copy; beyond it the estimate sees a prefix (and undercounts).
const maxTapBytes = 4 << 20

func (t *streamTap) chunk(ctx context.Context, chunk []byte) error {
	t.mu.Lock()
	if len(t.buf)+len(chunk) <= maxTapBytes {
		t.buf = append(t.buf, chunk...)
	}
	t.mu.Unlock()
	return t.next(ctx, chunk)
}

func (t *streamTap) text() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
