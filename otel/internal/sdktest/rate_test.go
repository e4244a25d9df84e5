package sdktest_test

import (
	"context"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/conv"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
	sgotel "github.com/spendguard/spendguard/otel"
	"github.com/spendguard/spendguard/ratelimit"
)

// A call that waited for its rate limit carries the wait and the limit on its span,
// and the wait histogram counts it per model and limit; a call the limit refused is
// error.type rate_limited.
func TestRateLimitSpanAndMetric(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: "hi", Usage: &providertest.Usage{Prompt: 100, Completion: 10}}))
	defer srv.Close()
	llm, err := srv.OpenAIClient()
	if err != nil {
		t.Fatal(err)
	}
	const interval = 100 * time.Millisecond
	lim, err := ratelimit.New("gpt-4o-tpm", ratelimit.Limit{Interval: interval, Tokens: 1000})
	if err != nil {
		t.Fatal(err)
	}
	model := llmwrap.Wrap(llm, llmwrap.WithModelName("gpt-4o"), sgotel.Middleware(e.opts()...),
		middleware.Budget(budget.NewAtomic(1_000_000)), ratelimit.Middleware(lim))
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hello")}
	for range 2 { // 110 billed, then ~810 fits; the third waits
		if _, err := model.GenerateContent(context.Background(), msgs, llms.WithMaxTokens(800)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := model.GenerateContent(context.Background(), msgs, llms.WithMaxTokens(800)); err != nil {
		t.Fatal(err)
	}
	if _, err := model.GenerateContent(context.Background(), msgs, llms.WithMaxTokens(5000)); err == nil {
		t.Fatal("a call above the limit was admitted")
	}
	spans := e.ended(t)
	if len(spans) != 4 {
		t.Fatalf("%d spans, want 4", len(spans))
	}
	first, waited, refused := attrs(spans[0].Attributes()), attrs(spans[2].Attributes()), attrs(spans[3].Attributes())
	if first[string(conv.RateLimiterKey)] != "gpt-4o-tpm" || first[string(conv.RateDelayedKey)] != false {
		t.Errorf("first call: %v", first)
	}
	if first[string(conv.RateReservedOutKey)] != int64(800) {
		t.Errorf("first call reserved %v output tokens, want 800", first[string(conv.RateReservedOutKey)])
	}
	if waited[string(conv.RateDelayedKey)] != true || waited[string(conv.RateWaitedMsKey)].(int64) <= 0 {
		t.Errorf("the third call's span does not show its wait: %v", waited)
	}
	if refused[string(conv.RateLimitedKey)] != true || refused["error.type"] != conv.ErrorTypeRateLimited || spans[3].Status().Code != codes.Error {
		t.Errorf("the refused call: %v, %v", refused, spans[3].Status())
	}

	m, ok := findMetric(e.collect(t), conv.RateWaitMetric)
	if !ok {
		t.Fatal("no wait metric")
	}
	h := m.Data.(metricdata.Histogram[float64])
	if len(h.DataPoints) != 1 {
		t.Fatalf("%d wait series, want 1", len(h.DataPoints))
	}
	p := h.DataPoints[0]
	if p.Count != 3 || p.Sum <= 0 {
		t.Errorf("wait histogram: %d calls, %v s; want 3 admitted calls and a positive wait", p.Count, p.Sum)
	}
	got := setAttrs(p.Attributes)
	if got["gen_ai.request.model"] != "gpt-4o" || got[string(conv.RateLimiterKey)] != "gpt-4o-tpm" || got["gen_ai.provider.name"] != "openai" {
		t.Errorf("wait series attributes: %v", got)
	}
}
