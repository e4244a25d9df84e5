package middleware_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/testseed"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
)

type planKey struct{}

// plan is what the fake model does on one call.
type plan struct {
	kind               int // see the switch in plannedModel
	prompt, completion int
	stop               string
}

const (
	planReported = iota
	planNoUsage
	planError
	planErrorWithUsage
	planPanic
	planCancel
	planStream
	planKinds
)

var errPlanned = errors.New("planned provider error")

func plannedModel() *fakeModel {
	return &fakeModel{fn: func(ctx context.Context, _ []llms.MessageContent, o llms.CallOptions) (*llms.ContentResponse, error) {
		p := ctx.Value(planKey{}).(*plan)
		completion := p.completion
		if o.MaxTokens > 0 && completion > o.MaxTokens {
			completion = o.MaxTokens
		}
		switch p.kind {
		case planNoUsage:
			return response("some words here", 0, 0, p.stop), nil
		case planError:
			return nil, errPlanned
		case planErrorWithUsage:
			return response("cut", p.prompt, completion, "length"), errPlanned
		case planPanic:
			panic(p)
		case planCancel:
			cancel := ctx.Value(cancelKey{}).(context.CancelFunc)
			cancel()
			return nil, context.Canceled
		case planStream:
			if o.StreamingFunc != nil {
				if err := o.StreamingFunc(ctx, []byte("streamed ")); err != nil {
					return nil, err
				}
			}
			return response("", 0, 0, p.stop), nil
		}
		return response("ok", p.prompt, completion, p.stop), nil
	}}
}

type cancelKey struct{}

// TestPropertyConcurrentCallsAccountExactly: goroutines call through the middleware
// with random usage, errors, panics, cancellations and streams; afterwards every
// budget's Consumed is the sum of what the calls were charged and nothing is held.
func TestPropertyConcurrentCallsAccountExactly(t *testing.T) {
	seed := testseed.Get(t)
	for _, variant := range []string{"atomic", "interface", "context", "hardcap", "cost"} {
		t.Run(variant, func(t *testing.T) {
			runProperty(t, seed, variant)
		})
	}
}

func runProperty(t *testing.T, seed uint64, variant string) {
	const goroutines, calls = 8, 300
	global := budget.NewAtomic(400_000, budget.WithName("global"))
	var mwBudget budget.TokenBudget = global
	var observables []budget.Observable
	opts := []middleware.Option{middleware.WithEstimator(fixedEstimator(20))}
	switch variant {
	case "interface":
		ob := &observed{Atomic: global}
		mwBudget = ob
	case "hardcap":
		opts = append(opts, middleware.HardCap())
	case "cost":
		opts = append(opts, middleware.WithCost(func(_ string, u llmwrap.Usage) uint64 { return u.PromptTokens + 2*u.CompletionTokens }))
	}
	observables = append(observables, global)
	var run *budget.Atomic
	if variant == "context" {
		run = budget.NewAtomic(150_000, budget.WithName("run"))
		observables = append(observables, run)
	}
	var charged, denied atomic.Uint64
	model := plannedModel()

	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			var s llmwrap.Spend
			mine := append([]middleware.Option(nil), opts...)
			m := llmwrap.Wrap(model, capture(&s), middleware.Budget(mwBudget, mine...))
			for i := 0; i < calls; i++ {
				p := &plan{kind: rng.IntN(planKinds), prompt: rng.IntN(200), completion: rng.IntN(2000)}
				if rng.IntN(4) == 0 {
					p.stop = "length"
				}
				ctx, cancel := context.WithCancel(context.Background())
				ctx = context.WithValue(ctx, planKey{}, p)
				ctx = context.WithValue(ctx, cancelKey{}, context.CancelFunc(cancel))
				if run != nil {
					ctx = budget.NewContext(ctx, run)
				}
				var callOpts []llms.CallOption
				if rng.IntN(3) == 0 {
					callOpts = append(callOpts, llms.WithMaxTokens(1+rng.IntN(1500)))
				}
				if p.kind == planStream || rng.IntN(5) == 0 {
					callOpts = append(callOpts, llms.WithStreamingFunc(func(context.Context, []byte) error { return nil }))
				}
				s = llmwrap.Spend{}
				func() {
					defer func() {
						if r := recover(); r != nil && r != any(p) {
							panic(r)
						}
					}()
					_, _ = m.GenerateContent(ctx, hello, callOpts...)
				}()
				cancel()
				if s.Budget == nil { // the model panicked: the capture never ran, the hold went back
					continue
				}
				charged.Add(s.Budget.Charged)
				if s.Budget.Denied {
					denied.Add(1)
				}
				if s.Budget.Charged > 0 && s.Budget.Denied {
					t.Errorf("seed %d: a denied call was charged: %+v", seed, s)
				}
			}
		}(g)
	}
	wg.Wait()
	if denied.Load() == 0 || charged.Load() == 0 {
		t.Errorf("seed %d: %d denials, %d charged: the run did not exhaust the budget", seed, denied.Load(), charged.Load())
	}
	for _, b := range observables {
		snap := snapshot(t, b)
		if snap.Held != 0 || snap.Consumed != charged.Load() {
			t.Errorf("seed %d: budget %q consumed %d held %d, sum of charges %d", seed, snap.Name, snap.Consumed, snap.Held, charged.Load())
		}
	}
}
