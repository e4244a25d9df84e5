package middleware

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/sat"
	"github.com/spendguard/spendguard/llmwrap"
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
//  1. estimate = prompt estimate (WithEstimator) + completion allowance: the call's
//     MaxTokens when set, else the model's learned allowance (the p95 of its last 64
//     completions; DefaultCompletionAllowance before it has data; completions cut at
//     their cap never lower it), or the fixed WithCompletionAllowance. The
//     allowance is per choice: a call asking for N choices (CallOptions.N or
//     CandidateCount) reserves N times it.
//  2. TryReserve the estimate (TryReserveRange under HardCap). A denial returns the
//     budget's *budget.DeniedError unchanged and the provider is not called; any
//     other budget error (budget.ErrUnavailable, say) is returned too: the call fails
//     closed unless the budget itself fails open.
//  3. Call the model.
//  4. Settle. On success, Record the usage llmwrap.UsageOf reports; when the provider
//     reported none, charge the prompt estimate plus llmwrap.EstimateText of every
//     piece of response text (tool-call arguments included; with streaming, of the
//     streamed text when the response carries none) and mark the Spend
//     llmwrap.UsageEstimated. On an error, Record what the provider reported if it
//     reported anything, else Release the hold (or, with ChargeOnError, charge the
//     prompt estimate unless the context was cancelled). On a panic, Release and let
//     the panic continue. A call that answered is recorded even when its context was
//     cancelled meanwhile: the model already billed it.
//
// Settles run on context.WithoutCancel(ctx) bounded by WithSettleTimeout (for a
// budget.Atomic, which ignores contexts, no context is built at all). A settle error
// does not hide the response: it goes to WithErrorHandler.
//
// Every budget taking part is reserved from separately, even if the same budget is
// both b and in the context. A nil b enforces only the context's budgets; with none,
// the call passes through untouched and Spend.Budgeted stays false.
//
// The call's llmwrap.Spend (from Wrap) is filled in: Budgeted, BudgetName,
// PromptEstimate, CompletionAllowance, Estimate, Reserved, Charged, Usage,
// UsageSource, Denied, Remaining/RemainingKnown (the smallest remaining of the budgets
// that took part, read after the settle from a Remaining() uint64 method or a
// budget.Observable), FailOpen and, under HardCap, MaxTokens. Used outside Wrap, the
// middleware keeps a private Spend. Budget state is never put in
// CallOptions.Metadata.
func Budget(b budget.TokenBudget, opts ...Option) llmwrap.Middleware {
	c := config{
		est:           llmwrap.DefaultEstimator(),
		allowance:     DefaultCompletionAllowance,
		settleTimeout: DefaultSettleTimeout,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	m := &mw{config: c, b: b, inproc: inProcess(b), name: nameOf(b)}
	if !c.fixed {
		m.learn = newLearner(c.allowance)
	}
	m.rr, _ = b.(budget.RangeReserver)
	m.atomic, _ = b.(*budget.Atomic)
	return func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		if next == nil {
			return func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
				return nil, errors.New("middleware: Budget was given a nil next GenerateFunc")
			}
		}
		h := &handler{mw: m, next: next}
		return h.generate
	}
}

type mw struct {
	config
	b      budget.TokenBudget
	rr     budget.RangeReserver // b as a RangeReserver, or nil
	atomic *budget.Atomic       // b as a *budget.Atomic, or nil
	inproc bool                 // b ignores contexts (budget.Atomic, or All of them)
	name   string
	learn  *learner // nil: fixed allowance
}

type handler struct {
	*mw
	next llmwrap.GenerateFunc
}

// target is what one call reserves from: the middleware's budget alone (the hot
// path, no allocation) or combined with the context's budgets.
type target struct {
	tb      budget.TokenBudget
	rr      budget.RangeReserver
	atomic  *budget.Atomic // tb, when it is one: called directly, its holds stay on the stack
	inproc  bool
	name    string               // the middleware's budget, else the innermost one
	members []budget.TokenBudget // nil: just tb
}

