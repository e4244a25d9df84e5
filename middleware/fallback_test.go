package middleware_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/openai"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/internal/testseed"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
	"github.com/spendguard/spendguard/price"
)

// Made-up prices (micro-units per million tokens). With a prompt estimate of 100 and
// an allowance of 100, a call is estimated at 2000 on big, 1000 on mid, 200 on cheap;
// the server reports 100 + 50 tokens, charged 1500, 750 and 150.
var testPrices = price.Table{
	"big":   {Rates: price.Rates{Input: 10_000_000, Output: 10_000_000}},
	"mid":   {Rates: price.Rates{Input: 5_000_000, Output: 5_000_000}},
	"cheap": {Rates: price.Rates{Input: 1_000_000, Output: 1_000_000}},
	"free":  {},
}

// fleet is one scripted OpenAI server answering every model under its own name, and a
// real langchaingo client per model.
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

// models lists the models the server was asked for, in order.
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

// wrapped is the primary ("big") through Wrap, a Spend capture and Budget with the
// test prices, a prompt estimate of 100 and an allowance of 100.
func (f *fleet) wrapped(b budget.TokenBudget, spend *llmwrap.Spend, opts ...middleware.Option) llms.Model {
	base := []middleware.Option{
		middleware.WithPrices(testPrices),
		middleware.WithEstimator(fixedEstimator(100)),
		middleware.WithCompletionAllowance(100),
	}
	return llmwrap.Wrap(f.clients["big"], llmwrap.WithModelName("big"), capture(spend),
		middleware.Budget(b, append(base, opts...)...))
}

func TestFallbackGoesToTheFirstAlternativeThatFits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		capacity  uint64
		want      string // model called; "" = denied
		charged   uint64
		wantModel []string
	}{
		{"primary fits", 2000, "big", 1500, []string{"big"}},
		{"first alternative", 1999, "mid", 750, []string{"mid"}},
		{"second alternative", 999, "cheap", 150, []string{"cheap"}},
		{"nothing fits", 199, "", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t, "big", "mid", "cheap")
			b := budget.NewAtomic(tc.capacity, budget.WithName("money"))
			var s llmwrap.Spend
			m := f.wrapped(b, &s, middleware.WithFallback(f.alts("mid", "cheap")...))
			resp, err := m.GenerateContent(context.Background(), hello)
			assert.Equal(t, tc.wantModel, f.models())
			if tc.want == "" {
				var d *budget.DeniedError
				require.ErrorAs(t, err, &d)
				assert.Equal(t, uint64(200), d.Requested, "the last alternative's denial")
				assert.Equal(t, "cheap", s.Model, "the record describes the last model tried")
				require.NotNil(t, s.Fallback)
				assert.Equal(t, "big", s.Fallback.From)
				assert.True(t, s.Budget.Denied)
				assert.False(t, s.Sent)
				wantSettled(t, b, 0)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "answered by "+tc.want, resp.Choices[0].Content)
			assert.Equal(t, tc.want, s.Model)
			assert.Equal(t, "*openai.LLM", s.ModelType)
			if tc.want == "big" {
				assert.Nil(t, s.Fallback)
			} else {
				require.NotNil(t, s.Fallback)
				assert.Equal(t, "big", s.Fallback.From)
				assert.Equal(t, uint64(2000), s.Fallback.FromEstimate)
			}
			// Wrap's innermost step recorded the fallback call as it records the primary.
			assert.True(t, s.Sent)
			assert.Equal(t, llmwrap.UsageReported, s.Budget.UsageSource)
			assert.Equal(t, llmwrap.Usage{PromptTokens: 100, CompletionTokens: 50}, s.Usage)
			assert.Equal(t, tc.charged, s.Budget.Charged)
			wantSettled(t, b, tc.charged)
		})
	}
}

func TestFallbackRenamesTheModelTheOptionsName(t *testing.T) {
	f := newFleet(t, "big", "cheap")
	b := budget.NewAtomic(500)
	var s llmwrap.Spend
	m := f.wrapped(b, &s, middleware.WithFallback(f.alts("cheap")...))
	_, err := m.GenerateContent(context.Background(), hello, llms.WithModel("big"))
	require.NoError(t, err)
	assert.Equal(t, []string{"cheap"}, f.models(), "the alternative is asked for by its own name, not the primary's")
	assert.Equal(t, "big", s.Options.Model, "the caller's options are not changed")
}

