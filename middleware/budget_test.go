package middleware_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/middleware"
)

func TestRecordsReportedUsage(t *testing.T) {
	b := budget.NewAtomic(10_000, budget.WithName("run"))
	var s llmwrap.Spend
	m := llmwrap.Wrap(replyWith("hi", 21, 7, "stop"), capture(&s),
		middleware.Budget(b, middleware.WithEstimator(fixedEstimator(30)), middleware.WithCompletionAllowance(100)))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	wantSettled(t, b, 28)
	want := llmwrap.BudgetCharge{
		Name: "run", PromptEstimate: 30, PromptEstimateRaw: 30, CompletionAllowance: 100,
		Estimate: 130, Reserved: 130, Charged: 28, Remaining: 10_000 - 28, RemainingKnown: true,
		Usage: llmwrap.Usage{PromptTokens: 21, CompletionTokens: 7}, UsageSource: llmwrap.UsageReported,
	}
	if s.Budget == nil || !reflect.DeepEqual(*s.Budget, want) {
		t.Errorf("budget record\n got %+v\nwant %+v", s.Budget, want)
	}
	if !s.Sent || s.Budget.Usage != (llmwrap.Usage{PromptTokens: 21, CompletionTokens: 7}) || s.Budget.UsageSource != llmwrap.UsageReported {
		t.Errorf("spend %+v", s)
	}
	if s.Budget.Refunded() != 102 {
		t.Errorf("refunded = %d", s.Budget.Refunded())
	}
}

func TestDeniedCallNeverReachesTheModel(t *testing.T) {
	b := budget.NewAtomic(100, budget.WithName("tiny"))
	model := replyWith("hi", 1, 1, "stop")
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(b, middleware.WithEstimator(fixedEstimator(10))))
	_, err := m.GenerateContent(context.Background(), hello)
	d, ok := err.(*budget.DeniedError) // unchanged, not wrapped
	if !ok || !errors.Is(err, budget.ErrDenied) {
		t.Fatalf("err = %#v, want a *budget.DeniedError", err)
	}
	if d.Budget != "tiny" || d.Requested != 10+middleware.DefaultCompletionAllowance || d.Remaining != 100 {
		t.Errorf("denial = %+v", d)
	}
	if n := model.calls.Load(); n != 0 {
		t.Errorf("model called %d times", n)
	}
	if !s.Budget.Denied || !(s.Budget != nil) || s.Budget.Name != "tiny" || s.Budget.Remaining != 100 || !s.Budget.RemainingKnown || s.Budget.Reserved != 0 {
		t.Errorf("spend = %+v", s)
	}
	wantSettled(t, b, 0)
}

func TestCallMaxTokensIsTheAllowance(t *testing.T) {
	b := budget.NewAtomic(10_000)
	var s llmwrap.Spend
	m := llmwrap.Wrap(replyWith("hi", 5, 5, "stop"), capture(&s), middleware.Budget(b, middleware.WithEstimator(fixedEstimator(3))))
	if _, err := m.GenerateContent(context.Background(), hello, llms.WithMaxTokens(50)); err != nil {
		t.Fatal(err)
	}
	if s.Budget.CompletionAllowance != 50 || s.Budget.Estimate != 53 || s.MaxTokens != 50 {
		t.Errorf("spend = %+v", s)
	}
}

