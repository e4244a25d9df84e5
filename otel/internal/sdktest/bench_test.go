package sdktest_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
	sgotel "github.com/spendguard/spendguard/otel"
)

// Compare in one run (see scripts/benchratio.go):
//
//	go test -run '^$' -bench 'MiddlewareSDK|RawSDKFloor|MiddlewareNoop|OtelBareModel|OtelWrapOnly|Interleaved' -benchmem -count 5 ./otel
//
// MiddlewareSDK / RawSDKFloor should stay <= 1.3; MiddlewareNoop − OtelBareModel
// should stay <= 100 ns, of which Wrap's own per-call Spend is most (OtelWrapOnly).
// The Interleaved benchmarks alternate the two sides in blocks and report a/b and
// a−b directly, which holds up better on a shared, loaded machine.

// memModel answers every call with the same response, usage included the way
// langchaingo's openai client reports it.
type memModel struct{ resp *llms.ContentResponse }

func newMemModel() *memModel {
	return &memModel{resp: &llms.ContentResponse{Choices: []*llms.ContentChoice{{
		Content:    "The answer is 42.",
		StopReason: "stop",
		GenerationInfo: map[string]any{
			"PromptTokens": 120, "CompletionTokens": 30, "TotalTokens": 150,
			"PromptCachedTokens": 0, "ReasoningTokens": 0,
		},
	}}}}
}

func (m *memModel) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	return m.resp, nil
}

func (m *memModel) Call(context.Context, string, ...llms.CallOption) (string, error) {
	return m.resp.Choices[0].Content, nil
}

type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// sdkProviders is the production-like setup: always sample, batch processor, an
// exporter that drops everything; metrics into a manual reader.
func sdkProviders(b *testing.B) (*sdktrace.TracerProvider, *sdkmetric.MeterProvider) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(discardExporter{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return tp, mp
}

var benchMsgs = []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "What is the answer?")}

func BenchmarkMiddlewareSDK(b *testing.B) {
	tp, mp := sdkProviders(b)
	m := llmwrap.Wrap(newMemModel(), llmwrap.WithModelName("bench-model"),
		sgotel.Middleware(sgotel.WithTracerProvider(tp), sgotel.WithMeterProvider(mp), sgotel.WithProviderName("openai")))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.GenerateContent(ctx, benchMsgs); err != nil {
			b.Fatal(err)
		}
	}
}

// rawFloor does by hand what the middleware does for the same call, as cheaply as
// the SDK allows: start options and metric attribute sets built once, the same span
// attributes, the same three histogram records.
type rawFloor struct {
	model         *memModel
	tracer        trace.Tracer
	tokens        metric.Int64Histogram
	duration      metric.Float64Histogram
	startOpts     []trace.SpanStartOption
	durOpt, inOpt metric.RecordOption
	outOpt        metric.RecordOption
}

func newRawFloor(tp *sdktrace.TracerProvider, mp *sdkmetric.MeterProvider) *rawFloor {
	f := &rawFloor{model: newMemModel(), tracer: tp.Tracer("floor")}
	meter := mp.Meter("floor")
	f.tokens, _ = meter.Int64Histogram("gen_ai.client.token.usage", metric.WithUnit("{token}"),
		metric.WithExplicitBucketBoundaries(1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864))
	f.duration, _ = meter.Float64Histogram("gen_ai.client.operation.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92))
	op, prov, mod := semconv.GenAIOperationNameChat, semconv.GenAIProviderNameOpenAI, semconv.GenAIRequestModel("bench-model")
	f.startOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(op, prov, mod)}
	f.durOpt = metric.WithAttributeSet(attribute.NewSet(op, prov, mod))
	f.inOpt = metric.WithAttributeSet(attribute.NewSet(op, prov, mod, semconv.GenAITokenTypeInput))
	f.outOpt = metric.WithAttributeSet(attribute.NewSet(op, prov, mod, semconv.GenAITokenTypeOutput))
	return f
}

func (f *rawFloor) call(ctx context.Context) error {
	start := time.Now()
	cctx, span := f.tracer.Start(ctx, "chat bench-model", f.startOpts...)
	resp, err := f.model.GenerateContent(cctx, benchMsgs)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	info := resp.Choices[0].GenerationInfo
	in, _ := info["PromptTokens"].(int)
	out, _ := info["CompletionTokens"].(int)
	span.SetAttributes(
		semconv.GenAIUsageInputTokens(in),
		semconv.GenAIUsageOutputTokens(out),
		semconv.GenAIResponseFinishReasons(resp.Choices[0].StopReason),
	)
	span.End()
	f.duration.Record(cctx, elapsed.Seconds(), f.durOpt)
	f.tokens.Record(cctx, int64(in), f.inOpt)
	f.tokens.Record(cctx, int64(out), f.outOpt)
	return nil
}

