package sdktest_test

// These tests run the real middleware.Budget inside otel.Middleware (the documented
// order), against langchaingo's real openai client and a fake server: the span must
// say what the budget did. The packages do not import each other; only this test does.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/openai"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/internal/conv"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
	sgotel "github.com/spendguard/spendguard/otel"
	"github.com/spendguard/spendguard/price"
)

// constEstimator makes the prompt estimate predictable.
type constEstimator uint64

func (c constEstimator) Estimate([]llms.MessageContent, *llms.CallOptions) uint64 { return uint64(c) }

// budgetedModel wires client → Budget → otel → WithModelName and returns the model
// and a function giving the Spend of the last call.
func budgetedModel(t *testing.T, srv *providertest.Server, e *env, b budget.TokenBudget, mwOpts ...middleware.Option) (llms.Model, func() *llmwrap.Spend) {
	t.Helper()
	llm, err := srv.OpenAIClient(openai.WithModel("gpt-test"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var last *llmwrap.Spend
	probe := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			mu.Lock()
			last = llmwrap.SpendFrom(ctx)
			mu.Unlock()
			return next(ctx, msgs, opts...)
		}
	}
	opts := append([]middleware.Option{middleware.WithEstimator(constEstimator(25))}, mwOpts...)
	m := llmwrap.Wrap(llm, probe, llmwrap.WithModelName("gpt-test"), sgotel.Middleware(e.opts()...), middleware.Budget(b, opts...))
	return m, func() *llmwrap.Spend {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

func TestWithRealBudgetReported(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: completion, Usage: &providertest.Usage{Prompt: 40, Completion: 12}}))
	defer srv.Close()
	b := budget.NewAtomic(10_000, budget.WithName("team"))
	m, spend := budgetedModel(t, srv, e, b, middleware.WithCompletionAllowance(100))
	if _, err := m.GenerateContent(context.Background(), human); err != nil {
		t.Fatal(err)
	}
	s := spend()
	if s.Budget.Charged != 52 || s.Budget.Estimate != 125 || s.Budget.UsageSource != llmwrap.UsageReported {
		t.Fatalf("spend = %+v", s)
	}
	equalMaps(t, "span attributes", attrs(e.onlySpan(t).Attributes()), merge(startAttrs("openai", "gpt-test"), map[string]any{
		"gen_ai.usage.input_tokens":             int64(40),
		"gen_ai.usage.output_tokens":            int64(12),
		"gen_ai.response.finish_reasons":        []string{"stop"},
		"spendguard.estimate.tokens":            int64(125),
		"spendguard.estimate.prompt.tokens":     int64(25),
		"spendguard.estimate.prompt.raw.tokens": int64(25),
		"spendguard.reserved.tokens":            int64(125),
		"spendguard.charged.tokens":             int64(52),
		"spendguard.refunded.tokens":            int64(73),
		"spendguard.usage.source":               "reported",
		"spendguard.budget.remaining":           int64(10_000 - 52),
		"spendguard.budget.name":                "team",
		"spendguard.budget.denied":              false,
	}))
}

func TestWithRealBudgetDenied(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: completion}))
	defer srv.Close()
	b := budget.NewAtomic(50, budget.WithName("tiny"))
	m, _ := budgetedModel(t, srv, e, b, middleware.WithCompletionAllowance(100))
	_, err := m.GenerateContent(context.Background(), human)
	if !errors.Is(err, budget.ErrDenied) || len(srv.Requests()) != 0 {
		t.Fatalf("err %v, %d requests", err, len(srv.Requests()))
	}
	s := e.onlySpan(t)
	if s.Status().Code != codes.Error {
		t.Errorf("status %v", s.Status())
	}
	equalMaps(t, "span attributes", attrs(s.Attributes()), merge(startAttrs("openai", "gpt-test"), map[string]any{
		"error.type":                            "budget_denied",
		"spendguard.estimate.tokens":            int64(125),
		"spendguard.estimate.prompt.tokens":     int64(25),
		"spendguard.estimate.prompt.raw.tokens": int64(25),
		"spendguard.reserved.tokens":            int64(0),
		"spendguard.charged.tokens":             int64(0),
		"spendguard.refunded.tokens":            int64(0),
		"spendguard.budget.remaining":           int64(50),
		"spendguard.budget.name":                "tiny",
		"spendguard.budget.denied":              true,
	}))
	den, ok := findMetric(e.collect(t), conv.BudgetDenialsMetric)
	if !ok || den.Data.(metricdata.Sum[int64]).DataPoints[0].Value != 1 {
		t.Errorf("denials = %+v", den)
	}
}

