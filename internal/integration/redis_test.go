package integration_test

import (
	"github.com/spendguard/spendguard/internal/testenv"

	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/openai"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
)

// redisClient connects to the test redis-server (SPENDGUARD_REDIS_ADDR, started by
// scripts/unit.sh), or a failure (internal/testenv).
func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	addr := testenv.Need(t, testenv.Redis)
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func redisName(t *testing.T) string {
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	return "middleware-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + hex.EncodeToString(raw[:])
}

// TestRedisBudgetWithRealClient: a shared Redis budget through the middleware and
// langchaingo's real openai client: exact charges, cancelled calls give their holds
// back (the settle runs on a context that is not cancelled), the remaining comes from
// what the settle script reported.
func TestRedisBudgetWithRealClient(t *testing.T) {
	rdb := redisClient(t)
	b, err := redisbudget.New(rdb, redisName(t), 100_000)
	if err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	arrived := make(chan struct{}, 1)
	var mu sync.Mutex
	blocking := false
	srv := providertest.NewOpenAI(func(providertest.Request) providertest.Reply {
		mu.Lock()
		wait := blocking
		mu.Unlock()
		if wait {
			arrived <- struct{}{}
			<-block
		}
		return providertest.Reply{Text: "ok", Usage: &providertest.Usage{Prompt: 70, Completion: 30}}
	})
	defer srv.Close()
	defer close(block)
	llm, err := srv.OpenAIClient(openai.WithModel("gpt-test"))
	if err != nil {
		t.Fatal(err)
	}
	var s llmwrap.Spend
	m := llmwrap.Wrap(llm, capture(&s), middleware.Budget(b))
	for i := 0; i < 3; i++ {
		if _, err := m.GenerateContent(context.Background(), hello); err != nil {
			t.Fatal(err)
		}
	}
	wantSettled(t, b, 300)
	if !s.Budget.RemainingKnown || s.Budget.Remaining != 100_000-300 || s.Budget.Charged != 100 {
		t.Errorf("spend = %+v", s)
	}

	mu.Lock()
	blocking = true
	mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	if _, err := m.GenerateContent(ctx, hello); err == nil { // langchaingo's openai says "request cancelled"
		t.Fatal("no error")
	}
	// Cancelled while the provider had it: charged its reservation, through Redis,
	// after the caller gave up.
	if s.Budget.UsageSource != llmwrap.UsageReservation {
		t.Errorf("charged as %q", s.Budget.UsageSource)
	}
	wantSettled(t, b, 300+s.Budget.Reserved)
}

// countingHook counts the commands a client sends.
type countingHook struct {
	mu   sync.Mutex
	cmds []string
}

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.cmds = append(h.cmds, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *countingHook) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.cmds
	h.cmds = nil
	return c
}