func TestLearnedAllowance(t *testing.T) {
	ctx := context.Background()
	b := budget.NewAtomic(1 << 40)
	var completion, prompt int
	stop := "stop"
	model := &fakeModel{fn: func(context.Context, []llms.MessageContent, llms.CallOptions) (*llms.ContentResponse, error) {
		return response("x", prompt, completion, stop), nil
	}}
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(b, middleware.WithEstimator(fixedEstimator(1))))
	var billed uint64 // what the server billed, summed over the calls
	call := func(model string, c int, opts ...llms.CallOption) uint64 {
		t.Helper()
		completion, prompt = c, 1
		if _, err := m.GenerateContent(ctx, hello, append(opts, llms.WithModel(model))...); err != nil {
			t.Fatal(err)
		}
		billed += uint64(prompt + completion)
		return s.Budget.CompletionAllowance
	}
	if a := call("a", 10); a != middleware.DefaultCompletionAllowance {
		t.Fatalf("first allowance = %d", a)
	}
	// Fewer than 8 samples: never below the default.
	for i := 0; i < 6; i++ {
		if a := call("a", 10); a != middleware.DefaultCompletionAllowance {
			t.Fatalf("allowance after %d samples = %d", i+2, a)
		}
	}
	// A big one before 8 samples raises it.
	if a := call("a", 2000); a != middleware.DefaultCompletionAllowance {
		t.Fatalf("allowance = %d", a)
	}
	if a := call("a", 10); a != 2000 {
		t.Fatalf("allowance after a 2000 = %d, want 2000", a)
	}
	// 64 completions 1..64: p95 by nearest rank is the 61st smallest.
	for c := 1; c <= 64; c++ {
		call("a", c)
	}
	for i := 0; i < 8; i++ { // let the recompute that runs every few calls happen
		call("a", 61)
	}
	if a := call("a", 61); a < 59 || a > 64 {
		t.Fatalf("learned allowance = %d, want about 61", a)
	}
	for i := 0; i < 64; i++ {
		call("a", 100)
	}
	if a := call("a", 100); a != 100 {
		t.Fatalf("learned allowance = %d, want 100", a)
	}
	// Completions cut at their cap never lower it: by finish reason...
	stop = "length"
	for i := 0; i < 100; i++ {
		call("a", 5)
	}
	stop = "stop"
	if a := call("a", 100); a != 100 {
		t.Fatalf("allowance after cut completions = %d, want 100", a)
	}
	// ...or by hitting the MaxTokens that was sent.
	for i := 0; i < 100; i++ {
		call("a", 7, llms.WithMaxTokens(7))
	}
	if a := call("a", 100); a != 100 {
		t.Fatalf("allowance after capped completions = %d, want 100", a)
	}
	// Cut completions above the allowance are kept (they are lower bounds) and raise it.
	stop = "length"
	for i := 0; i < 8; i++ {
		call("a", 500)
	}
	stop = "stop"
	if a := call("a", 100); a != 1000 { // a cut answer counts twice its length
		t.Fatalf("allowance after long cut completions = %d, want 1000", a)
	}
	// Another model has its own.
	if a := call("b", 10); a != middleware.DefaultCompletionAllowance {
		t.Fatalf("model b allowance = %d", a)
	}
	wantSettled(t, b, billed)
}

func TestFixedAllowanceDoesNotLearn(t *testing.T) {
	b := budget.NewAtomic(1 << 40)
	var s llmwrap.Spend
	m := llmwrap.Wrap(replyWith("x", 1, 3, "stop"), capture(&s),
		middleware.Budget(b, middleware.WithCompletionAllowance(77), middleware.WithEstimator(fixedEstimator(1))))
	for i := 0; i < 100; i++ {
		if _, err := m.GenerateContent(context.Background(), hello); err != nil {
			t.Fatal(err)
		}
		if s.Budget.CompletionAllowance != 77 {
			t.Fatalf("allowance = %d", s.Budget.CompletionAllowance)
		}
	}
}

func TestEstimatedWhenNoUsageReported(t *testing.T) {
	text := strings.Repeat("word ", 40)
	args := `{"city":"Lyon","days":3}`
	model := &fakeModel{fn: func(context.Context, []llms.MessageContent, llms.CallOptions) (*llms.ContentResponse, error) {
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{
			{Content: text, GenerationInfo: map[string]any{"PromptTokens": 0, "CompletionTokens": 0}},
			{ToolCalls: []llms.ToolCall{{ID: "1", Type: "function", FunctionCall: &llms.FunctionCall{Name: "weather", Arguments: args}}},
				FuncCall: &llms.FunctionCall{Name: "weather", Arguments: args}},
		}}, nil
	}}
	b := budget.NewAtomic(10_000)
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(b, middleware.WithEstimator(fixedEstimator(12))))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	wantCompletion := estimate.Text(text) + estimate.Text("weather") + estimate.Text(args)
	if s.Budget.UsageSource != llmwrap.UsageEstimated || s.Budget.Usage.PromptTokens != 12 || s.Budget.Usage.CompletionTokens != wantCompletion {
		t.Errorf("spend = %+v, want completion %d", s, wantCompletion)
	}
	wantSettled(t, b, 12+wantCompletion)
}

