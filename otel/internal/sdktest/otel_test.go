package sdktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/openai"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/conv"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	sgotel "github.com/spendguard/spendguard/otel"
	"github.com/spendguard/spendguard/price"
)

const (
	prompt     = "What is the secret word of the purple elephant?"
	completion = "The secret word is marmalade-zebra."
)

var human = []llms.MessageContent{
	llms.TextParts(llms.ChatMessageTypeSystem, "You are terse."),
	llms.TextParts(llms.ChatMessageTypeHuman, prompt),
}

var tokenBuckets = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
var durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}

// openAIModel is langchaingo's real openai client against a fake server, wrapped
// in the documented order.
func openAIModel(t *testing.T, srv *providertest.Server, e *env, fb *fakeBudget, opts ...sgotel.Option) llms.Model {
	t.Helper()
	llm, err := srv.OpenAIClient(openai.WithModel("gpt-test"))
	if err != nil {
		t.Fatal(err)
	}
	mws := []llmwrap.Middleware{llmwrap.WithModelName("gpt-test"), sgotel.Middleware(e.opts(opts...)...)}
	if fb != nil {
		mws = append(mws, fb.middleware())
	}
	return llmwrap.Wrap(llm, mws...)
}

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

// histPoints returns the points of a histogram metric keyed by their attributes (as
// JSON), with their counts and sums, checking the buckets on the way.
func histPoints(t *testing.T, rm metricdata.ResourceMetrics, name string, bounds []float64) map[string][2]float64 {
	t.Helper()
	m, ok := findMetric(rm, name)
	if !ok {
		return nil
	}
	out := map[string][2]float64{}
	check := func(b []float64) {
		if fmt.Sprint(b) != fmt.Sprint(bounds) {
			t.Errorf("%s buckets = %v, want %v", name, b, bounds)
		}
	}
	switch d := m.Data.(type) {
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			check(p.Bounds)
			k, _ := json.Marshal(setAttrs(p.Attributes))
			out[string(k)] = [2]float64{float64(p.Count), float64(p.Sum)}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			check(p.Bounds)
			k, _ := json.Marshal(setAttrs(p.Attributes))
			out[string(k)] = [2]float64{float64(p.Count), p.Sum}
		}
	default:
		t.Fatalf("%s is a %T", name, m.Data)
	}
	return out
}

func key(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func TestNormalCallOpenAI(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{
		Text:  completion,
		Usage: &providertest.Usage{Prompt: 120, Completion: 30, CachedPrompt: 64, Reasoning: 12},
	}))
	defer srv.Close()
	fb := &fakeBudget{b: budget.NewAtomic(10_000, budget.WithName("team")), name: "team", promptEstimate: 100}
	m := openAIModel(t, srv, e, fb, sgotel.WithPrices(price.Table{
		"gpt-test": {Rates: price.Rates{Input: 2_000_000, Output: 8_000_000, CacheRead: 1_000_000}},
	}))
	resp, err := m.GenerateContent(context.Background(), human, llms.WithMaxTokens(50))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Content != completion {
		t.Fatalf("content = %q", resp.Choices[0].Content)
	}

	s := e.onlySpan(t)
	if s.Name() != "chat gpt-test" || s.SpanKind() != trace.SpanKindClient || s.Status().Code != codes.Unset {
		t.Errorf("span %q kind %v status %v", s.Name(), s.SpanKind(), s.Status())
	}
	wantCost := (56*2.0 + 64*1.0 + 30*8.0) / 1e6
	equalMaps(t, "span attributes", attrs(s.Attributes()), merge(startAttrs("openai", "gpt-test"), map[string]any{
		"gen_ai.request.max_tokens":             int64(50),
		"gen_ai.usage.input_tokens":             int64(120),
		"gen_ai.usage.output_tokens":            int64(30),
		"gen_ai.usage.cache_read.input_tokens":  int64(64),
		"gen_ai.usage.reasoning.output_tokens":  int64(12),
		"gen_ai.response.finish_reasons":        []string{"stop"},
		"spendguard.estimate.tokens":            int64(150),
		"spendguard.estimate.prompt.tokens":     int64(100),
		"spendguard.estimate.prompt.raw.tokens": int64(100),
		"spendguard.reserved.tokens":            int64(150),
		"spendguard.charged.tokens":             int64(150),
		"spendguard.refunded.tokens":            int64(0),
		"spendguard.usage.source":               "reported",
		"spendguard.budget.remaining":           int64(10_000 - 150),
		"spendguard.budget.name":                "team",
		"spendguard.budget.denied":              false,
		"spendguard.cost.usd":                   wantCost,
	}))
	if len(s.Events()) != 0 || len(s.Links()) != 0 {
		t.Errorf("events %v links %v", s.Events(), s.Links())
	}

	rm := e.collect(t)
	base := startAttrs("openai", "gpt-test")
	dur := histPoints(t, rm, "gen_ai.client.operation.duration", durationBuckets)
	if len(dur) != 1 || dur[key(base)][0] != 1 || dur[key(base)][1] <= 0 {
		t.Errorf("duration points = %v", dur)
	}
	tok := histPoints(t, rm, "gen_ai.client.token.usage", tokenBuckets)
	want := map[string][2]float64{
		key(merge(base, map[string]any{"gen_ai.token.type": "input"})):  {1, 120},
		key(merge(base, map[string]any{"gen_ai.token.type": "output"})): {1, 30},
	}
	if fmt.Sprint(tok) != fmt.Sprint(want) {
		t.Errorf("token points = %v, want %v", tok, want)
	}
	if _, ok := findMetric(rm, conv.BudgetDenialsMetric); ok {
		t.Error("a denial was counted for a granted call")
	}
	if _, ok := findMetric(rm, "gen_ai.client.operation.time_to_first_chunk"); ok {
		t.Error("time to first chunk recorded for a call that did not stream")
	}
	if got := srv.Requests()[0].MaxTokens; got != 50 {
		t.Errorf("sent max tokens %d", got)
	}
}

