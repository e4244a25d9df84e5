package otel

import (
	"context"
	"errors"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/internal/conv"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/loopguard"
)

// StartRun starts one agent run: an "invoke_agent {name}" span (gen_ai.operation.name
// invoke_agent, gen_ai.agent.name name) that every call and tool made with the
// returned context is a child of, and end, which ends it with the run's totals:
//
//   - gen_ai.usage.input_tokens, output_tokens, cache_read.input_tokens and
//     reasoning.output_tokens: the sums of what the run's chat spans carry, so the
//     root equals the sum of its children;
//   - spendguard.run.cost.usd: the sum of their spendguard.cost.usd (WithPrices on
//     Middleware), when any call was priced;
//   - spendguard.run.calls.sent, calls.denied, loop_stops and fallbacks;
//   - spendguard.run.budget.name, limit and consumed: b's Snapshot when the run ends
//     (b is the run's budget, read for the span and never charged by StartRun).
//
// Only calls through Middleware (and WrapEmbedder batches through it) count: the run
// learns of each when its chat span ends. A run started inside another run is a
// nested run, a child span whose totals also count in its parent's. The usual way to
// give a sub-agent a share of its parent's budget is a budget of its own in the
// context, budget.NewContext(ctx, sub): a call in the sub-run must then fit the sub
// budget and every budget around it, all or nothing, so the parent's budget pays for
// it too and the sub-agent cannot spend more than its share. A nil b means the
// innermost budget in ctx (budget.NewContext), if any, else no budget attributes.
//
// end records err on the span (status Error, error.type budget_denied,
// loop_detected, ... as the refused call's own span has it); only its first call does
// anything. StartRun and end are safe for concurrent use, as are the calls of one run.
// A nil ctx is context.Background(); an empty name makes the span "invoke_agent" with
// an empty gen_ai.agent.name; Options other than WithTracerProvider are ignored.
func StartRun(ctx context.Context, name string, b budget.TokenBudget, opts ...Option) (context.Context, func(err error)) {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg := newConfig(opts)
	if b == nil {
		if bs := budgetkit.FromContext(ctx); len(bs) > 0 {
			b = bs[len(bs)-1]
		}
	}
	r := &run{parent: runFrom(ctx), budget: b}
	spanName := "invoke_agent"
	if name != "" {
		spanName += " " + name
	}
	ctx, span := cfg.tp.Tracer(scopeName).Start(ctx, spanName,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(semconv.GenAIOperationNameInvokeAgent, semconv.GenAIAgentName(name)))
	ctx = context.WithValue(ctx, runKey{}, r)
	var ended atomic.Bool
	return ctx, func(err error) {
		if ended.Swap(true) {
			return
		}
		r.end(ctx, span, err)
	}
}

type runKey struct{}

func runFrom(ctx context.Context) *run {
	r, _ := ctx.Value(runKey{}).(*run)
	return r
}

// run holds one run's totals; a call adds to its run and every run around it.
type run struct {
	parent *run
	budget budget.TokenBudget

	in, out, cached, reasoning atomic.Uint64
	costMicroUSD               atomic.Uint64
	priced                     atomic.Bool
	sent, denied               atomic.Int64
	loops, fallbacks           atomic.Int64
}

// call is what one chat span reported, as the run sums it.
type call struct {
	u              llmwrap.Usage
	missing        llmwrap.Missing
	costMicroUSD   uint64
	priced         bool
	sent, denied   bool
	loop, fallback bool
}

func (r *run) add(c *call) {
	for ; r != nil; r = r.parent {
		if c.missing != llmwrap.MissingAll {
			if c.missing&llmwrap.MissingPrompt == 0 {
				r.in.Add(c.u.PromptTokens)
			}
			if c.missing&llmwrap.MissingCompletion == 0 {
				r.out.Add(c.u.CompletionTokens)
			}
			r.cached.Add(c.u.CachedPromptTokens)
			r.reasoning.Add(c.u.ReasoningTokens)
		}
		if c.priced {
			r.costMicroUSD.Add(c.costMicroUSD)
			r.priced.Store(true)
		}
		if c.sent {
			r.sent.Add(1)
		}
		if c.denied {
			r.denied.Add(1)
		}
		if c.loop {
			r.loops.Add(1)
		}
		if c.fallback {
			r.fallbacks.Add(1)
		}
	}
}

func (r *run) end(ctx context.Context, span trace.Span, err error) {
	if !span.IsRecording() {
		span.End()
		return
	}
	a := []attribute.KeyValue{
		semconv.GenAIUsageInputTokensKey.Int64(toInt64(r.in.Load())),
		semconv.GenAIUsageOutputTokensKey.Int64(toInt64(r.out.Load())),
		semconv.GenAIUsageCacheReadInputTokensKey.Int64(toInt64(r.cached.Load())),
		semconv.GenAIUsageReasoningOutputTokensKey.Int64(toInt64(r.reasoning.Load())),
		conv.RunCallsSentKey.Int64(r.sent.Load()),
		conv.RunCallsDeniedKey.Int64(r.denied.Load()),
		conv.RunLoopStopsKey.Int64(r.loops.Load()),
		conv.RunFallbacksKey.Int64(r.fallbacks.Load()),
	}
	if r.priced.Load() {
		a = append(a, conv.RunCostUSDKey.Float64(float64(r.costMicroUSD.Load())/1e6))
	}
	if o, ok := r.budget.(budget.Observable); ok {
		if s, serr := o.Snapshot(context.WithoutCancel(ctx)); serr == nil {
			a = append(a, conv.RunBudgetNameKey.String(s.Name),
				conv.RunBudgetLimitKey.Int64(toInt64(s.Capacity)),
				conv.RunBudgetConsumedKey.Int64(toInt64(s.Consumed)))
		}
	}
	if err != nil {
		t := errorType(ctx, err)
		if errors.Is(err, loopguard.ErrLoop) {
			t = conv.ErrorTypeLoopDetected
		}
		a = append(a, semconv.ErrorTypeKey.String(t))
		span.SetStatus(codes.Error, err.Error())
	}
	span.SetAttributes(a...)
	span.End()
}
