package sdktest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/conv"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
	"github.com/spendguard/spendguard/otel"
)

// scriptedLLM stands in for a real langchaingo client: it answers every call the
// way the openai client does, usage included.
type scriptedLLM struct{}

func (scriptedLLM) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{
		Content:        "Paris.",
		StopReason:     "stop",
		GenerationInfo: map[string]any{"PromptTokens": 14, "CompletionTokens": 2},
	}}}, nil
}

func (s scriptedLLM) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, s, prompt, opts...)
}

func printSpan(s sdktrace.ReadOnlySpan) {
	fmt.Println(s.Name(), s.SpanKind(), s.Status().Code)
	kvs := slices.Clone(s.Attributes())
	slices.SortFunc(kvs, func(a, b attribute.KeyValue) int { return strings.Compare(string(a.Key), string(b.Key)) })
	for _, kv := range kvs {
		fmt.Printf("  %s=%s\n", kv.Key, kv.Value.Emit())
	}
}

func Example_middleware() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())

	model := llmwrap.Wrap(scriptedLLM{},
		llmwrap.WithModelName("gpt-4o-mini"),
		otel.Middleware(otel.WithTracerProvider(tp), otel.WithProviderName("openai")),
	)
	answer, err := model.Call(context.Background(), "Capital of France?", llms.WithMaxTokens(16))
	if err != nil {
		panic(err)
	}
	fmt.Println(answer)
	for _, s := range rec.Ended() {
		printSpan(s)
	}
	// Output:
	// Paris.
	// chat gpt-4o-mini client Unset
	//   gen_ai.operation.name=chat
	//   gen_ai.provider.name=openai
	//   gen_ai.request.max_tokens=16
	//   gen_ai.request.model=gpt-4o-mini
	//   gen_ai.response.finish_reasons=["stop"]
	//   gen_ai.usage.input_tokens=14
	//   gen_ai.usage.output_tokens=2
}

// A call the budget refuses never reaches the provider; its span says why.
func Example_denied() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())

	run := budget.NewAtomic(100, budget.WithName("run"))
	model := llmwrap.Wrap(scriptedLLM{},
		llmwrap.WithModelName("gpt-4o-mini"),
		otel.Middleware(otel.WithTracerProvider(tp)),
		middleware.Budget(run, middleware.WithCompletionAllowance(500)),
	)
	_, err := model.Call(context.Background(), "Write a novel.")
	fmt.Println(errors.Is(err, budget.ErrDenied))

	s := rec.Ended()[0]
	fmt.Println(s.Name(), s.Status().Code)
	for _, kv := range s.Attributes() {
		switch kv.Key {
		case "error.type", conv.BudgetNameKey, conv.BudgetDeniedKey, conv.BudgetRemainingKey:
			fmt.Printf("  %s=%s\n", kv.Key, kv.Value.Emit())
		}
	}
	// Output:
	// true
	// chat gpt-4o-mini Error
	//   error.type=budget_denied
	//   spendguard.budget.denied=true
	//   spendguard.budget.name=run
	//   spendguard.budget.remaining=100
}

func Example_observeBudget() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	b := budget.NewAtomic(10_000, budget.WithName("team"))
	r, _ := b.TryReserve(context.Background(), 500)
	_ = b.Record(context.Background(), r, 300, 100)

	stop, err := otel.ObserveBudget(b, otel.WithMeterProvider(mp))
	if err != nil {
		panic(err)
	}
	defer stop()

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		p := m.Data.(metricdata.Gauge[int64]).DataPoints[0]
		name, _ := p.Attributes.Value(conv.BudgetNameKey)
		fmt.Printf("%s{%s} = %d\n", m.Name, name.AsString(), p.Value)
	}
	// Output:
	// spendguard.budget.remaining{team} = 9600
	// spendguard.budget.consumed{team} = 400
	// spendguard.budget.held{team} = 0
	// spendguard.budget.capacity{team} = 10000
}