func TestHardCapMaxTokensIsTheSentValue(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: completion, Usage: &providertest.Usage{Prompt: 10, Completion: 5}}))
	defer srv.Close()
	fb := &fakeBudget{b: budget.NewAtomic(1000), name: "capped", promptEstimate: 10, hardCap: 17}
	m := openAIModel(t, srv, e, fb)
	if _, err := m.GenerateContent(context.Background(), human, llms.WithMaxTokens(500)); err != nil {
		t.Fatal(err)
	}
	if sent := srv.Requests()[0].MaxTokens; sent != 17 {
		t.Fatalf("server got max tokens %d", sent)
	}
	if got := attrs(e.onlySpan(t).Attributes())["gen_ai.request.max_tokens"]; got != int64(17) {
		t.Errorf("gen_ai.request.max_tokens = %v, want the capped 17", got)
	}
}

func TestDeniedCall(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: completion}))
	defer srv.Close()
	fb := &fakeBudget{b: budget.NewAtomic(100, budget.WithName("tiny")), name: "tiny", promptEstimate: 40, allowance: 200}
	m := openAIModel(t, srv, e, fb)
	_, err := m.GenerateContent(context.Background(), human)
	if !errors.Is(err, budget.ErrDenied) {
		t.Fatalf("err = %v, want a denial", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("provider got %d requests", n)
	}
	s := e.onlySpan(t)
	if s.Status().Code != codes.Error || s.Status().Description != err.Error() {
		t.Errorf("status = %+v", s.Status())
	}
	equalMaps(t, "span attributes", attrs(s.Attributes()), merge(startAttrs("openai", "gpt-test"), map[string]any{
		"error.type":                            "budget_denied",
		"spendguard.estimate.tokens":            int64(240),
		"spendguard.estimate.prompt.tokens":     int64(40),
		"spendguard.estimate.prompt.raw.tokens": int64(40),
		"spendguard.reserved.tokens":            int64(0),
		"spendguard.charged.tokens":             int64(0),
		"spendguard.refunded.tokens":            int64(0),
		"spendguard.budget.remaining":           int64(100),
		"spendguard.budget.name":                "tiny",
		"spendguard.budget.denied":              true,
	}))

	rm := e.collect(t)
	base := startAttrs("openai", "gpt-test")
	dur := histPoints(t, rm, "gen_ai.client.operation.duration", durationBuckets)
	if k := key(merge(base, map[string]any{"error.type": "budget_denied"})); len(dur) != 1 || dur[k][0] != 1 {
		t.Errorf("duration points = %v", dur)
	}
	if tok := histPoints(t, rm, "gen_ai.client.token.usage", tokenBuckets); len(tok) != 0 {
		t.Errorf("token usage recorded for a denied call: %v", tok)
	}
	den, ok := findMetric(rm, conv.BudgetDenialsMetric)
	if !ok {
		t.Fatal("no denial counted")
	}
	sum := den.Data.(metricdata.Sum[int64])
	if !sum.IsMonotonic || len(sum.DataPoints) != 1 || sum.DataPoints[0].Value != 1 {
		t.Fatalf("denials = %+v", sum)
	}
	equalMaps(t, "denial attributes", setAttrs(sum.DataPoints[0].Attributes), map[string]any{
		"spendguard.budget.name": "tiny",
		"gen_ai.provider.name":   "openai",
		"gen_ai.request.model":   "gpt-test",
	})
}