// BenchmarkRawSDKFloor is the hand-written floor for BenchmarkMiddlewareSDK.
func BenchmarkRawSDKFloor(b *testing.B) {
	tp, mp := sdkProviders(b)
	f := newRawFloor(tp, mp)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := f.call(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// interleave runs a and b alternately in blocks of a few hundred calls and reports
// both per-call times and their ratio (a/b) and difference (a−b). On a busy machine
// the separate benchmarks drift apart with the load; alternating blocks see the same
// load, so the ratio is the number to trust.
func interleave(bb *testing.B, a, b func() error) {
	const block = 256
	var ta, tb time.Duration
	n := 0
	bb.ResetTimer()
	for n < bb.N {
		t0 := time.Now()
		for range block {
			if err := a(); err != nil {
				bb.Fatal(err)
			}
		}
		t1 := time.Now()
		for range block {
			if err := b(); err != nil {
				bb.Fatal(err)
			}
		}
		ta += t1.Sub(t0)
		tb += time.Since(t1)
		n += 2 * block
	}
	calls := float64(n / 2)
	bb.ReportMetric(float64(ta.Nanoseconds())/calls, "a-ns/call")
	bb.ReportMetric(float64(tb.Nanoseconds())/calls, "b-ns/call")
	bb.ReportMetric(float64(ta)/float64(tb), "a/b")
	bb.ReportMetric(float64(ta.Nanoseconds()-tb.Nanoseconds())/calls, "a-b-ns/call")
}

// BenchmarkInterleavedMiddlewareSDKVsFloor: a = MiddlewareSDK's call, b = RawSDKFloor's.
func BenchmarkInterleavedMiddlewareSDKVsFloor(b *testing.B) {
	tp, mp := sdkProviders(b)
	m := llmwrap.Wrap(newMemModel(), llmwrap.WithModelName("bench-model"),
		sgotel.Middleware(sgotel.WithTracerProvider(tp), sgotel.WithMeterProvider(mp), sgotel.WithProviderName("openai")))
	f := newRawFloor(tp, mp)
	ctx := context.Background()
	interleave(b, func() error {
		_, err := m.GenerateContent(ctx, benchMsgs)
		return err
	}, func() error { return f.call(ctx) })
}

// BenchmarkInterleavedMiddlewareNoopVsBare: a = MiddlewareNoop's call, b = the bare
// model's; a−b is the per-call cost of Wrap plus the middleware.
func BenchmarkInterleavedMiddlewareNoopVsBare(b *testing.B) {
	m := llmwrap.Wrap(newMemModel(), llmwrap.WithModelName("bench-model"), sgotel.Middleware())
	var bare llms.Model = newMemModel()
	ctx := context.Background()
	interleave(b, func() error {
		_, err := m.GenerateContent(ctx, benchMsgs)
		return err
	}, func() error {
		_, err := bare.GenerateContent(ctx, benchMsgs)
		return err
	})
}

// BenchmarkInterleavedMiddlewareNoopVsWrap: a = MiddlewareNoop's call, b = Wrap with
// WithModelName only; a−b is the middleware's own share.
func BenchmarkInterleavedMiddlewareNoopVsWrap(b *testing.B) {
	m := llmwrap.Wrap(newMemModel(), llmwrap.WithModelName("bench-model"), sgotel.Middleware())
	w := llmwrap.Wrap(newMemModel(), llmwrap.WithModelName("bench-model"))
	ctx := context.Background()
	interleave(b, func() error {
		_, err := m.GenerateContent(ctx, benchMsgs)
		return err
	}, func() error {
		_, err := w.GenerateContent(ctx, benchMsgs)
		return err
	})
}

// BenchmarkMiddlewareNoop runs with the global providers untouched: the default
// no-op ones every program has until it installs an SDK.
func BenchmarkMiddlewareNoop(b *testing.B) {
	m := llmwrap.Wrap(newMemModel(), llmwrap.WithModelName("bench-model"), sgotel.Middleware())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.GenerateContent(ctx, benchMsgs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOtelBareModel is the same in-memory model, unwrapped.
func BenchmarkOtelBareModel(b *testing.B) {
	var m llms.Model = newMemModel()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.GenerateContent(ctx, benchMsgs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOtelWrapOnly is llmwrap.Wrap with WithModelName and no otel, to tell the
// middleware's share of MiddlewareNoop from Wrap's.
func BenchmarkOtelWrapOnly(b *testing.B) {
	m := llmwrap.Wrap(newMemModel(), llmwrap.WithModelName("bench-model"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.GenerateContent(ctx, benchMsgs); err != nil {
			b.Fatal(err)
		}
	}
}