func TestFallbackAllOrNothingWithContextBudgets(t *testing.T) {
	f := newFleet(t, "big", "cheap")
	tenant := budget.NewAtomic(1_000_000, budget.WithName("tenant"))
	run := budget.NewAtomic(500, budget.WithName("run"))
	ctx := budget.NewContext(context.Background(), run)
	var s llmwrap.Spend
	m := f.wrapped(tenant, &s, middleware.WithFallback(f.alts("cheap")...))

	// The run's budget denies big, so both budgets are reserved on cheap.
	_, err := m.GenerateContent(ctx, hello)
	require.NoError(t, err)
	assert.Equal(t, "cheap", s.Model)
	wantSettled(t, tenant, 150)
	wantSettled(t, run, 150)

	// Now the run has 350 left: cheap (200) still fits, twice; then nothing does,
	// and neither budget keeps a hold or a charge from the denied call.
	for range 2 {
		_, err = m.GenerateContent(ctx, hello)
		require.NoError(t, err)
	}
	wantSettled(t, run, 450)
	_, err = m.GenerateContent(ctx, hello)
	var d *budget.DeniedError
	require.ErrorAs(t, err, &d)
	assert.Equal(t, "run", d.Budget)
	wantSettled(t, tenant, 450)
	wantSettled(t, run, 450)
	assert.Equal(t, []string{"cheap", "cheap", "cheap"}, f.models())
}

func TestFallbackUnderHardCap(t *testing.T) {
	f := newFleet(t, "big", "cheap")
	// 150 left: big's minimum (100 prompt + 16 completion at 10/token = 1160) does
	// not fit; cheap's range [116, 200] is granted 150, i.e. 50 completion tokens.
	b := budget.NewAtomic(150)
	var s llmwrap.Spend
	m := f.wrapped(b, &s, middleware.HardCap(), middleware.WithFallback(f.alts("cheap")...))
	_, err := m.GenerateContent(context.Background(), hello)
	require.NoError(t, err)
	reqs := f.srv.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "cheap", reqs[0].Model)
	assert.Equal(t, 50, reqs[0].MaxTokens, "the completion part of the grant, priced as cheap")
	assert.Equal(t, 50, s.MaxTokens)
	assert.Equal(t, uint64(150), s.Budget.Reserved)
	wantSettled(t, b, 150)
	assert.LessOrEqual(t, snapshot(t, b).Consumed, snapshot(t, b).Capacity, "a hard cap never overspends with exact prompt estimates")
}

func TestFallbackModelErrorIsReturnedNotRetried(t *testing.T) {
	f := newFleet(t, "big", "mid", "cheap")
	f.failing.Store("mid", true)
	b := budget.NewAtomic(1500)
	var s llmwrap.Spend
	m := f.wrapped(b, &s, middleware.WithFallback(f.alts("mid", "cheap")...))
	_, err := m.GenerateContent(context.Background(), hello)
	require.Error(t, err)
	assert.False(t, errors.Is(err, budget.ErrDenied))
	assert.Equal(t, []string{"mid"}, f.models(), "neither the primary nor a further alternative is tried")
	assert.Equal(t, "mid", s.Model)
	assert.True(t, s.Sent)
	wantSettled(t, b, 0) // released
}

func TestFallbackDoesNotHideABudgetFailure(t *testing.T) {
	f := newFleet(t, "big", "cheap")
	var s llmwrap.Spend
	m := f.wrapped(failingBudget{}, &s, middleware.WithFallback(f.alts("cheap")...))
	_, err := m.GenerateContent(context.Background(), hello)
	require.ErrorIs(t, err, budget.ErrUnavailable)
	assert.Empty(t, f.models())
	assert.Nil(t, s.Fallback)
}

// failingBudget's store is down.
type failingBudget struct{}