func TestProviderError(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Status: http.StatusBadRequest, Text: "bad request, no"}))
	defer srv.Close()
	fb := &fakeBudget{b: budget.NewAtomic(1000, budget.WithName("b")), name: "b", promptEstimate: 40, allowance: 60}
	m := openAIModel(t, srv, e, fb)
	_, err := m.GenerateContent(context.Background(), human)
	if err == nil {
		t.Fatal("no error")
	}
	wantType := semconv.ErrorType(err).Value.AsString()
	if wantType == "" || wantType == "_OTHER" || strings.HasPrefix(wantType, "budget") {
		t.Fatalf("unexpected type name %q for %T", wantType, err)
	}
	s := e.onlySpan(t)
	if s.Status().Code != codes.Error || !strings.Contains(s.Status().Description, "bad request, no") {
		t.Errorf("status = %+v", s.Status())
	}
	equalMaps(t, "span attributes", attrs(s.Attributes()), merge(startAttrs("openai", "gpt-test"), map[string]any{
		"error.type":                            wantType,
		"spendguard.estimate.tokens":            int64(100),
		"spendguard.estimate.prompt.tokens":     int64(40),
		"spendguard.estimate.prompt.raw.tokens": int64(40),
		"spendguard.reserved.tokens":            int64(100),
		"spendguard.charged.tokens":             int64(0),
		"spendguard.refunded.tokens":            int64(100),
		"spendguard.budget.remaining":           int64(1000),
		"spendguard.budget.name":                "b",
		"spendguard.budget.denied":              false,
	}))
	rm := e.collect(t)
	dur := histPoints(t, rm, "gen_ai.client.operation.duration", durationBuckets)
	if k := key(merge(startAttrs("openai", "gpt-test"), map[string]any{"error.type": wantType})); len(dur) != 1 || dur[k][0] != 1 {
		t.Errorf("duration points = %v", dur)
	}
	if _, ok := findMetric(rm, conv.BudgetDenialsMetric); ok {
		t.Error("a provider error counted as a denial")
	}
}

func TestStreamedCall(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: completion, Usage: &providertest.Usage{Prompt: 20, Completion: 9}}))
	defer srv.Close()
	m := openAIModel(t, srv, e, nil)
	var mu sync.Mutex
	var got strings.Builder
	_, err := m.GenerateContent(context.Background(), human, llms.WithStreamingFunc(func(_ context.Context, c []byte) error {
		mu.Lock()
		defer mu.Unlock()
		got.Write(c)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != completion {
		t.Errorf("the caller's streaming function got %q", got.String())
	}
	if !srv.Requests()[0].Stream {
		t.Error("the request was not streamed")
	}
	s := e.onlySpan(t)
	a := attrs(s.Attributes())
	ttfc, ok := a["gen_ai.response.time_to_first_chunk"].(float64)
	if !ok || ttfc <= 0 {
		t.Fatalf("time to first chunk = %v", a["gen_ai.response.time_to_first_chunk"])
	}
	if total := s.EndTime().Sub(s.StartTime()).Seconds(); ttfc > total {
		t.Errorf("time to first chunk %v exceeds the span's %v", ttfc, total)
	}
	delete(a, "gen_ai.response.time_to_first_chunk")
	equalMaps(t, "span attributes", a, merge(startAttrs("openai", "gpt-test"), map[string]any{
		"gen_ai.request.stream":          true,
		"gen_ai.usage.input_tokens":      int64(20),
		"gen_ai.usage.output_tokens":     int64(9),
		"gen_ai.response.finish_reasons": []string{"stop"},
	}))
	rm := e.collect(t)
	pts := histPoints(t, rm, "gen_ai.client.operation.time_to_first_chunk", durationBuckets)
	if p := pts[key(startAttrs("openai", "gpt-test"))]; len(pts) != 1 || p[0] != 1 || p[1] != ttfc {
		t.Errorf("time to first chunk points = %v, want one of %v", pts, ttfc)
	}
}

func TestCallWithoutReportedUsage(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: completion})) // no usage
	defer srv.Close()
	fb := &fakeBudget{b: budget.NewAtomic(1000, budget.WithName("est")), name: "est", promptEstimate: 30, allowance: 70}
	m := openAIModel(t, srv, e, fb)
	if _, err := m.GenerateContent(context.Background(), human); err != nil {
		t.Fatal(err)
	}
	estCompletion := int64(len(completion)+3) / 4
	equalMaps(t, "span attributes", attrs(e.onlySpan(t).Attributes()), merge(startAttrs("openai", "gpt-test"), map[string]any{
		"gen_ai.usage.input_tokens":             int64(30),
		"gen_ai.usage.output_tokens":            estCompletion,
		"gen_ai.response.finish_reasons":        []string{"stop"},
		"spendguard.estimate.tokens":            int64(100),
		"spendguard.estimate.prompt.tokens":     int64(30),
		"spendguard.estimate.prompt.raw.tokens": int64(30),
		"spendguard.reserved.tokens":            int64(100),
		"spendguard.charged.tokens":             30 + estCompletion,
		"spendguard.refunded.tokens":            100 - 30 - estCompletion,
		"spendguard.usage.source":               "estimated",
		"spendguard.budget.remaining":           1000 - 30 - estCompletion,
		"spendguard.budget.name":                "est",
		"spendguard.budget.denied":              false,
	}))
}