func TestEstimatedFromStreamWhenResponseIsEmpty(t *testing.T) {
	streamed := strings.Repeat("chunk ", 30)
	var userGot strings.Builder
	model := &fakeModel{fn: func(ctx context.Context, _ []llms.MessageContent, o llms.CallOptions) (*llms.ContentResponse, error) {
		for _, w := range strings.SplitAfter(streamed, " ") {
			if err := o.StreamingFunc(ctx, []byte(w)); err != nil {
				return nil, err
			}
		}
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{{}}}, nil
	}}
	b := budget.NewAtomic(10_000)
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(b, middleware.WithEstimator(fixedEstimator(5))))
	_, err := m.GenerateContent(context.Background(), hello, llms.WithStreamingFunc(func(_ context.Context, c []byte) error {
		userGot.Write(c)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if userGot.String() != streamed {
		t.Errorf("the caller's streaming func saw %q", userGot.String())
	}
	want := estimate.Text(streamed)
	if s.Budget.UsageSource != llmwrap.UsageEstimated || s.Budget.Usage.CompletionTokens != want {
		t.Errorf("spend = %+v, want completion %d", s, want)
	}
	wantSettled(t, b, 5+want)
}

// A stream stopped by the caller was sent and partly generated: it is charged the
// prompt estimate and the output seen, and nothing stays held.
func TestStreamingFuncErrorChargesWhatWasSeen(t *testing.T) {
	stop := errors.New("caller stops the stream")
	model := &fakeModel{fn: func(ctx context.Context, _ []llms.MessageContent, o llms.CallOptions) (*llms.ContentResponse, error) {
		if err := o.StreamingFunc(ctx, []byte("a")); err != nil {
			return nil, err
		}
		return response("a", 1, 1, "stop"), nil
	}}
	b := budget.NewAtomic(10_000)
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(b, middleware.WithEstimator(fixedEstimator(9))))
	_, err := m.GenerateContent(context.Background(), hello, llms.WithStreamingFunc(func(context.Context, []byte) error { return stop }))
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v", err)
	}
	wantSettled(t, b, 9+estimate.Text("a"))
	if s.Budget.UsageSource != llmwrap.UsageInterrupted {
		t.Errorf("charged as %q", s.Budget.UsageSource)
	}
}

// An error status from the provider is not billed: the hold is released.
func TestProviderErrorReleases(t *testing.T) {
	boom := errors.New("API returned unexpected status code: 503: overloaded")
	model := &fakeModel{fn: func(context.Context, []llms.MessageContent, llms.CallOptions) (*llms.ContentResponse, error) {
		return nil, boom
	}}
	b := budget.NewAtomic(10_000)
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(b, middleware.WithEstimator(fixedEstimator(40))))
	if _, err := m.GenerateContent(context.Background(), hello); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	wantSettled(t, b, 0)
	if s.Budget.Charged != 0 || s.Budget.UsageSource != llmwrap.UsageNone || s.Budget.Reserved == 0 || s.Budget.Remaining != 10_000 {
		t.Errorf("spend = %+v", s)
	}
}

func TestProviderErrorWithUsageIsRecorded(t *testing.T) {
	model := &fakeModel{fn: func(context.Context, []llms.MessageContent, llms.CallOptions) (*llms.ContentResponse, error) {
		return response("partial", 9, 4, "length"), errors.New("stream broke")
	}}
	b := budget.NewAtomic(10_000)
	m := llmwrap.Wrap(model, middleware.Budget(b))
	if _, err := m.GenerateContent(context.Background(), hello); err == nil {
		t.Fatal("no error")
	}
	wantSettled(t, b, 13)
}

