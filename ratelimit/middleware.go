package ratelimit

import (
	"context"
	"errors"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/internal/callopts"
	"github.com/spendguard/spendguard/internal/sat"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
)

// defaultAllowance is the completion reserved for a call that sets no MaxTokens when
// no budget has estimated it (as middleware.Budget reserves for a model it has not learned).
const defaultAllowance = 1024

// settleTimeout bounds a settle after the call has answered.
const settleTimeout = 5 * time.Second

// Middleware returns an llmwrap.Middleware that makes every call wait for l before
// it is sent, and settles it with what the provider billed. Put it after
// middleware.Budget in llmwrap.Wrap's list:
//
//	llmwrap.Wrap(llm, llmwrap.WithModelName("gpt-4o"), otel.Middleware(),
//		middleware.Budget(b), ratelimit.Middleware(gpt4o))
//
// so that a budget denial stays a denial (a denied call never waits), and the limit
// takes the budget's estimate: Input is Spend.Budget.PromptEstimate (calibrated),
// Output the MaxTokens the call is sent with when set (times its choices; OpenAI
// counts max_tokens), else Spend.Budget.CompletionAllowance. Without a budget, the
// prompt is estimated with llmwrap/estimate under the wrapped model's provider rules
// and the completion allowance is MaxTokens, else 1,024 per choice.
//
// The settle counts the usage the budget charged (Spend.Budget.Usage), else the
// provider's report with its missing parts at their estimate; Anthropic's cache reads
// are left out (they do not count towards ITPM). A call that failed after it was sent
// keeps its estimate; one that was never sent gives everything back. A 429 from the
// provider gives the call's hold back (a 429 is not billed), pauses l for the wait
// its message asks for ("Please try again in 1.5s"; langchaingo passes no headers on,
// so 1 s when the message names none), for every process sharing l, and is returned
// as it is: nothing retries it. A retry of your own goes around the wrapped model, so
// that each attempt reserves and settles once.
//
// The call's Spend gets the limiter's part, Spend.Rate (llmwrap.RateWait). A call
// l refuses (its estimate can never fit, or it would fit only after its context's
// deadline) returns l's *Error and is not sent. Used outside llmwrap.Wrap (no Spend
// in the context), or with a nil l, the middleware passes calls through. Applied to a
// nil next it gives a GenerateFunc that returns an error. Fallback models of
// middleware.WithFallback are called by the budget directly: wrap them with a limiter
// of their own.
func Middleware(l Limiter) llmwrap.Middleware {
	return func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		if next == nil {
			return func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
				return nil, errNilNext
			}
		}
		if l == nil {
			return next
		}
		return (&rateMW{l: l, next: next}).generate
	}
}

var errNilNext = errors.New("ratelimit: Middleware was given a nil next GenerateFunc")

type rateMW struct {
	l    Limiter
	next llmwrap.GenerateFunc
}

func (m *rateMW) generate(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	s := llmwrap.SpendFrom(ctx)
	if s == nil {
		return m.next(ctx, msgs, opts...)
	}
	est := estimateOf(s, msgs, opts)
	w := &llmwrap.RateWait{EstimateInput: est.Input, EstimateOutput: est.Output}
	s.Rate = w
	r, err := m.l.Reserve(ctx, est)
	if err != nil {
		var le *Error
		if errors.As(err, &le) {
			w.Limited, w.Limiter, w.Waited = true, le.Limiter, 0
		}
		return nil, err
	}
	w.Limiter, w.Start, w.Waited = r.Limiter, r.Start, r.Waited

	answered := false
	defer func() {
		if !answered { // the model panicked: give the hold back; the panic goes on
			m.settle(ctx, w, r, Cost{}, 0)
		}
	}()
	resp, err := m.next(ctx, msgs, opts...)
	answered = true

	if pause, limited := rateLimited(err); limited && s.UsageMissing == llmwrap.MissingAll {
		w.RetryAfter = pause
		m.settle(ctx, w, r, Cost{}, pause)
		return resp, err
	}
	m.settle(ctx, w, r, usedBy(s, est), 0)
	return resp, err
}

func (m *rateMW) settle(ctx context.Context, w *llmwrap.RateWait, r *Reservation, used Cost, pause time.Duration) {
	sctx := context.WithoutCancel(ctx)
	if ctx.Done() != nil {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(sctx, settleTimeout)
		defer cancel()
	}
	w.ChargedInput, w.ChargedOutput = used.Input, used.Output
	if err := m.l.Settle(sctx, r, used, pause); err != nil {
		w.SettleErr = err
	}
}

// estimateOf is what the call reserves from the limit.
func estimateOf(s *llmwrap.Spend, msgs []llms.MessageContent, opts []llms.CallOption) Cost {
	o := callopts.Resolve(opts)
	defer callopts.Release(o)
	n := uint64(min(max(o.N, o.CandidateCount, 1), 128))
	var e Cost
	if b := s.Budget; b != nil {
		e = Cost{Input: b.PromptEstimate, Output: b.CompletionAllowance}
	} else {
		e = Cost{Input: estimate.Default().EstimateFor(estimate.ProviderOf(s.ModelType), msgs, o),
			Output: sat.Mul(defaultAllowance, n)}
	}
	if o.MaxTokens > 0 {
		e.Output = sat.Mul(uint64(o.MaxTokens), n)
	}
	return e
}

// usedBy is what the call counts against the limit once it has returned.
func usedBy(s *llmwrap.Spend, est Cost) Cost {
	var u llmwrap.Usage
	switch {
	case s.Budget != nil && s.Budget.UsageSource != llmwrap.UsageNone:
		u = s.Budget.Usage
	case s.UsageMissing != llmwrap.MissingAll:
		u = s.Usage
		if s.UsageMissing&llmwrap.MissingPrompt != 0 {
			u.PromptTokens = est.Input
		}
		if s.UsageMissing&llmwrap.MissingCompletion != 0 {
			u.CompletionTokens = est.Output
		}
	case !s.Sent:
		return Cost{} // never sent: nothing to count
	default:
		return est // sent, nothing reported (failed, or a provider that reports no usage): keep the estimate
	}
	in := u.PromptTokens
	if estimate.ProviderOf(s.ModelType) == estimate.Anthropic {
		// Anthropic's ITPM counts input_tokens + cache_creation_input_tokens: cache
		// reads do not count on current models.
		in -= min(u.CachedPromptTokens, in)
	}
	used := Cost{Input: in, Output: u.CompletionTokens}
	if used == (Cost{}) {
		used.Output = 1 // billed nothing, but sent: keep its request
	}
	return used
}