func TestUnbudgetedCallHasNoSpendguardAttributes(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: completion, Usage: &providertest.Usage{Prompt: 11, Completion: 4}}))
	defer srv.Close()
	m := openAIModel(t, srv, e, nil, sgotel.WithPrices(price.Table{"gpt-test": {Rates: price.Rates{Input: 1}}}))
	if _, err := m.GenerateContent(context.Background(), human); err != nil {
		t.Fatal(err)
	}
	equalMaps(t, "span attributes", attrs(e.onlySpan(t).Attributes()), merge(startAttrs("openai", "gpt-test"), map[string]any{
		"gen_ai.usage.input_tokens":      int64(11),
		"gen_ai.usage.output_tokens":     int64(4),
		"gen_ai.response.finish_reasons": []string{"stop"},
	}))
}

func TestFailOpenAndProviderOverride(t *testing.T) {
	e := newEnv(t)
	fb := &fakeBudget{b: budget.NewAtomic(1000), name: "shared", promptEstimate: 5, allowance: 5, failOpen: true}
	m := llmwrap.Wrap(&fakeModel{text: "ok", usage: true},
		sgotel.Middleware(e.opts(sgotel.WithProviderName("azure.ai.openai"))...), fb.middleware())
	if _, err := m.GenerateContent(context.Background(), human, llms.WithModel("gpt-x")); err != nil {
		t.Fatal(err)
	}
	a := attrs(e.onlySpan(t).Attributes())
	if a["spendguard.budget.fail_open"] != true || a["gen_ai.provider.name"] != "azure.ai.openai" || a["gen_ai.request.model"] != "gpt-x" {
		t.Errorf("attributes = %v", a)
	}
	if n := e.onlySpan(t).Name(); n != "chat gpt-x" {
		t.Errorf("span name %q", n)
	}
}

func TestErrorTypes(t *testing.T) {
	unavailable := fmt.Errorf("redis down: %w", budget.ErrUnavailable)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&budget.DeniedError{Budget: "x"}, "budget_denied"},
		{fmt.Errorf("wrapped: %w", &budget.DeniedError{}), "budget_denied"},
		{unavailable, "budget_unavailable"},
		{context.Canceled, "canceled"},
		{fmt.Errorf("post: %w", context.DeadlineExceeded), "timeout"},
		{errors.New("plain"), "*errors.errorString"},
		{&myErr{}, "*sdktest_test.myErr"},
	} {
		e := newEnv(t)
		m := llmwrap.Wrap(&fakeModel{err: tc.err}, sgotel.Middleware(e.opts()...))
		_, err := m.GenerateContent(context.Background(), human)
		if err != tc.err {
			t.Fatalf("the error changed: %v", err)
		}
		if got := attrs(e.onlySpan(t).Attributes())["error.type"]; got != tc.want {
			t.Errorf("%v: error.type = %v, want %s", tc.err, got, tc.want)
		}
	}
}

type myErr struct{}

func (*myErr) Error() string { return "mine" }

func TestEmptyResponseIsAnError(t *testing.T) {
	e := newEnv(t)
	m := llmwrap.Wrap(nilModel{}, sgotel.Middleware(e.opts()...))
	if _, err := m.GenerateContent(context.Background(), human); !errors.Is(err, llmwrap.ErrEmptyResponse) {
		t.Fatalf("err = %v", err)
	}
	s := e.onlySpan(t)
	if s.Status().Code != codes.Error || attrs(s.Attributes())["error.type"] == nil {
		t.Errorf("status %v attrs %v", s.Status(), s.Attributes())
	}
}

