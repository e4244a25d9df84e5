package geminitest_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/spendguard/spendguard/llmwrap"
	sgotel "github.com/spendguard/spendguard/otel"
)

// langchaingo's googleai client reports a streamed call's first-chunk usage (moved
// here from otel): a prompt count and a stale completion count. Without a budget to
// estimate the answer, the span carries the input count and no output count, rather
// than a false one; a single-message call without streaming carries both.
func TestGeminiStreamOmitsStaleOutputCount(t *testing.T) {
	_, llm := geminiServer(t)
	for _, streamed := range []bool{true, false} {
		spans, reader := tracetest.NewSpanRecorder(), sdkmetric.NewManualReader()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		m := llmwrap.Wrap(llm, llmwrap.WithModelName("gemini-test"),
			sgotel.Middleware(sgotel.WithTracerProvider(tp), sgotel.WithMeterProvider(mp)))
		if streamed {
			_, err := m.GenerateContent(context.Background(), hello, streamOpt())
			if err != nil {
				t.Fatal(err)
			}
		} else if _, err := m.GenerateContent(context.Background(), hello); err != nil {
			t.Fatal(err)
		}
		// The genai SDK's otelhttp transport adds its own HTTP span under the chat span.
		a := map[string]any{}
		for _, sp := range spans.Ended() {
			if sp.Name() == "chat gemini-test" {
				for _, kv := range sp.Attributes() {
					a[string(kv.Key)] = kv.Value.AsInterface()
				}
			}
		}
		if a["gen_ai.provider.name"] != "gcp.gemini" || a["gen_ai.usage.input_tokens"] != int64(8) {
			t.Errorf("streamed %v: span attributes %v", streamed, a)
		}
		out, ok := a["gen_ai.usage.output_tokens"]
		if streamed && ok || !streamed && out != int64(578) {
			t.Errorf("streamed %v: gen_ai.usage.output_tokens = %v (present %v)", streamed, out, ok)
		}
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		outputs := 0
		for _, sm := range rm.ScopeMetrics {
			for _, mt := range sm.Metrics {
				if h, ok := mt.Data.(metricdata.Histogram[int64]); ok && mt.Name == "gen_ai.client.token.usage" {
					for _, dp := range h.DataPoints {
						if typ, _ := dp.Attributes.Value("gen_ai.token.type"); typ.AsString() == "output" {
							outputs++
						}
					}
				}
			}
		}
		if streamed && outputs != 0 || !streamed && outputs != 1 {
			t.Errorf("streamed %v: %d output token points", streamed, outputs)
		}
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	}
}