// A call that failed without a report is charged what the provider billed: nothing
// for an error status, the reservation for a call sent without a stream whose
// outcome is unknown (cancelled, say), nothing for one never sent.
func TestFailedCallCharges(t *testing.T) {
	var fail func(ctx context.Context) error
	model := &fakeModel{fn: func(ctx context.Context, _ []llms.MessageContent, _ llms.CallOptions) (*llms.ContentResponse, error) {
		return nil, fail(ctx)
	}}
	b := budget.NewAtomic(10_000)
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(b, middleware.WithEstimator(fixedEstimator(40)), middleware.WithCompletionAllowance(60)))

	fail = func(context.Context) error { return errors.New("API returned unexpected status code: 500: overloaded") }
	_, err := m.GenerateContent(context.Background(), hello)
	require.Error(t, err)
	wantSettled(t, b, 0)
	assert.Equal(t, llmwrap.UsageNone, s.Budget.UsageSource)

	ctx, cancel := context.WithCancel(context.Background())
	fail = func(context.Context) error { cancel(); return errors.New("request cancelled") }
	_, err = m.GenerateContent(ctx, hello)
	require.Error(t, err)
	wantSettled(t, b, 100)
	assert.Equal(t, llmwrap.UsageReservation, s.Budget.UsageSource)
	assert.Equal(t, uint64(100), s.Budget.Charged)

	// A context done before the call is never sent: nothing is charged.
	_, err = m.GenerateContent(ctx, hello)
	require.ErrorIs(t, err, context.Canceled)
	wantSettled(t, b, 100)
	assert.False(t, s.Sent)
}

func TestPanicReleasesAndRepanics(t *testing.T) {
	model := &fakeModel{fn: func(context.Context, []llms.MessageContent, llms.CallOptions) (*llms.ContentResponse, error) {
		panic("provider bug")
	}}
	b := budget.NewAtomic(10_000)
	m := llmwrap.Wrap(model, middleware.Budget(b))
	func() {
		defer func() {
			if r := recover(); r != "provider bug" {
				t.Errorf("recovered %v", r)
			}
		}()
		_, _ = m.GenerateContent(context.Background(), hello)
		t.Error("no panic")
	}()
	wantSettled(t, b, 0)

	// Through a budget reached by interface (not *budget.Atomic) as well.
	ob := &observed{Atomic: budget.NewAtomic(10_000)}
	m = llmwrap.Wrap(model, middleware.Budget(ob))
	func() {
		defer func() { _ = recover() }()
		_, _ = m.GenerateContent(context.Background(), hello)
	}()
	wantSettled(t, ob, 0)
}

func TestCancelledBeforeTheCall(t *testing.T) {
	model := replyWith("x", 1, 1, "stop")
	b := budget.NewAtomic(10_000)
	m := llmwrap.Wrap(model, middleware.Budget(b))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.GenerateContent(ctx, hello); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if model.calls.Load() != 0 {
		t.Error("model called")
	}
	wantSettled(t, b, 0)
}