type nilModel struct{}

func (nilModel) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	return nil, nil
}

func (nilModel) Call(context.Context, string, ...llms.CallOption) (string, error) { return "", nil }

func TestProviderGuess(t *testing.T) {
	for _, tc := range []struct {
		model llms.Model
		want  string
	}{
		{&fakeModel{}, "_OTHER"},
		{mustOpenAI(t), "openai"},
	} {
		e := newEnv(t)
		m := llmwrap.Wrap(tc.model, sgotel.Middleware(e.opts()...))
		_, _ = m.GenerateContent(canceledCtx(), human)
		if got := attrs(e.onlySpan(t).Attributes())["gen_ai.provider.name"]; got != tc.want {
			t.Errorf("%T: provider = %v, want %s", tc.model, got, tc.want)
		}
	}
}

func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func mustOpenAI(t *testing.T) llms.Model {
	llm, err := openai.New(openai.WithToken("x"), openai.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	return llm
}

func TestCanceledCall(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := providertest.NewOpenAI(func(providertest.Request) providertest.Reply {
		cancel() // the request has arrived: give up on it
		return providertest.Reply{Hang: true}
	})
	defer srv.Close()
	m := openAIModel(t, srv, e, nil)
	_, err := m.GenerateContent(ctx, human)
	if err == nil {
		t.Fatal("no error")
	}
	if got := attrs(e.onlySpan(t).Attributes())["error.type"]; got != "canceled" {
		t.Errorf("error.type = %v (err %v)", got, err)
	}
}

func TestNotSampledStillMeasures(t *testing.T) {
	e := newEnv(t, sdktrace.NeverSample())
	m := llmwrap.Wrap(&fakeModel{text: completion, usage: true}, llmwrap.WithModelName("m"), sgotel.Middleware(e.opts()...))
	if _, err := m.GenerateContent(context.Background(), human); err != nil {
		t.Fatal(err)
	}
	if n := len(e.ended(t)); n != 0 {
		t.Fatalf("%d spans recorded under NeverSample", n)
	}
	tok := histPoints(t, e.collect(t), "gen_ai.client.token.usage", tokenBuckets)
	if len(tok) != 2 {
		t.Errorf("token points = %v", tok)
	}
}

func TestParentAndChildSpans(t *testing.T) {
	e := newEnv(t)
	var inner trace.SpanContext
	probe := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			inner = trace.SpanContextFromContext(ctx)
			return next(ctx, msgs, opts...)
		}
	}
	m := llmwrap.Wrap(&fakeModel{text: "x"}, sgotel.Middleware(e.opts()...), probe)
	ctx, parent := e.tp.Tracer("test").Start(context.Background(), "agent")
	if _, err := m.GenerateContent(ctx, human); err != nil {
		t.Fatal(err)
	}
	parent.End()
	spans := e.ended(t)
	chat := spans[0]
	if chat.Parent().SpanID() != parent.SpanContext().SpanID() || chat.SpanContext().SpanID() != inner.SpanID() {
		t.Errorf("chat span is not the parent's child, or not in the context next gets")
	}
}

func TestMiddlewareOutsideWrap(t *testing.T) {
	e := newEnv(t)
	m := &fakeModel{text: "x", usage: true}
	gen := sgotel.Middleware(e.opts()...)(m.GenerateContent)
	resp, err := gen(context.Background(), human, llms.WithModel("direct"), llms.WithMaxTokens(9))
	if err != nil {
		t.Fatal(err)
	}
	// Outside Wrap there is no record to read: the call passes through untraced.
	if n := len(e.spans.Ended()); n != 0 || resp.Choices[0].Content != "x" {
		t.Errorf("%d spans, answer %q; want 0 spans and the call passed through", n, resp.Choices[0].Content)
	}
	if _, err := sgotel.Middleware()(nil)(context.Background(), human); err == nil {
		t.Error("a nil next should give an error, not a panic")
	}
}

