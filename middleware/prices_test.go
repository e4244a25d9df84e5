package middleware_test

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/spendguard/spendguard/internal/testseed"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
)

// exactCost is Price.Cost computed with big integers: ceil(Σ tokens × price / 10^6),
// saturated at MaxUint64.
func exactCost(p middleware.Price, u llmwrap.Usage) uint64 {
	cachedPrice := p.CachedInputPerMTok
	if cachedPrice == 0 {
		cachedPrice = p.InputPerMTok
	}
	cached := min(u.CachedPromptTokens, u.PromptTokens)
	mul := func(a, b uint64) *big.Int {
		return new(big.Int).Mul(new(big.Int).SetUint64(a), new(big.Int).SetUint64(b))
	}
	sum := mul(u.PromptTokens-cached, p.InputPerMTok)
	sum.Add(sum, mul(cached, cachedPrice))
	sum.Add(sum, mul(u.CompletionTokens, p.OutputPerMTok))
	q, r := new(big.Int).QuoRem(sum, big.NewInt(1e6), new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsUint64() {
		return math.MaxUint64
	}
	return q.Uint64()
}

// TestPriceCostProperties: Cost is exact (against big integers), and non-decreasing in
// every token count, as WithCost and HardCap's search require.
func TestPriceCostProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(testseed.Get(t), 1))
	draw := func() uint64 {
		switch rng.IntN(4) {
		case 0:
			return rng.Uint64N(10)
		case 1:
			return rng.Uint64N(1 << 20)
		case 2:
			return rng.Uint64N(1 << 40)
		}
		return rng.Uint64()
	}
	for i := 0; i < 20_000; i++ {
		p := middleware.Price{InputPerMTok: draw(), CachedInputPerMTok: draw(), OutputPerMTok: draw()}
		u := llmwrap.Usage{PromptTokens: draw(), CachedPromptTokens: draw(), CompletionTokens: draw()}
		got := p.Cost(u)
		if want := exactCost(p, u); got != want {
			t.Fatalf("%+v.Cost(%+v) = %d, want %d", p, u, got, want)
		}
		more := u
		switch rng.IntN(3) {
		case 0:
			more.PromptTokens += min(draw(), math.MaxUint64-more.PromptTokens)
		case 1:
			more.CompletionTokens += min(draw(), math.MaxUint64-more.CompletionTokens)
		case 2: // more of the prompt uncached
			more.CachedPromptTokens -= min(draw(), more.CachedPromptTokens)
		}
		if p.CachedInputPerMTok <= p.InputPerMTok || p.CachedInputPerMTok == 0 {
			if c := p.Cost(more); c < got {
				t.Fatalf("%+v: Cost(%+v) = %d < Cost(%+v) = %d", p, more, c, u, got)
			}
		}
	}
}