// A call cancelled while the provider had it (no stream, no report) may have been
// answered in full: it is charged its reservation, on a context that is not cancelled.
func TestCancelledDuringTheCallSettlesThroughWithoutCancel(t *testing.T) {
	ob := &observed{Atomic: budget.NewAtomic(10_000)}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	model := &fakeModel{fn: func(ctx context.Context, _ []llms.MessageContent, _ llms.CallOptions) (*llms.ContentResponse, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(ob, middleware.WithSettleTimeout(time.Hour)))
	if _, err := m.GenerateContent(ctx, hello); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	wantSettled(t, ob, s.Budget.Reserved)
	if s.Budget.UsageSource != llmwrap.UsageReservation || s.Budget.Charged != s.Budget.Reserved || s.Budget.Reserved == 0 {
		t.Errorf("charged %d of %d as %q, want the reservation", s.Budget.Charged, s.Budget.Reserved, s.Budget.UsageSource)
	}
	sc := ob.lastSettle()
	if sc.err != nil || sc.value != "v" || !sc.hasDeadline || sc.deadlineIn > time.Hour || sc.deadlineIn <= middleware.DefaultSettleTimeout {
		t.Errorf("settle context: %+v", sc)
	}
}

type ctxKey struct{}

// observed is a budget reached through the interface (so the middleware builds its
// settle context) that remembers the context of its last settle.
type observed struct {
	*budget.Atomic
	mu   sync.Mutex
	last settleCtx
}

type settleCtx struct {
	err         error
	value       any
	hasDeadline bool
	deadlineIn  time.Duration
}

func (o *observed) note(ctx context.Context) {
	d, ok := ctx.Deadline()
	o.mu.Lock()
	o.last = settleCtx{err: ctx.Err(), value: ctx.Value(ctxKey{}), hasDeadline: ok, deadlineIn: time.Until(d)}
	o.mu.Unlock()
}

func (o *observed) lastSettle() settleCtx {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

func (o *observed) Record(ctx context.Context, r *budget.Reservation, p, c uint64) error {
	o.note(ctx)
	return o.Atomic.Record(ctx, r, p, c)
}

func (o *observed) Release(ctx context.Context, r *budget.Reservation) error {
	o.note(ctx)
	return o.Atomic.Release(ctx, r)
}

// plain hides everything but TokenBudget (no range reservations, no Remaining).
type plain struct{ budget.TokenBudget }

func TestContextBudgetsAllOrNothing(t *testing.T) {
	global := budget.NewAtomic(100_000, budget.WithName("global"))
	tenant := budget.NewAtomic(5_000, budget.WithName("tenant"))
	run := budget.NewAtomic(500, budget.WithName("run"))
	model := replyWith("x", 20, 10, "stop")
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(global,
		middleware.WithEstimator(fixedEstimator(10)), middleware.WithCompletionAllowance(100)))

	ctx := budget.NewContext(budget.NewContext(context.Background(), tenant), run)
	if _, err := m.GenerateContent(ctx, hello); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*budget.Atomic{global, tenant, run} {
		wantSettled(t, b, 30)
	}
	if s.Budget.Name != "global" || s.Budget.Remaining != 470 || !s.Budget.RemainingKnown || s.Budget.Charged != 30 {
		t.Errorf("spend = %+v", s)
	}

	// The run budget cannot cover a call: denied by "run", nothing held anywhere.
	_, err := m.GenerateContent(ctx, hello, llms.WithMaxTokens(1000))
	var d *budget.DeniedError
	if !errors.As(err, &d) || d.Budget != "run" {
		t.Fatalf("err = %v", err)
	}
	if !s.Budget.Denied || s.Budget.Name != "run" || s.Budget.Remaining != 470 {
		t.Errorf("spend = %+v", s)
	}
	for _, b := range []*budget.Atomic{global, tenant, run} {
		wantSettled(t, b, 30)
	}
	if model.calls.Load() != 1 {
		t.Errorf("model calls = %d", model.calls.Load())
	}
}

func TestNilBudgetUsesOnlyTheContext(t *testing.T) {
	model := replyWith("x", 3, 4, "stop")
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(nil))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	if s.Budget != nil {
		t.Errorf("no budget anywhere, yet spend = %+v", s)
	}
	run := budget.NewAtomic(10_000, budget.WithName("run"))
	if _, err := m.GenerateContent(budget.NewContext(context.Background(), run), hello); err != nil {
		t.Fatal(err)
	}
	wantSettled(t, run, 7)
	if !(s.Budget != nil) || s.Budget.Name != "run" || s.Budget.Remaining != 10_000-7 {
		t.Errorf("spend = %+v", s)
	}
}

func TestWithCost(t *testing.T) {
	// Micro-dollars: 2 per prompt token, 5 per completion token.
	cost := func(model string, u llmwrap.Usage) uint64 {
		if model != "gpt-test" {
			t.Errorf("cost asked for model %q", model)
		}
		return 2*u.PromptTokens + 5*u.CompletionTokens
	}
	b := budget.NewAtomic(1_000_000)
	var s llmwrap.Spend
	m := llmwrap.Wrap(replyWith("x", 21, 7, "stop"), llmwrap.WithModelName("gpt-test"), capture(&s),
		middleware.Budget(b, middleware.WithCost(cost), middleware.WithEstimator(fixedEstimator(30)), middleware.WithCompletionAllowance(100)))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	if s.Budget.Estimate != 2*30+5*100 || s.Budget.Reserved != s.Budget.Estimate || s.Budget.Charged != 2*21+5*7 {
		t.Errorf("spend = %+v", s)
	}
	wantSettled(t, b, 2*21+5*7)
}