func TestManyModelsConcurrently(t *testing.T) {
	e := newEnv(t)
	mw := sgotel.Middleware(e.opts()...)
	m := llmwrap.Wrap(&fakeModel{text: "x", usage: true}, mw)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				model := fmt.Sprintf("m%d", (g+i)%5)
				if _, err := m.GenerateContent(context.Background(), human, llms.WithModel(model)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, s := range e.ended(t) {
		if want := "chat " + attrs(s.Attributes())["gen_ai.request.model"].(string); s.Name() != want {
			t.Fatalf("span %q for model attribute %q", s.Name(), want)
		}
	}
	dur := histPoints(t, e.collect(t), "gen_ai.client.operation.duration", durationBuckets)
	total := 0.0
	for _, p := range dur {
		total += p[0]
	}
	if len(dur) != 5 || total != 400 {
		t.Errorf("%d duration series, %v calls", len(dur), total)
	}
}

// TestPriceCost: spendguard.cost.usd is the price table's integer micro-USD cost of
// the usage the budget charged (every count at its own rate, long contexts at their
// tier, rounded up to a micro-USD), in US dollars.
func TestPriceCost(t *testing.T) {
	long := price.Price{Rates: price.Rates{Input: 3_000_000, CacheWrite: 3_750_000},
		Tiers: []price.Tier{{Above: 200_000, Rates: price.Rates{Input: 6_000_000, CacheWrite: 7_500_000}}}}
	for _, tc := range []struct {
		p    price.Price
		u    llmwrap.Usage
		want float64
	}{
		{price.Price{Rates: price.Rates{Input: 1_000_000, Output: 2_000_000}}, llmwrap.Usage{PromptTokens: 1e6, CompletionTokens: 1e6}, 3},
		{price.Price{Rates: price.Rates{Input: 4_000_000, CacheRead: 1_000_000}}, llmwrap.Usage{PromptTokens: 1e6, CachedPromptTokens: 5e5}, 2.5},
		{price.Price{Rates: price.Rates{Input: 4_000_000}}, llmwrap.Usage{PromptTokens: 1e6, CachedPromptTokens: 5e5}, 4},
		{long, llmwrap.Usage{PromptTokens: 200_000, CacheWriteTokens: 100_000}, 0.675},
		{long, llmwrap.Usage{PromptTokens: 1e6, CacheWriteTokens: 4e5}, 6.6},
		{price.Price{Rates: price.Rates{Input: 1}}, llmwrap.Usage{PromptTokens: 1}, 1e-6}, // rounded up to a micro-USD
	} {
		e := newEnv(t)
		fb := &fakeBudget{b: budget.NewAtomic(1 << 40), name: "p"}
		usage := tc.u
		report := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
			return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
				resp, err := next(ctx, msgs, opts...)
				llmwrap.SpendFrom(ctx).Budget.Usage = usage // what the budget below charged
				return resp, err
			}
		}
		m := llmwrap.Wrap(&fakeModel{text: "x", usage: true}, llmwrap.WithModelName("priced"),
			sgotel.Middleware(e.opts(sgotel.WithPrices(price.Table{"priced": tc.p}))...), report, fb.middleware())
		if _, err := m.GenerateContent(context.Background(), human); err != nil {
			t.Fatal(err)
		}
		if got := attrs(e.onlySpan(t).Attributes())["spendguard.cost.usd"]; got != tc.want {
			t.Errorf("%+v %+v: cost = %v, want %v", tc.p, tc.u, got, tc.want)
		}
	}
}

// allStrings gathers every string in spans (name, attributes, events, status) and
// metric attributes, to look for leaked content.
func allStrings(t *testing.T, e *env) string {
	t.Helper()
	var b strings.Builder
	addKVs := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			b.WriteString(kv.Value.Emit())
			b.WriteByte('\n')
		}
	}
	for _, s := range e.ended(t) {
		b.WriteString(s.Name() + "\n" + s.Status().Description + "\n")
		addKVs(s.Attributes())
		for _, ev := range s.Events() {
			b.WriteString(ev.Name + "\n")
			addKVs(ev.Attributes)
		}
	}
	rm := e.collect(t)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					addKVs(p.Attributes.ToSlice())
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					addKVs(p.Attributes.ToSlice())
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					addKVs(p.Attributes.ToSlice())
				}
			}
		}
	}
	return b.String()
}

func runContentScenario(t *testing.T, e *env, opts ...sgotel.Option) {
	t.Helper()
	srv := providertest.NewOpenAI(providertest.Sequence(
		providertest.Reply{Text: completion, Usage: &providertest.Usage{Prompt: 20, Completion: 9}},
		providertest.Reply{Text: completion},
		providertest.Reply{Status: http.StatusBadRequest, Text: "nope"},
	))
	defer srv.Close()
	fb := &fakeBudget{b: budget.NewAtomic(1000, budget.WithName("c")), name: "c", promptEstimate: 30, allowance: 70}
	m := openAIModel(t, srv, e, fb, opts...)
	for range 3 {
		_, _ = m.GenerateContent(context.Background(), human)
	}
	tool := sgotel.Tool(echoTool{}, e.opts(opts...)...)
	_, _ = tool.Call(context.Background(), prompt)
}