// TestRedisBudgetCallIsTwoRoundTrips: a call through the middleware costs the Redis
// budget one reserve script and one settle script, nothing more: what is left comes
// back with the settle (budgetkit.RemainingReader), not from a Snapshot round trip.
func TestRedisBudgetCallIsTwoRoundTrips(t *testing.T) {
	addr := redisClient(t).Options().Addr
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	b, err := redisbudget.New(rdb, redisName(t), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var s llmwrap.Spend
	m := llmwrap.Wrap(replyWith("ok", 60, 40, "stop"), capture(&s),
		middleware.Budget(b, middleware.WithEstimator(fixedEstimator(50)), middleware.WithCompletionAllowance(100)))
	if _, err := m.GenerateContent(context.Background(), hello); err != nil { // loads the scripts
		t.Fatal(err)
	}
	hook := &countingHook{}
	rdb.AddHook(hook)
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	if got := hook.take(); len(got) != 2 || got[0] != "evalsha" || got[1] != "evalsha" {
		t.Errorf("commands for one call: %v, want a reserve and a settle script", got)
	}
	if !s.Budget.RemainingKnown || s.Budget.Remaining != 10_000-200 {
		t.Errorf("remaining %d (known %v), want %d", s.Budget.Remaining, s.Budget.RemainingKnown, 10_000-200)
	}
	// Another process's spend shows in this budget's Remaining after its next call.
	other, err := redisbudget.New(rdb, b.Name(), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	r, err := other.TryReserve(context.Background(), 500)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Record(context.Background(), r, 500, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GenerateContent(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	if want := uint64(10_000 - 300 - 500); s.Budget.Remaining != want {
		t.Errorf("remaining %d after another process spent 500, want %d", s.Budget.Remaining, want)
	}
}

// TestRedisDownDuringTheCall: the store goes away while the model answers. The
// response is still returned and the failed Record reaches the error handler.
func TestRedisDownDuringTheCall(t *testing.T) {
	addr := redisClient(t).Options().Addr
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	b, err := redisbudget.New(rdb, redisName(t), 100_000)
	if err != nil {
		t.Fatal(err)
	}
	model := &fakeModel{fn: func(context.Context, []llms.MessageContent, llms.CallOptions) (*llms.ContentResponse, error) {
		_ = rdb.Close() // Redis is gone before the settle
		return response("the answer", 5, 5, "stop"), nil
	}}
	var errs []error
	m := llmwrap.Wrap(model, middleware.Budget(b, middleware.WithErrorHandler(func(err error) { errs = append(errs, err) })))
	resp, err := m.GenerateContent(context.Background(), hello)
	if err != nil || resp.Choices[0].Content != "the answer" {
		t.Fatalf("resp %v, err %v", resp, err)
	}
	if len(errs) == 0 || !errors.Is(errs[0], budget.ErrUnavailable) {
		t.Errorf("error handler got %v", errs)
	}
}

// TestRedisFallbackConcurrentAtTheEdge: two "processes" (each its own client, budget
// value and middleware) fall back and are denied concurrently on one shared money
// budget in Redis. The server never reports more than the estimate, so the budget must
// end at or under its capacity with nothing held, the calls' charges add up to what it
// consumed, and each alert threshold reaches exactly one call of the fleet.
func TestRedisFallbackConcurrentAtTheEdge(t *testing.T) {
	rdb := redisClient(t)
	name := redisName(t)
	f := newFleet(t, "big", "mid", "cheap")
	var mu sync.Mutex
	var charged uint64
	alerts := map[float64]int{}
	var models []llms.Model
	var shared *redisbudget.Budget
	for range 2 {
		c := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr})
		t.Cleanup(func() { _ = c.Close() })
		b, err := redisbudget.New(c, name, 9000, redisbudget.WithAlerts(nil, 0.5, 0.9))
		if err != nil {
			t.Fatal(err)
		}
		shared = b
		models = append(models, llmwrap.Wrap(f.clients["big"], llmwrap.WithModelName("big"),
			llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) {
				mu.Lock()
				defer mu.Unlock()
				charged += s.Budget.Charged
				for _, a := range s.Budget.Alerts {
					alerts[a.Fraction]++
				}
			}),
			middleware.Budget(b, middleware.WithPrices(testPrices), middleware.WithEstimator(fixedEstimator(100)),
				middleware.WithCompletionAllowance(100), middleware.WithFallback(f.alts("mid", "cheap")...))))
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 12 {
				_, err := models[i%2].GenerateContent(context.Background(), hello)
				if err != nil && !errors.Is(err, budget.ErrDenied) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	snap, err := shared.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Held != 0 || snap.Consumed > 9000 || snap.Consumed != charged {
		t.Fatalf("consumed %d held %d of 9000; the calls were charged %d", snap.Consumed, snap.Held, charged)
	}
	t.Logf("consumed %d of 9000, alerts %v", snap.Consumed, alerts)
	if snap.Consumed >= 4500 && alerts[0.5] != 1 || snap.Consumed >= 8100 && alerts[0.9] != 1 || len(alerts) > 2 {
		t.Errorf("alerts on the calls %v after consuming %d: want each crossed threshold once", alerts, snap.Consumed)
	}
}