func TestHardCap(t *testing.T) {
	b := budget.NewAtomic(300)
	model := &fakeModel{}
	model.fn = func(_ context.Context, _ []llms.MessageContent, o llms.CallOptions) (*llms.ContentResponse, error) {
		return response("x", 50, o.MaxTokens, "length"), nil // spends all it may
	}
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(b, middleware.HardCap(), middleware.WithEstimator(fixedEstimator(50))))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	if got := model.lastOptions().MaxTokens; got != 250 {
		t.Errorf("MaxTokens sent = %d, want 250", got)
	}
	if s.MaxTokens != 250 || s.Budget.Estimate != 50+4*middleware.DefaultCompletionAllowance || s.Budget.Reserved != 300 { // asks up to 4× the allowance
		t.Errorf("spend = %+v", s)
	}
	wantSettled(t, b, 300)
	if model.lastOptions().Metadata != nil {
		t.Error("budget state in Metadata")
	}

	// Nothing left: denied with the minimum requested, model not called again.
	_, err := m.GenerateContent(context.Background(), hello)
	var d *budget.DeniedError
	if !errors.As(err, &d) || d.Requested != 50+16 {
		t.Fatalf("err = %v", err)
	}
	if model.calls.Load() != 1 {
		t.Errorf("calls = %d", model.calls.Load())
	}

	// A caller's own MaxTokens below what is left is kept.
	b2 := budget.NewAtomic(10_000)
	m = llmwrap.Wrap(model, capture(&s), middleware.Budget(b2, middleware.HardCap(), middleware.WithEstimator(fixedEstimator(50))))
	if _, err := m.GenerateContent(context.Background(), hello, llms.WithMaxTokens(40)); err != nil {
		t.Fatal(err)
	}
	if model.lastOptions().MaxTokens != 40 || s.MaxTokens != 40 {
		t.Errorf("MaxTokens sent = %d", model.lastOptions().MaxTokens)
	}
}

func TestHardCapWithCost(t *testing.T) {
	cost := func(_ string, u llmwrap.Usage) uint64 { return u.PromptTokens + 3*u.CompletionTokens }
	b := budget.NewAtomic(1000)
	model := replyWith("x", 100, 10, "stop")
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(b, middleware.HardCap(), middleware.WithCost(cost), middleware.WithEstimator(fixedEstimator(100))))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	// 1000 units: 100 for the prompt, 900 / 3 = 300 completion tokens.
	if model.lastOptions().MaxTokens != 300 || s.Budget.Reserved != 1000 {
		t.Errorf("MaxTokens sent = %d, spend %+v", model.lastOptions().MaxTokens, s)
	}
	wantSettled(t, b, 130)
}

func TestHardCapNeedsRangeReservers(t *testing.T) {
	model := replyWith("x", 1, 1, "stop")
	m := llmwrap.Wrap(model, middleware.Budget(plain{budget.NewAtomic(1000)}, middleware.HardCap()))
	if _, err := m.GenerateContent(context.Background(), hello); !errors.Is(err, middleware.ErrHardCapUnsupported) {
		t.Fatalf("err = %v", err)
	}
	// A context budget that is not one fails the same way.
	m = llmwrap.Wrap(model, middleware.Budget(budget.NewAtomic(1000), middleware.HardCap()))
	ctx := budget.NewContext(context.Background(), plain{budget.NewAtomic(1000)})
	if _, err := m.GenerateContent(ctx, hello); !errors.Is(err, middleware.ErrHardCapUnsupported) {
		t.Fatalf("err = %v", err)
	}
	if model.calls.Load() != 0 {
		t.Error("model called")
	}
}