func TestWithRealBudgetStreamedAndEstimated(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: completion})) // no usage
	defer srv.Close()
	b := budget.NewAtomic(10_000, budget.WithName("team"))
	m, spend := budgetedModel(t, srv, e, b, middleware.WithCompletionAllowance(100))
	var got strings.Builder
	_, err := m.GenerateContent(context.Background(), human, llms.WithStreamingFunc(func(_ context.Context, c []byte) error {
		got.Write(c)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != completion {
		t.Errorf("streamed %q", got.String())
	}
	s := spend()
	if s.Budget.UsageSource != llmwrap.UsageEstimated || s.Options.StreamingFunc == nil {
		t.Fatalf("spend = %+v", s)
	}
	a := attrs(e.onlySpan(t).Attributes())
	if ttfc, ok := a["gen_ai.response.time_to_first_chunk"].(float64); !ok || ttfc <= 0 {
		t.Errorf("time to first chunk %v: the budget's stream tap must not hide it", a["gen_ai.response.time_to_first_chunk"])
	}
	delete(a, "gen_ai.response.time_to_first_chunk")
	equalMaps(t, "span attributes", a, merge(startAttrs("openai", "gpt-test"), map[string]any{
		"gen_ai.request.stream":                 true,
		"gen_ai.usage.input_tokens":             int64(s.Budget.Usage.PromptTokens),
		"gen_ai.usage.output_tokens":            int64(s.Budget.Usage.CompletionTokens),
		"gen_ai.response.finish_reasons":        []string{"stop"},
		"spendguard.estimate.tokens":            int64(125),
		"spendguard.estimate.prompt.tokens":     int64(25),
		"spendguard.estimate.prompt.raw.tokens": int64(25),
		"spendguard.reserved.tokens":            int64(125),
		"spendguard.charged.tokens":             int64(s.Budget.Charged),
		"spendguard.refunded.tokens":            int64(125 - s.Budget.Charged),
		"spendguard.usage.source":               "estimated",
		"spendguard.budget.remaining":           int64(10_000 - s.Budget.Charged),
		"spendguard.budget.name":                "team",
		"spendguard.budget.denied":              false,
	}))
	if s.Budget.Usage.PromptTokens != 25 || s.Budget.Usage.CompletionTokens == 0 {
		t.Errorf("estimated usage %+v", s.Budget.Usage)
	}
}

func TestWithRealBudgetHardCap(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: completion, Usage: &providertest.Usage{Prompt: 25, Completion: 10}}))
	defer srv.Close()
	b := budget.NewAtomic(100, budget.WithName("capped"))
	m, spend := budgetedModel(t, srv, e, b, middleware.HardCap())
	if _, err := m.GenerateContent(context.Background(), human, llms.WithMaxTokens(500)); err != nil {
		t.Fatal(err)
	}
	sent := srv.Requests()[0].MaxTokens
	if sent >= 500 || sent != spend().MaxTokens {
		t.Fatalf("sent max tokens %d, spend says %d", sent, spend().MaxTokens)
	}
	if got := attrs(e.onlySpan(t).Attributes())["gen_ai.request.max_tokens"]; got != int64(sent) {
		t.Errorf("gen_ai.request.max_tokens = %v, sent %d", got, sent)
	}
}

// ledger is a third party's budget, built from the exported API alone (budgetkit),
// that names itself and says what it has left without a round trip.
type ledger struct {
	name      string
	mu        sync.Mutex
	capacity  uint64
	used      uint64 // consumed + held
	snapshots int    // Snapshot calls: reading Remaining must not need them
}

func (l *ledger) Name() string { return l.name }

func (l *ledger) Remaining() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.capacity - min(l.used, l.capacity)
}

func (l *ledger) Snapshot(context.Context) (budget.Snapshot, error) {
	l.mu.Lock()
	l.snapshots++
	l.mu.Unlock()
	return budget.Snapshot{Name: l.name, Capacity: l.capacity, Remaining: l.Remaining()}, nil
}