func (h *handler) target(ctx context.Context, t *target) {
	inCtx := budget.FromContext(ctx)
	if len(inCtx) == 0 {
		t.tb, t.rr, t.atomic, t.inproc, t.name = h.b, h.rr, h.atomic, h.inproc, h.name
		return
	}
	members := make([]budget.TokenBudget, 0, len(inCtx)+1)
	if h.b != nil {
		members = append(members, h.b)
	}
	inproc := true
	for _, b := range inCtx {
		if b != nil {
			members = append(members, b)
			inproc = inproc && inProcess(b)
		}
	}
	if len(members) == 0 {
		return
	}
	inproc = inproc && (h.b == nil || h.inproc)
	name := h.name
	if h.b == nil {
		name = nameOf(members[len(members)-1])
	}
	t.inproc, t.name = inproc, name
	if len(members) == 1 {
		t.tb = members[0]
		t.rr, _ = members[0].(budget.RangeReserver)
		t.atomic, _ = members[0].(*budget.Atomic)
		return
	}
	t.tb = budget.All(members...)
	t.rr, _ = t.tb.(budget.RangeReserver)
	t.members = members
}

func (h *handler) generate(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	var t target
	h.target(ctx, &t)
	if t.tb == nil {
		return h.next(ctx, msgs, opts...)
	}
	if err := ctx.Err(); err != nil {
		return nil, err // nothing reserved, nothing sent
	}
	s := llmwrap.SpendFrom(ctx)
	if s == nil {
		s = privateSpend(opts)
	}
	s.Budgeted = true
	s.BudgetName = t.name

	pe := h.est.Estimate(msgs, &s.Options)
	n := choices(s)
	allow := satMul(h.allowance(s), n)
	s.PromptEstimate, s.CompletionAllowance = pe, allow

	// r is a hold through the TokenBudget interface (heap-allocated by the budget);
	// ra is a hold from t.atomic called directly, which the compiler keeps on this
	// stack. Exactly one of them is set once the reservation succeeded.
	var (
		r, ra *budget.Reservation
		err   error
	)
	switch {
	case h.hardCap:
		r, err = h.reserveRange(ctx, &t, s, pe, allow, n)
	case t.atomic != nil:
		s.Estimate = h.units(s.Model, pe, allow)
		ra, err = t.atomic.TryReserve(ctx, s.Estimate)
	default:
		s.Estimate = h.units(s.Model, pe, allow)
		r, err = t.tb.TryReserve(ctx, s.Estimate)
		if err == nil && r == nil {
			err = fmt.Errorf("middleware: budget %q granted a nil reservation", s.BudgetName)
		}
	}
	if err != nil {
		if d := asDenied(err); d != nil {
			s.Denied = true
			if d.Budget != "" {
				s.BudgetName = d.Budget
			}
			s.Remaining, s.RemainingKnown = d.Remaining, true
		}
		return nil, err
	}
	if ra != nil {
		s.Reserved = ra.Tokens()
	} else {
		s.Reserved = r.Tokens()
		s.FailOpen = r.FailedOpen()
	}

	callOpts := opts
	if h.hardCap {
		callOpts = append(callOpts[:len(callOpts):len(callOpts)], llms.WithMaxTokens(s.MaxTokens))
	}
	// The stream is tapped through the function the Spend holds (an outer middleware
	// may have wrapped the caller's there); while the call runs, the Spend holds the
	// tap, for middleware further in, as otel does.
	var tap *streamTap
	if s.Options.StreamingFunc != nil {
		tap = &streamTap{user: s.Options.StreamingFunc}
		callOpts = append(callOpts[:len(callOpts):len(callOpts)], llms.WithStreamingFunc(tap.chunk))
		s.Options.StreamingFunc = tap.chunk
	}

	returned := false
	defer func() {
		if tap != nil {
			s.Options.StreamingFunc = tap.user
		}
		if !returned { // next panicked: give the hold back, the panic goes on
			h.settle(ctx, &t, r, ra, s, nil, false)
		}
	}()
	resp, err := h.next(ctx, msgs, callOpts...)
	returned = true

	if err != nil {
		if u, ok := llmwrap.UsageOf(resp); ok {
			h.record(ctx, &t, r, ra, s, u, llmwrap.UsageReported)
		} else if h.chargeOnError && ctx.Err() == nil {
			h.record(ctx, &t, r, ra, s, llmwrap.Usage{PromptTokens: pe}, llmwrap.UsageEstimated)
		} else {
			h.settle(ctx, &t, r, ra, s, nil, false)
		}
		return resp, err
	}

	u, ok := llmwrap.UsageOf(resp)
	src := llmwrap.UsageReported
	if !ok {
		src = llmwrap.UsageEstimated
		u = llmwrap.Usage{PromptTokens: pe, CompletionTokens: responseEstimate(resp, tap)}
	}
	h.record(ctx, &t, r, ra, s, u, src)
	if h.learn != nil {
		perChoice := u.CompletionTokens / n
		h.learn.observe(s.Model, perChoice, wasCut(resp, s.MaxTokens, perChoice))
	}
	return resp, nil
}