func (failingBudget) TryReserve(context.Context, uint64) (*budget.Reservation, error) {
	return nil, budget.ErrUnavailable
}
func (failingBudget) Record(context.Context, *budget.Reservation, uint64, uint64) error { return nil }
func (failingBudget) Release(context.Context, *budget.Reservation) error                { return nil }

func TestFallbackToAFreeModel(t *testing.T) {
	f := newFleet(t, "big", "free")
	b := budget.NewAtomic(1000)
	var s llmwrap.Spend
	m := f.wrapped(b, &s, middleware.WithFallback(f.alts("free")...))
	// Spend all but 1 of the budget by hand: big (2000) cannot fit.
	r, err := b.TryReserve(context.Background(), 999)
	require.NoError(t, err)
	require.NoError(t, b.Record(context.Background(), r, 999, 0))

	_, err = m.GenerateContent(context.Background(), hello)
	require.NoError(t, err, "a model priced at 0 fits while anything is left")
	assert.Equal(t, "free", s.Model)
	assert.Equal(t, uint64(0), s.Budget.Estimate)
	assert.Equal(t, uint64(0), s.Budget.Charged)
	wantSettled(t, b, 999)

	r, err = b.TryReserve(context.Background(), 1)
	require.NoError(t, err)
	require.NoError(t, b.Record(context.Background(), r, 1, 0))
	_, err = m.GenerateContent(context.Background(), hello)
	require.ErrorIs(t, err, budget.ErrDenied, "a spent budget denies even a free call")
	assert.Equal(t, []string{"free"}, f.models())
}

func TestFallbackBelowPrefersAlternatives(t *testing.T) {
	f := newFleet(t, "big", "cheap")
	b := budget.NewAtomic(10_000)
	var s llmwrap.Spend
	m := f.wrapped(b, &s, middleware.WithFallback(f.alts("cheap")...), middleware.FallbackBelow(0.5))
	ctx := context.Background()
	var got []string
	for range 6 {
		_, err := m.GenerateContent(ctx, hello)
		require.NoError(t, err)
		got = append(got, s.Model)
	}
	// big (estimate 2000, charged 1500) is kept while it leaves at least 5000: after
	// 0, 1500 and 3000 consumed; at 4500 it would leave 3500, so cheap is preferred.
	assert.Equal(t, []string{"big", "big", "big", "cheap", "cheap", "cheap"}, got)

	// When no alternative fits but the primary does, the primary is used after all.
	f2 := newFleet(t, "big", "mid")
	b2 := budget.NewAtomic(2000)
	m2 := f2.wrapped(b2, &s, middleware.WithFallback(f2.alts("mid")...), middleware.FallbackBelow(0.9))
	// mid's 1000 would leave 1000 < 1800 too, but it fits, so mid is chosen.
	_, err := m2.GenerateContent(ctx, hello)
	require.NoError(t, err)
	assert.Equal(t, "mid", s.Model)

	// When no alternative fits, the primary is used after all: here the alternative
	// costs more than the primary, so it cannot fit where the primary leaves too little.
	f3 := newFleet(t, "cheap", "big")
	b3 := budget.NewAtomic(1000)
	m3 := llmwrap.Wrap(f3.clients["cheap"], llmwrap.WithModelName("cheap"), capture(&s),
		middleware.Budget(b3, middleware.WithPrices(testPrices), middleware.WithEstimator(fixedEstimator(100)),
			middleware.WithCompletionAllowance(100), middleware.WithFallback(f3.alts("big")...), middleware.FallbackBelow(0.9)))
	_, err = m3.GenerateContent(ctx, hello)
	require.NoError(t, err)
	assert.Equal(t, "cheap", s.Model)
	assert.Nil(t, s.Fallback)
	assert.Equal(t, []string{"cheap"}, f3.models())
	wantSettled(t, b3, 150)
}