// brokenStore grants holds but cannot settle them, like a Redis that went away
// during the call.
type brokenStore struct{ records, releases int }

var errStoreDown = errors.New("store down")

func (b *brokenStore) TryReserve(_ context.Context, est uint64) (*budget.Reservation, error) {
	return budgetkit.NewReservation(b, "", est), nil
}
func (b *brokenStore) Record(context.Context, *budget.Reservation, uint64, uint64) error {
	b.records++
	return errStoreDown
}
func (b *brokenStore) Release(context.Context, *budget.Reservation) error {
	b.releases++
	return errStoreDown
}
func (b *brokenStore) Consumed(context.Context) (uint64, error) { return 0, errStoreDown }
func (b *brokenStore) Snapshot(context.Context) (budget.Snapshot, error) {
	return budget.Snapshot{}, errStoreDown
}

func TestRecordFailureKeepsTheResponse(t *testing.T) {
	store := &brokenStore{}
	var errs []error
	var s llmwrap.Spend
	m := llmwrap.Wrap(replyWith("the answer", 5, 5, "stop"), capture(&s),
		middleware.Budget(store, middleware.WithErrorHandler(func(err error) { errs = append(errs, err) })))
	resp, err := m.GenerateContent(context.Background(), hello)
	if err != nil || resp.Choices[0].Content != "the answer" {
		t.Fatalf("resp %v, err %v", resp, err)
	}
	if store.records != 1 || len(errs) != 2 || !errors.Is(errs[0], errStoreDown) || !errors.Is(errs[1], errStoreDown) {
		t.Errorf("records %d, handler got %v", store.records, errs)
	}
	if s.Budget.RemainingKnown || s.Budget.Charged != 10 {
		t.Errorf("spend = %+v", s)
	}
	if !errors.Is(s.Budget.SettleErr, errStoreDown) {
		t.Errorf("Spend.SettleErr = %v, want the store's error", s.Budget.SettleErr)
	}

	// Without a handler the errors are kept in the Spend, the response still returned.
	m = llmwrap.Wrap(replyWith("the answer", 5, 5, "stop"), middleware.Budget(store))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
}

// failOpen grants every hold as a fail-open reservation.
type failOpen struct{ plain }

func (f failOpen) TryReserve(_ context.Context, est uint64) (*budget.Reservation, error) {
	return budgetkit.NewFailOpen(f, est), nil
}
func (f failOpen) Record(context.Context, *budget.Reservation, uint64, uint64) error { return nil }

func TestFailOpenIsReported(t *testing.T) {
	var s llmwrap.Spend
	m := llmwrap.Wrap(replyWith("x", 1, 1, "stop"), capture(&s), middleware.Budget(failOpen{}))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	if !s.Budget.FailOpen {
		t.Errorf("spend = %+v", s)
	}
}

// unavailable cannot be reached at all.
type unavailable struct{ plain }

func (unavailable) TryReserve(context.Context, uint64) (*budget.Reservation, error) {
	return nil, budget.ErrUnavailable
}

func TestUnavailableBudgetFailsClosed(t *testing.T) {
	model := replyWith("x", 1, 1, "stop")
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), middleware.Budget(unavailable{}))
	if _, err := m.GenerateContent(context.Background(), hello); !errors.Is(err, budget.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if model.calls.Load() != 0 || s.Budget.Denied {
		t.Errorf("calls %d, spend %+v", model.calls.Load(), s)
	}
}

func TestRemainingFromSnapshotAndMembers(t *testing.T) {
	// A budget with Snapshot but no Remaining method.
	type snapOnly struct {
		budget.TokenBudget
		budget.Observable
	}
	a := budget.NewAtomic(1000)
	var s llmwrap.Spend
	m := llmwrap.Wrap(replyWith("x", 3, 4, "stop"), capture(&s), middleware.Budget(snapOnly{a, a}, middleware.WithCompletionAllowance(10)))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	if !s.Budget.RemainingKnown || s.Budget.Remaining != 993 {
		t.Errorf("spend = %+v", s)
	}
	// budget.All as the middleware's budget: the smallest member.
	small := budget.NewAtomic(100)
	m = llmwrap.Wrap(replyWith("x", 3, 4, "stop"), capture(&s), middleware.Budget(budget.All(a, small), middleware.WithCompletionAllowance(10)))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	if !s.Budget.RemainingKnown || s.Budget.Remaining != 93 {
		t.Errorf("spend = %+v", s)
	}
	// Neither: unknown.
	m = llmwrap.Wrap(replyWith("x", 3, 4, "stop"), capture(&s), middleware.Budget(plain{budget.NewAtomic(10_000)}))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	if s.Budget.RemainingKnown {
		t.Errorf("spend = %+v", s)
	}
}