func (l *ledger) TryReserve(_ context.Context, n uint64) (*budget.Reservation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if left := l.capacity - min(l.used, l.capacity); left == 0 || left < n {
		return nil, &budget.DeniedError{Budget: l.name, Requested: n, Remaining: left}
	}
	l.used += n
	return budgetkit.NewReservation(l, "", n), nil
}

func (l *ledger) settle(r *budget.Reservation, usage uint64) error {
	if err := budgetkit.CheckIssuer(r, l, l.name); err != nil {
		return err
	}
	if budgetkit.Settle(r) {
		l.mu.Lock()
		l.used = l.used - r.Tokens() + usage
		l.mu.Unlock()
	}
	return nil
}

func (l *ledger) Record(_ context.Context, r *budget.Reservation, p, c uint64) error {
	return l.settle(r, p+c)
}
func (l *ledger) Release(_ context.Context, r *budget.Reservation) error { return l.settle(r, 0) }
func (l *ledger) Consumed(context.Context) (uint64, error)               { return 0, nil }

// TestThirdPartyBudgetIsNamedInSpansAndDenials: a budget from outside this module that
// implements budgetkit.Named and budgetkit.RemainingReader is named in the span, the
// denial and the denial metric, and its remaining is read without a Snapshot.
func TestThirdPartyBudgetIsNamedInSpansAndDenials(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: completion, Usage: &providertest.Usage{Prompt: 40, Completion: 12}}))
	defer srv.Close()
	l := &ledger{name: "ledger-7", capacity: 170}
	m, spend := budgetedModel(t, srv, e, l, middleware.WithCompletionAllowance(100))
	if _, err := m.GenerateContent(context.Background(), human); err != nil {
		t.Fatal(err)
	}
	if s := spend(); s.Budget.Name != "ledger-7" || !s.Budget.RemainingKnown || s.Budget.Remaining != 170-52 {
		t.Fatalf("budget record %+v", s.Budget)
	}
	_, err := m.GenerateContent(context.Background(), human)
	var d *budget.DeniedError
	if !errors.As(err, &d) || d.Budget != "ledger-7" {
		t.Fatalf("err = %v", err)
	}
	spans := e.ended(t)
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	for i, sp := range spans {
		a := attrs(sp.Attributes())
		if a["spendguard.budget.name"] != "ledger-7" {
			t.Errorf("span %d: budget name %v", i, a["spendguard.budget.name"])
		}
	}
	if a := attrs(spans[1].Attributes()); a["spendguard.budget.denied"] != true || a["spendguard.budget.remaining"] != int64(118) {
		t.Errorf("denied span: %v", a)
	}
	den, ok := findMetric(e.collect(t), conv.BudgetDenialsMetric)
	if !ok {
		t.Fatal("no denial metric")
	}
	dp := den.Data.(metricdata.Sum[int64]).DataPoints[0]
	if v, _ := dp.Attributes.Value(conv.BudgetNameKey); v.AsString() != "ledger-7" {
		t.Errorf("denial metric budget %v", v)
	}
	if l.snapshots != 0 {
		t.Errorf("%d Snapshot calls: Remaining should have been read instead", l.snapshots)
	}
}