func TestFallbackBadOptions(t *testing.T) {
	f := newFleet(t, "big", "cheap", "unpriced")
	ctx := context.Background()
	var s llmwrap.Spend
	for _, tc := range []struct {
		name string
		opts []middleware.Option
		want string
	}{
		{"nil model", []middleware.Option{middleware.WithFallback(middleware.Alternative{Name: "cheap"})}, "alternative 1 (\"cheap\") has a nil Model"},
		{"no name", []middleware.Option{middleware.WithFallback(middleware.Alternative{Model: f.clients["cheap"]})}, "has no Name"},
		{"unpriced alternative", []middleware.Option{middleware.WithFallback(f.alts("unpriced")...)}, "not in the WithPrices table"},
	} {
		t.Run(tc.name, func(t *testing.T) { // refused when the middleware is built
			b := budget.NewAtomic(10_000)
			defer func() {
				r := recover()
				err, _ := r.(error)
				require.Error(t, err, "Budget did not panic with an error")
				assert.Contains(t, err.Error(), tc.want)
				wantSettled(t, b, 0)
			}()
			f.wrapped(b, &s, tc.opts...)
		})
	}
	// An unpriced primary is refused with ErrUnpriced, before anything is reserved.
	b := budget.NewAtomic(10_000)
	m := llmwrap.Wrap(f.clients["unpriced"], llmwrap.WithModelName("unpriced"),
		middleware.Budget(b, middleware.WithPrices(testPrices)))
	_, err := m.GenerateContent(ctx, hello)
	require.ErrorIs(t, err, middleware.ErrUnpriced)
	assert.Contains(t, err.Error(), `"unpriced"`)
	// ... also with alternatives that would fit, and with FallbackBelow.
	for _, below := range []float64{0, 0.5} {
		m = llmwrap.Wrap(f.clients["unpriced"], llmwrap.WithModelName("unpriced"),
			middleware.Budget(b, middleware.WithPrices(testPrices), middleware.WithFallback(f.alts("cheap")...), middleware.FallbackBelow(below)))
		_, err = m.GenerateContent(ctx, hello)
		require.ErrorIs(t, err, middleware.ErrUnpriced)
	}
	assert.Empty(t, f.models())
	wantSettled(t, b, 0)
}

// TestFallbackConcurrentAtTheEdge runs many calls at once against a budget that only a
// few fit in. The server reports usage no larger than the estimate, so the documented
// bound (overspend ≤ the admitted calls' usage beyond their estimates) is 0: the
// budget must never go past its capacity, and every charge is the price of the model
// that answered.
func TestFallbackConcurrentAtTheEdge(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.Get(t), 0))
	for round := range 5 {
		f := newFleet(t, "big", "mid", "cheap")
		capacity := 3000 + rng.Uint64N(7000)
		b := budget.NewAtomic(capacity, budget.WithName("money"))
		run := budget.NewAtomic(capacity/2+rng.Uint64N(capacity), budget.WithName("run"))
		ctx := budget.NewContext(context.Background(), run)
		var charged, denied atomic.Uint64
		byModel := sync.Map{}
		m := llmwrap.Wrap(f.clients["big"], llmwrap.WithModelName("big"),
			llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) {
				if s.Budget.Denied {
					denied.Add(1)
					return
				}
				charged.Add(s.Budget.Charged)
				n, _ := byModel.LoadOrStore(s.Model, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}),
			middleware.Budget(b, middleware.WithPrices(testPrices), middleware.WithEstimator(fixedEstimator(100)),
				middleware.WithCompletionAllowance(100), middleware.WithFallback(f.alts("mid", "cheap")...)))
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					_, err := m.GenerateContent(ctx, hello)
					if err != nil && !errors.Is(err, budget.ErrDenied) {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		for _, bud := range []*budget.Atomic{b, run} {
			snap := snapshot(t, bud)
			assert.Zero(t, snap.Held, "round %d %s", round, snap.Name)
			assert.LessOrEqual(t, snap.Consumed, snap.Capacity, "round %d: %s overspent", round, snap.Name)
			assert.Equal(t, charged.Load(), snap.Consumed, "round %d %s: the Spends' charges add up", round, snap.Name)
		}
		want := uint64(0)
		byModel.Range(func(k, v any) bool {
			want += map[string]uint64{"big": 1500, "mid": 750, "cheap": 150}[k.(string)] * uint64(v.(*atomic.Int64).Load())
			return true
		})
		assert.Equal(t, want, charged.Load(), "round %d: each call charged at its model's price", round)
		assert.Equal(t, uint64(80), denied.Load()+uint64(len(f.srv.Requests())), "round %d: every call sent once or denied", round)
	}
}

