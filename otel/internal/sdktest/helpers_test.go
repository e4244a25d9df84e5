package sdktest_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/wrapkit"
	sgotel "github.com/spendguard/spendguard/otel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is an SDK tracer and meter provider recording in memory.
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

// attrs turns a span's or point's attributes into a map for whole-set comparison.
func attrs(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

func setAttrs(s attribute.Set) map[string]any { return attrs(s.ToSlice()) }

// fakeBudget fills the Spend the way middleware.Budget does, against a budget.Atomic,
// so that these tests do not depend on the middleware package.
type fakeBudget struct {
	b              *budget.Atomic
	name           string
	promptEstimate uint64
	allowance      uint64
	hardCap        int  // >0: send MaxTokens = hardCap
	failOpen       bool // mark the Spend as failed open
}

func (f *fakeBudget) middleware() llmwrap.Middleware {
	return func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			s := llmwrap.SpendFrom(ctx)
			c := wrapkit.StartBudget(s)
			c.Name = f.name
			c.PromptEstimate, c.PromptEstimateRaw, c.CompletionAllowance = f.promptEstimate, f.promptEstimate, f.allowance
			if s.Options.MaxTokens > 0 {
				c.CompletionAllowance = uint64(s.Options.MaxTokens)
			}
			if f.hardCap > 0 {
				c.CompletionAllowance = uint64(f.hardCap)
				opts = append(opts[:len(opts):len(opts)], llms.WithMaxTokens(f.hardCap))
			}
			c.Estimate = c.PromptEstimate + c.CompletionAllowance
			r, err := f.b.TryReserve(ctx, c.Estimate)
			if err != nil {
				var d *budget.DeniedError
				if errors.As(err, &d) {
					c.Denied = true
					c.Remaining, c.RemainingKnown = d.Remaining, true
				}
				return nil, err
			}
			c.Reserved, c.FailOpen = r.Tokens(), f.failOpen
			resp, err := next(ctx, msgs, opts...)
			if err != nil {
				_ = f.b.Release(ctx, r)
				c.Remaining, c.RemainingKnown = f.b.Remaining(), true
				return resp, err
			}
			c.Usage, c.UsageSource = s.Usage, llmwrap.UsageReported
			if s.UsageMissing != 0 {
				c.Usage = llmwrap.Usage{PromptTokens: c.PromptEstimate, CompletionTokens: uint64(len(resp.Choices[0].Content)+3) / 4}
				c.UsageSource = llmwrap.UsageEstimated
			}
			_ = f.b.Record(ctx, r, c.Usage.PromptTokens, c.Usage.CompletionTokens)
			c.Charged = c.Usage.PromptTokens + c.Usage.CompletionTokens
			c.Remaining, c.RemainingKnown = f.b.Remaining(), true
			return resp, nil
		}
	}
}

// fakeModel answers every call with one choice and reports usage the openai way.
type fakeModel struct {
	text   string
	usage  bool
	err    error
	stream bool // call the streaming function with the text in two chunks
}

func (m *fakeModel) GenerateContent(ctx context.Context, _ []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	if m.err != nil {
		return nil, m.err
	}
	var o llms.CallOptions
	for _, opt := range opts {
		opt(&o)
	}
	if m.stream && o.StreamingFunc != nil {
		half := len(m.text) / 2
		for _, c := range []string{m.text[:half], m.text[half:]} {
			if err := o.StreamingFunc(ctx, []byte(c)); err != nil {
				return nil, err
			}
		}
	}
	ch := &llms.ContentChoice{Content: m.text, StopReason: "stop"}
	if m.usage {
		ch.GenerationInfo = map[string]any{"PromptTokens": 10, "CompletionTokens": 3, "TotalTokens": 13}
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{ch}}, nil
}

func (m *fakeModel) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}