// allowance is the completion allowance of one choice.
func (h *handler) allowance(s *llmwrap.Spend) uint64 {
	if s.MaxTokens > 0 {
		return uint64(s.MaxTokens)
	}
	if h.learn == nil {
		return h.config.allowance
	}
	return h.learn.allowance(s.Model)
}

// maxChoices bounds the choices a call is budgeted for (langchaingo passes N through).
const maxChoices = 128

// choices is how many completions the call asks for (CallOptions.N or
// CandidateCount): MaxTokens and the allowance are per choice.
func choices(s *llmwrap.Spend) uint64 {
	return uint64(min(max(s.Options.N, s.Options.CandidateCount, 1), maxChoices))
}

func satMul(a, b uint64) uint64 {
	if a != 0 && b > math.MaxUint64/a {
		return math.MaxUint64
	}
	return a * b
}

// units converts a prompt and completion size to budget units.
func (h *handler) units(model string, prompt, completion uint64) uint64 {
	if h.cost != nil {
		return h.cost(model, llmwrap.Usage{PromptTokens: prompt, CompletionTokens: completion})
	}
	return sat.Add(prompt, completion)
}

// reserveRange reserves for a hard-capped call of n choices and sets the MaxTokens
// (per choice) it is sent with.
func (h *handler) reserveRange(ctx context.Context, t *target, s *llmwrap.Spend, pe, allow, n uint64) (*budget.Reservation, error) {
	if t.rr == nil {
		return nil, fmt.Errorf("%w (budget %q is a %T)", ErrHardCapUnsupported, s.BudgetName, nonRange(t))
	}
	allow = min(max(allow, n), math.MaxInt32) // at least 1 per choice: MaxTokens 0 would mean "no limit"
	minC := min(satMul(minHardCapCompletion, n), allow)
	lo, hi := h.units(s.Model, pe, minC), h.units(s.Model, pe, allow)
	s.Estimate = hi
	r, err := t.rr.TryReserveRange(ctx, lo, hi)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("middleware: budget %q granted a nil reservation", s.BudgetName)
	}
	s.MaxTokens = int(max(h.completionFor(s.Model, pe, minC, allow, r.Tokens())/n, 1))
	return r, nil
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

// nonRange names a member that is not a RangeReserver, for the error message.
func nonRange(t *target) budget.TokenBudget {
	for _, b := range t.members {
		if _, ok := b.(budget.RangeReserver); !ok {
			return b
		}
	}
	return t.tb
}

// record settles r with usage u.
func (h *handler) record(ctx context.Context, t *target, r, ra *budget.Reservation, s *llmwrap.Spend, u llmwrap.Usage, src llmwrap.UsageSource) {
	s.Usage, s.UsageSource = u, src
	h.settle(ctx, t, r, ra, s, &u, true)
}

// settle records usage u (when record is set) or releases the hold (ra through
// t.atomic, else r through t.tb), then reads what is left.
func (h *handler) settle(ctx context.Context, t *target, r, ra *budget.Reservation, s *llmwrap.Spend, u *llmwrap.Usage, record bool) {
	sctx, cancel := h.settleContext(ctx, t)
	defer cancel()
	var err error
	if record {
		prompt, completion := u.PromptTokens, u.CompletionTokens
		if h.cost != nil {
			prompt, completion = h.cost(s.Model, *u), 0
		}
		s.Charged = sat.Add(prompt, completion)
		if ra != nil {
			err = t.atomic.Record(sctx, ra, prompt, completion)
		} else {
			err = t.tb.Record(sctx, r, prompt, completion)
		}
		if err != nil {
			s.SettleErr = fmt.Errorf("middleware: recording the usage of a %s call in budget %q: %w", s.Model, s.BudgetName, err)
			h.report(s.SettleErr)
		}
	} else {
		s.Charged = 0
		if ra != nil {
			err = t.atomic.Release(sctx, ra)
		} else {
			err = t.tb.Release(sctx, r)
		}
		if err != nil {
			s.SettleErr = fmt.Errorf("middleware: releasing the hold of a %s call in budget %q: %w", s.Model, s.BudgetName, err)
			h.report(s.SettleErr)
		}
	}
	h.remaining(sctx, t, s)
}