// nil messages and options are tolerated; a nil context is Wrap's to replace.
func TestNilMessagesAndContext(t *testing.T) {
	b := budget.NewAtomic(10_000)
	model := replyWith("x", 3, 4, "stop")
	m := llmwrap.Wrap(model, middleware.Budget(b))
	if _, err := m.GenerateContent(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GenerateContent(nil, nil); err != nil { //nolint:staticcheck // a nil context on purpose
		t.Fatal(err)
	}
	wantSettled(t, b, 14)
}

func TestNeverTouchesMetadata(t *testing.T) {
	model := replyWith("x", 3, 4, "stop")
	m := llmwrap.Wrap(model, middleware.Budget(budget.NewAtomic(10_000)))
	if _, err := m.GenerateContent(context.Background(), hello, llms.WithStreamingFunc(func(context.Context, []byte) error { return nil })); err != nil {
		t.Fatal(err)
	}
	if model.lastOptions().Metadata != nil {
		t.Errorf("metadata = %v", model.lastOptions().Metadata)
	}
	meta := map[string]any{"user": "u1"}
	if _, err := m.GenerateContent(context.Background(), hello, llms.WithMetadata(meta)); err != nil {
		t.Fatal(err)
	}
	if got := model.lastOptions().Metadata; len(got) != 1 || got["user"] != "u1" {
		t.Errorf("metadata = %v", got)
	}
}

// An outer middleware that wraps the stream the way otel does (a wrapper in the call's
// options and in the Spend) still sees every chunk; the Spend holds the caller's
// function again after the call.
func TestStreamTapKeepsOuterWrappers(t *testing.T) {
	var outer, user strings.Builder
	wrapStream := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			s := llmwrap.SpendFrom(ctx)
			orig := s.Options.StreamingFunc
			w := func(ctx context.Context, c []byte) error {
				outer.Write(c)
				return orig(ctx, c)
			}
			s.Options.StreamingFunc = w
			defer func() { s.Options.StreamingFunc = orig }()
			return next(ctx, msgs, append(opts[:len(opts):len(opts)], llms.WithStreamingFunc(w))...)
		}
	}
	model := &fakeModel{fn: func(ctx context.Context, _ []llms.MessageContent, o llms.CallOptions) (*llms.ContentResponse, error) {
		for _, c := range []string{"a ", "b ", "c"} {
			if err := o.StreamingFunc(ctx, []byte(c)); err != nil {
				return nil, err
			}
		}
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{{}}}, nil
	}}
	b := budget.NewAtomic(10_000)
	var s llmwrap.Spend
	m := llmwrap.Wrap(model, capture(&s), wrapStream, middleware.Budget(b, middleware.WithEstimator(fixedEstimator(1))))
	userFn := func(_ context.Context, c []byte) error { user.Write(c); return nil }
	if _, err := m.GenerateContent(context.Background(), hello, llms.WithStreamingFunc(userFn)); err != nil {
		t.Fatal(err)
	}
	if outer.String() != "a b c" || user.String() != "a b c" {
		t.Errorf("outer saw %q, caller saw %q", outer.String(), user.String())
	}
	if s.Budget.UsageSource != llmwrap.UsageEstimated || s.Budget.Usage.CompletionTokens != estimate.Text("a b c") {
		t.Errorf("spend = %+v", s)
	}
	if s.Options.StreamingFunc == nil {
		t.Error("the Spend lost the streaming function")
	}
}