func TestNoContentByDefault(t *testing.T) {
	e := newEnv(t)
	runContentScenario(t, e)
	all := allStrings(t, e)
	for _, secret := range []string{"purple elephant", "marmalade", "You are terse"} {
		if strings.Contains(all, secret) {
			t.Errorf("%q recorded without content capture:\n%s", secret, all)
		}
	}
	if n := len(e.ended(t)); n != 4 {
		t.Errorf("%d spans, want 4", n)
	}
}

func TestContentCapture(t *testing.T) {
	e := newEnv(t)
	runContentScenario(t, e, sgotel.WithContentCapture(true))
	spans := e.ended(t)
	a := attrs(spans[0].Attributes())
	wantIn := `[{"role":"system","parts":[{"type":"text","content":"You are terse."}]},` +
		`{"role":"user","parts":[{"type":"text","content":"What is the secret word of the purple elephant?"}]}]`
	wantOut := `[{"role":"assistant","parts":[{"type":"text","content":"The secret word is marmalade-zebra."}],"finish_reason":"stop"}]`
	if a["gen_ai.input.messages"] != wantIn {
		t.Errorf("input messages = %v", a["gen_ai.input.messages"])
	}
	if a["gen_ai.output.messages"] != wantOut {
		t.Errorf("output messages = %v", a["gen_ai.output.messages"])
	}
	tool := attrs(spans[3].Attributes())
	if tool["gen_ai.tool.call.arguments"] != prompt || tool["gen_ai.tool.call.result"] != "echo: "+prompt {
		t.Errorf("tool attributes = %v", tool)
	}
	if errSpan := attrs(spans[2].Attributes()); errSpan["gen_ai.input.messages"] != wantIn || errSpan["gen_ai.output.messages"] != nil {
		t.Errorf("failed call content = %v", errSpan)
	}
}

func TestContentShapes(t *testing.T) {
	e := newEnv(t)
	resp := &llms.ContentResponse{Choices: []*llms.ContentChoice{
		{ReasoningContent: "hmm", ToolCalls: []llms.ToolCall{{ID: "c1", Type: "function",
			FunctionCall: &llms.FunctionCall{Name: "weather", Arguments: `{"city":"Paris"}`}}}, StopReason: "tool_calls"},
		{Content: "b", FuncCall: &llms.FunctionCall{Name: "f", Arguments: "not json"}, StopReason: "length"},
	}}
	m := llmwrap.Wrap(fixedModel{resp}, sgotel.Middleware(e.opts(sgotel.WithContentCapture(true))...))
	msgs := []llms.MessageContent{
		{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{
			llms.ImageURLPart("https://x/y.png"), llms.BinaryPart("audio/wav", []byte{1, 2}), nil}},
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{llms.ToolCall{ID: "c0", FunctionCall: &llms.FunctionCall{Name: "w", Arguments: `{}`}}}},
		{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{ToolCallID: "c0", Name: "w", Content: "sunny"}}},
	}
	if _, err := m.GenerateContent(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	a := attrs(e.onlySpan(t).Attributes())
	wantIn := `[{"role":"user","parts":[{"type":"uri","modality":"image","uri":"https://x/y.png"},` +
		`{"type":"blob","mime_type":"audio/wav","modality":"audio","content":"AQI="}]},` +
		`{"role":"assistant","parts":[{"type":"tool_call","id":"c0","name":"w","arguments":{}}]},` +
		`{"role":"tool","parts":[{"type":"tool_call_response","id":"c0","response":"sunny"}]}]`
	wantOut := `[{"role":"assistant","parts":[{"type":"reasoning","content":"hmm"},` +
		`{"type":"tool_call","id":"c1","name":"weather","arguments":{"city":"Paris"}}],"finish_reason":"tool_call"},` +
		`{"role":"assistant","parts":[{"type":"text","content":"b"},{"type":"tool_call","name":"f","arguments":"not json"}],"finish_reason":"length"}]`
	if a["gen_ai.input.messages"] != wantIn {
		t.Errorf("input = %v", a["gen_ai.input.messages"])
	}
	if a["gen_ai.output.messages"] != wantOut {
		t.Errorf("output = %v", a["gen_ai.output.messages"])
	}
	if fr := a["gen_ai.response.finish_reasons"]; fmt.Sprint(fr) != "[tool_calls length]" {
		t.Errorf("finish reasons = %v", fr)
	}
}

