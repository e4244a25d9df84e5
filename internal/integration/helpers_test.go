package integration_test

// Helpers copied from the middleware and otel tests, for the tests moved here.

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/openai"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
	sgotel "github.com/spendguard/spendguard/otel"
	"github.com/spendguard/spendguard/price"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeModel is an in-memory llms.Model driven by a function; it counts calls and

// keeps the parsed options of the last one.

type fakeModel struct {
	fn    func(ctx context.Context, msgs []llms.MessageContent, o llms.CallOptions) (*llms.ContentResponse, error)
	calls atomic.Int64

	mu   sync.Mutex
	last llms.CallOptions
}

func (m *fakeModel) GenerateContent(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	m.calls.Add(1)
	var o llms.CallOptions
	for _, opt := range opts {
		opt(&o)
	}
	m.mu.Lock()
	m.last = o
	m.mu.Unlock()
	return m.fn(ctx, msgs, o)
}

func (m *fakeModel) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

func (m *fakeModel) lastOptions() llms.CallOptions {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// replyWith returns a model answering text with openai-style usage (none when

// prompt and completion are both 0).

func replyWith(text string, prompt, completion int, stop string) *fakeModel {
	return &fakeModel{fn: func(context.Context, []llms.MessageContent, llms.CallOptions) (*llms.ContentResponse, error) {
		return response(text, prompt, completion, stop), nil
	}}
}

func response(text string, prompt, completion int, stop string) *llms.ContentResponse {
	c := &llms.ContentChoice{Content: text, StopReason: stop, GenerationInfo: map[string]any{}}
	if prompt != 0 || completion != 0 {
		c.GenerationInfo["PromptTokens"] = prompt
		c.GenerationInfo["CompletionTokens"] = completion
		c.GenerationInfo["TotalTokens"] = prompt + completion
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{c}}
}

// fixedEstimator estimates every prompt at n tokens.

type fixedEstimator uint64

func (e fixedEstimator) Estimate([]llms.MessageContent, *llms.CallOptions) uint64 { return uint64(e) }

// capture copies the call's Spend once the call is over; put it first.

func capture(dst *llmwrap.Spend) llmwrap.Middleware {
	return llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) { *dst = *s })
}

var hello = []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hello")}

func snapshot(t *testing.T, b budget.Observable) budget.Snapshot {
	t.Helper()
	s, err := b.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantSettled fails unless b holds nothing and has consumed exactly consumed.

func wantSettled(t *testing.T, b budget.Observable, consumed uint64) {
	t.Helper()
	s := snapshot(t, b)
	if s.Held != 0 || s.Consumed != consumed {
		t.Errorf("budget %q: consumed %d held %d, want consumed %d held 0", s.Name, s.Consumed, s.Held, consumed)
	}
}

var testPrices = price.Table{
	"big":   {Rates: price.Rates{Input: 10_000_000, Output: 10_000_000}},
	"mid":   {Rates: price.Rates{Input: 5_000_000, Output: 5_000_000}},
	"cheap": {Rates: price.Rates{Input: 1_000_000, Output: 1_000_000}},
	"free":  {},
}

type fleet struct {
	srv     *providertest.Server
	clients map[string]llms.Model
	failing sync.Map // model name → true: answer 500
}

func newFleet(t *testing.T, names ...string) *fleet {
	t.Helper()
	f := &fleet{clients: map[string]llms.Model{}}
	f.srv = providertest.NewOpenAI(func(r providertest.Request) providertest.Reply {
		if _, bad := f.failing.Load(r.Model); bad {
			return providertest.Reply{Status: 500, Text: "model overloaded"}
		}
		u := &providertest.Usage{Prompt: 100, Completion: 50}
		if r.MaxTokens > 0 && u.Completion > r.MaxTokens {
			u.Completion = r.MaxTokens
		}
		return providertest.Reply{Text: "answered by " + r.Model, Usage: u}
	})
	t.Cleanup(f.srv.Close)
	for _, n := range names {
		c, err := f.srv.OpenAIClient(openai.WithModel(n))
		require.NoError(t, err)
		f.clients[n] = c
	}
	return f
}

func (f *fleet) models() []string {
	var out []string
	for _, r := range f.srv.Requests() {
		out = append(out, r.Model)
	}
	return out
}

func (f *fleet) alts(names ...string) []middleware.Alternative {
	var out []middleware.Alternative
	for _, n := range names {
		out = append(out, middleware.Alternative{Name: n, Model: f.clients[n]})
	}
	return out
}

type env struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newEnv(t testing.TB, sampler ...sdktrace.Sampler) *env {
	t.Helper()
	e := &env{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	s := sdktrace.AlwaysSample()
	if len(sampler) > 0 {
		s = sampler[0]
	}
	e.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(e.spans), sdktrace.WithSampler(s))
	e.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.reader))
	t.Cleanup(func() {
		_ = e.tp.Shutdown(context.Background())
		_ = e.mp.Shutdown(context.Background())
	})
	return e
}

func (e *env) opts(more ...sgotel.Option) []sgotel.Option {
	return append([]sgotel.Option{sgotel.WithTracerProvider(e.tp), sgotel.WithMeterProvider(e.mp)}, more...)
}

func (e *env) ended(t testing.TB) []sdktrace.ReadOnlySpan {
	t.Helper()
	return e.spans.Ended()
}

func (e *env) onlySpan(t testing.TB) sdktrace.ReadOnlySpan {
	t.Helper()
	s := e.spans.Ended()
	if len(s) != 1 {
		t.Fatalf("got %d ended spans, want 1", len(s))
	}
	return s[0]
}

func (e *env) collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

func findMetric(rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

func attrs(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

func setAttrs(s attribute.Set) map[string]any { return attrs(s.ToSlice()) }

func startAttrs(provider, model string) map[string]any {
	return map[string]any{
		"gen_ai.operation.name": "chat",
		"gen_ai.provider.name":  provider,
		"gen_ai.request.model":  model,
	}
}

func merge(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func equalMaps(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("%s:\n got  %s\n want %s", what, gb, wb)
	}
}