// TestAlertsReachTheCallThatCrossedThem: the thresholds a call's settle crosses, in
// any budget taking part, are on that call's record, and on no other call's.
func TestAlertsReachTheCallThatCrossedThem(t *testing.T) {
	f := newFleet(t, "cheap")
	var fired []float64
	team := budget.NewAtomic(1000, budget.WithName("team"), budget.WithAlerts(func(a budget.Alert) { fired = append(fired, a.Fraction) }, 0.25, 0.5))
	run := budget.NewAtomic(10_000, budget.WithName("run"), budget.WithAlerts(nil, 0.02))
	ctx := budget.NewContext(context.Background(), run)
	var s llmwrap.Spend
	m := llmwrap.Wrap(f.clients["cheap"], llmwrap.WithModelName("cheap"), capture(&s),
		middleware.Budget(team, middleware.WithPrices(testPrices), middleware.WithEstimator(fixedEstimator(100)), middleware.WithCompletionAllowance(100)))
	var got [][]budget.Alert
	for range 4 { // 150 each: 150, 300, 450, 600
		_, err := m.GenerateContent(ctx, hello)
		require.NoError(t, err)
		got = append(got, s.Budget.Alerts)
	}
	type alert struct {
		budget   string
		fraction float64
		consumed uint64
		capacity uint64
	}
	var short [][]alert
	for _, as := range got {
		var row []alert
		for _, a := range as {
			row = append(row, alert{a.Snapshot.Name, a.Fraction, a.Snapshot.Consumed, a.Snapshot.Capacity})
		}
		short = append(short, row)
	}
	assert.Equal(t, [][]alert{
		nil,
		{{"team", 0.25, 300, 1000}, {"run", 0.02, 300, 10_000}},
		nil,
		{{"team", 0.5, 600, 1000}},
	}, short)
	assert.Equal(t, []float64{0.25, 0.5}, fired)
}

// TestFallbackLearnsPerModel: the learned completion allowance of the model called is
// its own; calls that fell back teach the primary nothing.
func TestFallbackLearnsPerModel(t *testing.T) {
	f := newFleet(t, "big", "cheap")
	b := budget.NewAtomic(10_000)
	var s llmwrap.Spend
	m := llmwrap.Wrap(f.clients["big"], llmwrap.WithModelName("big"), capture(&s),
		middleware.Budget(b, middleware.WithPrices(testPrices), middleware.WithEstimator(fixedEstimator(100)),
			middleware.WithFallback(f.alts("cheap")...)))
	for range 20 {
		_, err := m.GenerateContent(context.Background(), hello)
		require.NoError(t, err)
		require.Equal(t, "cheap", s.Model) // big's default allowance (1024) never fits
	}
	assert.Equal(t, uint64(50), s.Budget.CompletionAllowance, "cheap learned its completions of 50")
	big := testPrices["big"].Cost(llmwrap.Usage{PromptTokens: 100, CompletionTokens: middleware.DefaultCompletionAllowance})
	assert.Equal(t, big, s.Fallback.FromEstimate, "big is still estimated with the default allowance")
}

// valueBudget is a budget of an uncomparable type used by value: the middleware must
// not compare it with ==, which would panic.
type valueBudget struct {
	b    *budget.Atomic
	tags []string // makes the type uncomparable
}

func (v valueBudget) TryReserve(ctx context.Context, n uint64) (*budget.Reservation, error) {
	return v.b.TryReserve(ctx, n)
}
func (v valueBudget) Record(ctx context.Context, r *budget.Reservation, p, c uint64) error {
	return v.b.Record(ctx, r, p, c)
}
func (v valueBudget) Release(ctx context.Context, r *budget.Reservation) error {
	return v.b.Release(ctx, r)
}