// remaining sets s.Remaining to the smallest remaining among the budgets that took part.
func (h *handler) remaining(ctx context.Context, t *target, s *llmwrap.Spend) {
	s.Remaining, s.RemainingKnown = 0, false
	if t.atomic != nil {
		s.Remaining, s.RemainingKnown = t.atomic.Remaining(), true
		return
	}
	if t.members == nil {
		s.Remaining, s.RemainingKnown = h.remainingOf(ctx, t.tb, 0)
		return
	}
	for _, b := range t.members {
		if v, ok := h.remainingOf(ctx, b, 0); ok && (!s.RemainingKnown || v < s.Remaining) {
			s.Remaining, s.RemainingKnown = v, true
		}
	}
}

func (h *handler) remainingOf(ctx context.Context, b budget.TokenBudget, depth int) (uint64, bool) {
	switch x := b.(type) {
	case interface{ Remaining() uint64 }:
		return x.Remaining(), true
	case budget.Observable:
		snap, err := x.Snapshot(ctx)
		if err != nil {
			h.report(fmt.Errorf("middleware: reading what is left in budget %q: %w", nameOf(b), err))
			return 0, false
		}
		return snap.Remaining, true
	case interface{ Members() []budget.TokenBudget }:
		if depth > 8 {
			return 0, false
		}
		var least uint64
		known := false
		for _, m := range x.Members() {
			if v, ok := h.remainingOf(ctx, m, depth+1); ok && (!known || v < least) {
				least, known = v, true
			}
		}
		return least, known
	}
	return 0, false
}

func (h *handler) report(err error) {
	if h.onError != nil {
		h.onError(err)
	}
}

var noCancel context.CancelFunc = func() {}

// settleContext is the context settles run on: the call's values without its
// cancellation, bounded by the settle timeout. Budgets that ignore contexts get ctx
// itself, which saves three allocations per call.
func (h *handler) settleContext(ctx context.Context, t *target) (context.Context, context.CancelFunc) {
	if t.inproc {
		return ctx, noCancel
	}
	return context.WithTimeout(context.WithoutCancel(ctx), h.settleTimeout)
}

// inProcess reports whether b is known to ignore the contexts it is given.
func inProcess(b budget.TokenBudget) bool {
	return inProcessDepth(b, 0)
}

func inProcessDepth(b budget.TokenBudget, depth int) bool {
	switch x := b.(type) {
	case nil:
		return true
	case *budget.Atomic:
		return true
	case interface{ Members() []budget.TokenBudget }:
		if depth > 8 {
			return false
		}
		for _, m := range x.Members() {
			if !inProcessDepth(m, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

func nameOf(b budget.TokenBudget) string {
	if n, ok := b.(interface{ Name() string }); ok {
		return n.Name()
	}
	return ""
}

func asDenied(err error) *budget.DeniedError {
	if d, ok := err.(*budget.DeniedError); ok {
		return d
	}
	var d *budget.DeniedError
	if errors.As(err, &d) {
		return d
	}
	return nil
}

// privateSpend is the Spend of a call made outside Wrap: nobody reads it, but the
// middleware needs the parsed options.
func privateSpend(opts []llms.CallOption) *llmwrap.Spend { return llmwrap.NewSpend(opts...) }

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
			n = sat.Add(n, llmwrap.EstimateText(c.Content))
			n = sat.Add(n, llmwrap.EstimateText(c.ReasoningContent))
			for _, tc := range c.ToolCalls {
				if tc.FunctionCall != nil {
					n = sat.Add(n, llmwrap.EstimateText(tc.FunctionCall.Name))
					n = sat.Add(n, llmwrap.EstimateText(tc.FunctionCall.Arguments))
				}
			}
			if len(c.ToolCalls) == 0 && c.FuncCall != nil { // FuncCall repeats ToolCalls[0]
				n = sat.Add(n, llmwrap.EstimateText(c.FuncCall.Name))
				n = sat.Add(n, llmwrap.EstimateText(c.FuncCall.Arguments))
			}
		}
	}
	if n == 0 && tap != nil {
		n = llmwrap.EstimateText(tap.text())
	}
	return n
}

// streamTap keeps a copy of the streamed text, for estimating usage when the
// provider reports none, and passes every chunk on to the caller's function.
type streamTap struct {
	user func(context.Context, []byte) error
	mu   sync.Mutex
	buf  []byte
}

// maxTapBytes bounds the copy; beyond it the estimate sees a prefix (and undercounts).
const maxTapBytes = 4 << 20

func (t *streamTap) chunk(ctx context.Context, chunk []byte) error {
	t.mu.Lock()
	if len(t.buf)+len(chunk) <= maxTapBytes {
		t.buf = append(t.buf, chunk...)
	}
	t.mu.Unlock()
	return t.user(ctx, chunk)
}

func (t *streamTap) text() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
