package sdktest_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	gotel "go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
	sgotel "github.com/spendguard/spendguard/otel"
)

// TestGlobalProviderInstalledLater runs in a child process, because installing a
// global TracerProvider cannot be undone and the no-op benchmarks need the default.
func TestGlobalProviderInstalledLater(t *testing.T) {
	if os.Getenv("SPENDGUARD_OTEL_GLOBAL_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGlobalProviderInstalledLater$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SPENDGUARD_OTEL_GLOBAL_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	// Built before the SDK is installed, as package-level wiring often is.
	m := llmwrap.Wrap(&fakeModel{text: "x", usage: true}, llmwrap.WithModelName("g"), sgotel.Middleware())
	tool := sgotel.Tool(echoTool{})
	ctx := context.Background()
	if _, err := m.GenerateContent(ctx, []llms.MessageContent{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tool.Call(ctx, "a"); err != nil {
		t.Fatal(err)
	}

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(ctx) }()
	gotel.SetTracerProvider(tp)
	if _, err := m.GenerateContent(ctx, []llms.MessageContent{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tool.Call(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "chat g" || spans[1].Name() != "execute_tool echo" {
		t.Fatalf("spans after SetTracerProvider: %v", spans)
	}
}

// TestExplicitNoopProvider: with an explicit no-op TracerProvider (and no meter that
// records) the middleware starts no span and passes the very context it was given on
// to the next layer, adding nothing to the call's allocations.
func TestExplicitNoopProvider(t *testing.T) {
	var outer, inner context.Context
	probe := func(dst *context.Context) llmwrap.Middleware {
		return func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
			return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
				*dst = ctx
				return next(ctx, msgs, opts...)
			}
		}
	}
	noop := sgotel.Middleware(sgotel.WithTracerProvider(tracenoop.NewTracerProvider()), sgotel.WithMeterProvider(metricnoop.NewMeterProvider()))
	model := &fakeModel{text: "x"}
	m := llmwrap.Wrap(model, probe(&outer), noop, probe(&inner))
	if _, err := m.GenerateContent(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if outer == nil || inner != outer {
		t.Fatal("a span was started: the context changed across the middleware")
	}
	bare := llmwrap.Wrap(model)
	withNoop := llmwrap.Wrap(model, noop)
	ctx := context.Background()
	base := testing.AllocsPerRun(100, func() { _, _ = bare.GenerateContent(ctx, nil) })
	got := testing.AllocsPerRun(100, func() { _, _ = withNoop.GenerateContent(ctx, nil) })
	if got != base {
		t.Errorf("allocations per call: %v with the no-op middleware, %v without", got, base)
	}
}