type fixedModel struct{ resp *llms.ContentResponse }

func (f fixedModel) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	return f.resp, nil
}

func (f fixedModel) Call(context.Context, string, ...llms.CallOption) (string, error) { return "", nil }

type echoTool struct{}

func (echoTool) Name() string        { return "echo" }
func (echoTool) Description() string { return "Repeats its input." }
func (echoTool) Call(_ context.Context, in string) (string, error) {
	if in == "fail" {
		return "", &myErr{}
	}
	return "echo: " + in, nil
}

func TestToolSpan(t *testing.T) {
	e := newEnv(t)
	tool := sgotel.Tool(echoTool{}, e.opts()...)
	if tool.Name() != "echo" || tool.Description() != "Repeats its input." {
		t.Fatalf("name %q description %q", tool.Name(), tool.Description())
	}
	ctx, parent := e.tp.Tracer("test").Start(context.Background(), "agent")
	out, err := tool.Call(ctx, "hi")
	if err != nil || out != "echo: hi" {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := tool.Call(ctx, "fail"); err == nil {
		t.Fatal("no error")
	}
	parent.End()
	spans := e.ended(t)
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	base := map[string]any{
		"gen_ai.operation.name":   "execute_tool",
		"gen_ai.tool.name":        "echo",
		"gen_ai.tool.type":        "function",
		"gen_ai.tool.description": "Repeats its input.",
	}
	for i, s := range spans[:2] {
		if s.Name() != "execute_tool echo" || s.SpanKind() != trace.SpanKindInternal || s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d: %q kind %v parent %v", i, s.Name(), s.SpanKind(), s.Parent().SpanID())
		}
	}
	equalMaps(t, "ok tool", attrs(spans[0].Attributes()), base)
	if spans[0].Status().Code != codes.Unset {
		t.Errorf("ok tool status %v", spans[0].Status())
	}
	equalMaps(t, "failed tool", attrs(spans[1].Attributes()), merge(base, map[string]any{"error.type": "*sdktest_test.myErr"}))
	if spans[1].Status().Code != codes.Error || spans[1].Status().Description != "mine" {
		t.Errorf("failed tool status %v", spans[1].Status())
	}
	if sgotel.Tool(nil) != nil {
		t.Error("Tool(nil) should be nil")
	}
}

type panicModel struct{ fakeModel }

func (*panicModel) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	panic("boom")
}

func TestPanicEndsTheSpan(t *testing.T) {
	e := newEnv(t)
	m := llmwrap.Wrap(&panicModel{}, sgotel.Middleware(e.opts()...))
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v", r)
			}
		}()
		_, _ = m.GenerateContent(context.Background(), human, llms.WithStreamingFunc(func(context.Context, []byte) error { return nil }))
	}()
	s := e.onlySpan(t)
	if s.Status().Code != codes.Error || attrs(s.Attributes())["error.type"] != "panic" {
		t.Errorf("status %v attributes %v", s.Status(), s.Attributes())
	}
}

func TestRequestParameters(t *testing.T) {
	e := newEnv(t)
	m := llmwrap.Wrap(&fakeModel{text: "x"}, sgotel.Middleware(e.opts()...))
	_, err := m.GenerateContent(context.Background(), human, llms.WithModel("p"),
		llms.WithN(3), llms.WithTemperature(0.5), llms.WithTopP(0.9), llms.WithTopK(40), llms.WithSeed(7),
		llms.WithFrequencyPenalty(0.25), llms.WithPresencePenalty(-0.5), llms.WithStopWords([]string{"END"}), llms.WithJSONMode())
	if err != nil {
		t.Fatal(err)
	}
	equalMaps(t, "span attributes", attrs(e.onlySpan(t).Attributes()), merge(startAttrs("_OTHER", "p"), map[string]any{
		"gen_ai.request.choice.count":      int64(3),
		"gen_ai.request.temperature":       0.5,
		"gen_ai.request.top_p":             0.9,
		"gen_ai.request.top_k":             40.0,
		"gen_ai.request.seed":              int64(7),
		"gen_ai.request.frequency_penalty": 0.25,
		"gen_ai.request.presence_penalty":  -0.5,
		"gen_ai.request.stop_sequences":    []string{"END"},
		"gen_ai.output.type":               "json",
		"gen_ai.response.finish_reasons":   []string{"stop"},
	}))
}