// TestWithRealBudgetFallback: a call the budget sends to a cheaper model is reported as
// a call to that model, with the model it skipped, and counted per (from, to).
func TestWithRealBudgetFallback(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(func(r providertest.Request) providertest.Reply {
		return providertest.Reply{Text: "from " + r.Model, Usage: &providertest.Usage{Prompt: 40, Completion: 10}}
	})
	defer srv.Close()
	cheap, err := srv.OpenAIClient(openai.WithModel("gpt-cheap"))
	if err != nil {
		t.Fatal(err)
	}
	prices := price.Table{"gpt-test": {Rates: price.Rates{Input: 10_000_000, Output: 10_000_000}}, "gpt-cheap": {Rates: price.Rates{Input: 1_000_000, Output: 1_000_000}}}
	// 25 + 100 tokens: 1250 on gpt-test, 125 on gpt-cheap; 500 left.
	b := budget.NewAtomic(500, budget.WithName("money"))
	m, spend := budgetedModel(t, srv, e, b, middleware.WithCompletionAllowance(100), middleware.WithPrices(prices),
		middleware.WithFallback(middleware.Alternative{Name: "gpt-cheap", Model: cheap}))
	for range 2 {
		if _, err := m.GenerateContent(context.Background(), human); err != nil {
			t.Fatal(err)
		}
	}
	if s := spend(); s.Model != "gpt-cheap" || s.Fallback == nil || s.Fallback.From != "gpt-test" {
		t.Fatalf("spend = %+v", s)
	}
	spans := e.ended(t)
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[1]
	if s.Name() != "chat gpt-cheap" {
		t.Errorf("span name %q, want the model called", s.Name())
	}
	equalMaps(t, "span attributes", attrs(s.Attributes()), merge(startAttrs("openai", "gpt-cheap"), map[string]any{
		"gen_ai.response.model":                 "gpt-cheap",
		"spendguard.fallback.from":              "gpt-test",
		"spendguard.estimate.prompt.raw.tokens": int64(25),
		// The first call on gpt-cheap was billed 40 for an estimate of 25: before a
		// shape has 3 billed calls, a bill above every estimate raises the next one.
		"spendguard.estimate.prompt.tokens": int64(40),
		"gen_ai.usage.input_tokens":         int64(40),
		"gen_ai.usage.output_tokens":        int64(10),
		"gen_ai.response.finish_reasons":    []string{"stop"},
		"spendguard.estimate.tokens":        int64(140),
		"spendguard.reserved.tokens":        int64(140),
		"spendguard.charged.tokens":         int64(50),
		"spendguard.refunded.tokens":        int64(90),
		"spendguard.usage.source":           "reported",
		"spendguard.budget.remaining":       int64(400),
		"spendguard.budget.name":            "money",
		"spendguard.budget.denied":          false,
	}))
	rm := e.collect(t)
	fb, ok := findMetric(rm, conv.BudgetFallbacksMetric)
	if !ok {
		t.Fatal("no fallback metric")
	}
	pts := fb.Data.(metricdata.Sum[int64]).DataPoints
	if len(pts) != 1 || pts[0].Value != 2 {
		t.Fatalf("fallback points %+v", pts)
	}
	equalMaps(t, "fallback metric attributes", setAttrs(pts[0].Attributes), map[string]any{
		"spendguard.fallback.from": "gpt-test", "gen_ai.request.model": "gpt-cheap", "gen_ai.provider.name": "openai",
	})
	dur, _ := findMetric(rm, "gen_ai.client.operation.duration")
	for _, p := range dur.Data.(metricdata.Histogram[float64]).DataPoints {
		if m, _ := p.Attributes.Value("gen_ai.request.model"); m.AsString() != "gpt-cheap" {
			t.Errorf("duration recorded for %q, want the model called", m.AsString())
		}
	}
}

// TestWithRealBudgetAlertEvents: a budget alert threshold is a span event on the call
// whose settle crossed it, and only on that call.
func TestWithRealBudgetAlertEvents(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: completion, Usage: &providertest.Usage{Prompt: 40, Completion: 10}}))
	defer srv.Close()
	b := budget.NewAtomic(200, budget.WithName("team"), budget.WithAlerts(nil, 0.2, 0.4, 0.5))
	m, _ := budgetedModel(t, srv, e, b, middleware.WithCompletionAllowance(50))
	for range 2 { // 50 each: crosses 0.2 (40) on the first call, 0.4 and 0.5 (80, 100) on the second
		if _, err := m.GenerateContent(context.Background(), human); err != nil {
			t.Fatal(err)
		}
	}
	spans := e.ended(t)
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	for i, want := range [][]float64{{0.2}, {0.4, 0.5}} {
		ev := spans[i].Events()
		if len(ev) != len(want) {
			t.Fatalf("span %d: %d events, want %d", i, len(ev), len(want))
		}
		for j, f := range want {
			if ev[j].Name != conv.BudgetAlertEvent {
				t.Errorf("event name %q", ev[j].Name)
			}
			equalMaps(t, "alert event", attrs(ev[j].Attributes), map[string]any{
				"spendguard.budget.name":    "team",
				"spendguard.alert.fraction": f,
				"spendguard.alert.consumed": int64(50 * (i + 1)),
				"spendguard.alert.capacity": int64(200),
			})
		}
	}
}