func TestUncomparableBudgetDoesNotPanic(t *testing.T) {
	f := newFleet(t, "cheap")
	own := valueBudget{b: budget.NewAtomic(10_000), tags: []string{"own"}}
	inCtx := valueBudget{b: budget.NewAtomic(10_000), tags: []string{"ctx"}}
	m := llmwrap.Wrap(f.clients["cheap"], middleware.Budget(own, middleware.WithCompletionAllowance(10)))
	for _, ctx := range []context.Context{context.Background(), budget.NewContext(context.Background(), inCtx)} {
		_, err := m.GenerateContent(ctx, hello)
		require.NoError(t, err)
	}
	m2 := llmwrap.Wrap(f.clients["cheap"], middleware.Budget(nil, middleware.WithCompletionAllowance(10)))
	_, err := m2.GenerateContent(budget.NewContext(context.Background(), inCtx), hello)
	require.NoError(t, err)
	wantSettled(t, own.b, 300)
	wantSettled(t, inCtx.b, 300)
}

// TestFallbackEstimatesAsTheAlternative: a call that falls back to another provider's
// model is estimated under that provider's rules (its own prompt framing) and charged
// what that provider reported; the learned state (allowance and calibration) is the
// alternative's own.
func TestFallbackEstimatesAsTheAlternative(t *testing.T) {
	reply := providertest.Reply{Text: "ok", Usage: &providertest.Usage{Prompt: 120, Completion: 30}}
	oa := providertest.NewOpenAI(providertest.Fixed(reply))
	defer oa.Close()
	an := providertest.NewAnthropic(providertest.Fixed(reply))
	defer an.Close()
	primary, err := oa.OpenAIClient(openai.WithModel("gpt-big"))
	require.NoError(t, err)
	claude, err := an.AnthropicClient(anthropic.WithModel("claude-small"))
	require.NoError(t, err)
	prices := price.Table{
		"gpt-big":      {Rates: price.Rates{Input: 100_000_000, Output: 100_000_000}},
		"claude-small": {Rates: price.Rates{Input: 1_000_000, Output: 1_000_000}},
	}
	tools := llms.WithTools([]llms.Tool{weatherTool})

	// What each provider's rules make of the same prompt, without a fallback.
	rawOn := func(m llms.Model, name string) uint64 {
		var s llmwrap.Spend
		w := llmwrap.Wrap(m, llmwrap.WithModelName(name), capture(&s), middleware.Budget(budget.NewAtomic(1<<40), middleware.WithoutCalibration()))
		_, err := w.GenerateContent(context.Background(), hello, tools)
		require.NoError(t, err)
		return s.Budget.PromptEstimateRaw
	}
	rawOpenAI, rawAnthropic := rawOn(primary, "gpt-big"), rawOn(claude, "claude-small")
	require.NotEqual(t, rawOpenAI, rawAnthropic, "the providers' rules differ (Anthropic's tool-use system prompt)")

	var s llmwrap.Spend
	m := llmwrap.Wrap(primary, llmwrap.WithModelName("gpt-big"), capture(&s),
		middleware.Budget(budget.NewAtomic(10_000), middleware.WithPrices(prices), middleware.WithCompletionAllowance(100),
			middleware.WithFallback(middleware.Alternative{Name: "claude-small", Model: claude})))
	for i := range 5 {
		_, err := m.GenerateContent(context.Background(), hello, tools)
		require.NoError(t, err)
		require.Equal(t, "claude-small", s.Model)
		assert.Equal(t, "*anthropic.LLM", s.ModelType)
		assert.Equal(t, rawAnthropic, s.Budget.PromptEstimateRaw, "call %d: estimated under Anthropic's rules", i+1)
		assert.Equal(t, uint64(150), s.Budget.Charged, "call %d: 120 + 30 tokens at 1 micro-unit each", i+1)
		if i >= 4 { // calibrated on claude-small's own billed prompts, not on gpt-big's
			assert.Equal(t, uint64(120), s.Budget.PromptEstimate, "call %d", i+1)
		}
	}
	assert.Len(t, oa.Requests(), 1, "only rawOn's call: the primary never fitted")
	assert.Len(t, an.Requests(), 1+5)
}
