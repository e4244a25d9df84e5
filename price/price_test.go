package price_test

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/spendguard/spendguard/internal/testseed"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/price"
)

// exactCost is Price.Cost as the package doc states it, in big integers: pick the
// rates in force for the prompt size, split the prompt into plain input, cache reads
// and cache writes, and take ceil(Σ count × rate / 10^6), saturated at MaxUint64.
func exactCost(p price.Price, u llmwrap.Usage) uint64 {
	// Each rate is that of the highest exceeded tier that sets it, else the base one.
	rates := [4]uint64{p.Input, p.Output, p.CacheRead, p.CacheWrite}
	for k := range rates {
		best := -1
		for i, t := range p.Tiers {
			v := [4]uint64{t.Input, t.Output, t.CacheRead, t.CacheWrite}[k]
			if u.PromptTokens > t.Above && v != 0 && (best < 0 || t.Above > p.Tiers[best].Above) {
				best = i
				rates[k] = v
			}
		}
	}
	if rates[2] == 0 {
		rates[2] = rates[0]
	}
	if rates[3] == 0 {
		rates[3] = rates[0]
	}
	cached := min(u.CachedPromptTokens, u.PromptTokens)
	written := min(u.CacheWriteTokens, u.PromptTokens-cached)
	mul := func(a, b uint64) *big.Int {
		return new(big.Int).Mul(new(big.Int).SetUint64(a), new(big.Int).SetUint64(b))
	}
	sum := mul(u.PromptTokens-cached-written, rates[0])
	sum.Add(sum, mul(cached, rates[2]))
	sum.Add(sum, mul(written, rates[3]))
	sum.Add(sum, mul(u.CompletionTokens, rates[1]))
	q, r := new(big.Int).QuoRem(sum, big.NewInt(1e6), new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsUint64() {
		return math.MaxUint64
	}
	return q.Uint64()
}

type drawer struct{ rng *rand.Rand }

// count draws a number from one of several magnitudes, so that small, realistic and
// saturating values all come up.
func (d drawer) count() uint64 {
	switch d.rng.IntN(5) {
	case 0:
		return d.rng.Uint64N(10)
	case 1:
		return d.rng.Uint64N(1 << 20)
	case 2:
		return d.rng.Uint64N(400_000)
	case 3:
		return d.rng.Uint64N(1 << 40)
	}
	return d.rng.Uint64()
}

func (d drawer) rates() price.Rates {
	r := price.Rates{Input: d.count(), Output: d.count()}
	if d.rng.IntN(2) == 0 {
		r.CacheRead = d.count()
	}
	if d.rng.IntN(2) == 0 {
		r.CacheWrite = d.count()
	}
	return r
}

func (d drawer) usage() llmwrap.Usage {
	return llmwrap.Usage{PromptTokens: d.count(), CompletionTokens: d.count(),
		CachedPromptTokens: d.count(), CacheWriteTokens: d.count()}
}

// TestCostIsExact: Cost equals the documented sum computed in big integers, for
// random prices (with and without tiers) and usage of every magnitude.
func TestCostIsExact(t *testing.T) {
	d := drawer{rand.New(rand.NewPCG(testseed.Get(t), 1))}
	for i := 0; i < 50_000; i++ {
		p := price.Price{Rates: d.rates()}
		for n := d.rng.IntN(3); n > 0; n-- {
			p.Tiers = append(p.Tiers, price.Tier{Above: d.rng.Uint64N(300_000), Rates: d.rates()})
		}
		u := d.usage()
		if got, want := p.Cost(u), exactCost(p, u); got != want {
			t.Fatalf("%+v.Cost(%+v) = %d, want %d", p, u, got, want)
		}
	}
}

// TestCostNonDecreasing: more of any count never costs less (a cache count grows
// with the prompt it is part of), for prices whose tiers only raise rates, across
// the tier thresholds too.
func TestCostNonDecreasing(t *testing.T) {
	d := drawer{rand.New(rand.NewPCG(testseed.Get(t), 2))}
	small := func() uint64 { return d.rng.Uint64N(1 << 20) }
	for i := 0; i < 50_000; i++ {
		base := price.Rates{Input: small(), Output: small()}
		base.CacheRead = d.rng.Uint64N(base.Input + 1) // a cache read is at most the input rate
		base.CacheWrite = base.Input + d.rng.Uint64N(base.Input+1)
		p := price.Price{Rates: base}
		// Tiers with higher thresholds raise every rate again, as providers' do.
		prev, above := base, uint64(0)
		for n := d.rng.IntN(3); n > 0; n-- {
			above += 1 + d.rng.Uint64N(250_000)
			r := price.Rates{Input: prev.Input + small(), Output: prev.Output + small()}
			r.CacheRead = prev.CacheRead + d.rng.Uint64N(r.Input-prev.CacheRead+1)
			r.CacheWrite = max(prev.CacheWrite, r.Input) + small()
			p.Tiers = append(p.Tiers, price.Tier{Above: above, Rates: r})
			prev = r
		}
		u := d.usage()
		u.PromptTokens = d.rng.Uint64N(1 << 20)
		more := u
		step := 1 + d.rng.Uint64N(300_000)
		switch d.rng.IntN(4) {
		case 0:
			more.PromptTokens += step
		case 1:
			more.CompletionTokens = min(u.CompletionTokens, math.MaxUint64-step) + step
		case 2: // more tokens read from the cache
			more.PromptTokens += step
			more.CachedPromptTokens = min(u.CachedPromptTokens, u.PromptTokens) + step
		case 3: // more tokens written to it
			cached := min(u.CachedPromptTokens, u.PromptTokens)
			more.PromptTokens += step
			more.CacheWriteTokens = min(u.CacheWriteTokens, u.PromptTokens-cached) + step
		}
		if a, b := p.Cost(u), p.Cost(more); b < a {
			t.Fatalf("%+v: Cost(%+v) = %d < Cost(%+v) = %d", p, more, b, u, a)
		}
	}
}

// TestCostSaturates: absurd counts and rates give math.MaxUint64, never a wrapped
// small number.
func TestCostSaturates(t *testing.T) {
	max := uint64(math.MaxUint64)
	for _, tc := range []struct {
		p price.Price
		u llmwrap.Usage
	}{
		{price.Price{Rates: price.Rates{Input: max}}, llmwrap.Usage{PromptTokens: max}},
		{price.Price{Rates: price.Rates{Output: 2_000_000}}, llmwrap.Usage{CompletionTokens: max}},
		{price.Price{Rates: price.Rates{Input: 1e6, Output: 1e6}}, llmwrap.Usage{PromptTokens: max, CompletionTokens: max}},
		{price.Price{Rates: price.Rates{Input: 1}, Tiers: []price.Tier{{Above: 10, Rates: price.Rates{Input: max}}}},
			llmwrap.Usage{PromptTokens: max / 2}},
	} {
		if got := tc.p.Cost(tc.u); got != max {
			t.Errorf("%+v.Cost(%+v) = %d, want MaxUint64", tc.p, tc.u, got)
		}
	}
	// Just below: 2^64−1 micro-units exactly is not saturation.
	p := price.Price{Rates: price.Rates{Input: 1e6}}
	if got := p.Cost(llmwrap.Usage{PromptTokens: max}); got != max {
		t.Errorf("Cost = %d, want %d", got, max)
	}
	if got := p.Cost(llmwrap.Usage{PromptTokens: max - 1}); got != max-1 {
		t.Errorf("Cost = %d, want %d", got, max-1)
	}
}

// TestCostRules checks the documented rules on figures worked out by hand.
func TestCostRules(t *testing.T) {
	// Claude Sonnet 4.5 as Anthropic prices it: $3 in, $15 out, 5-minute cache write
	// $3.75, read $0.30; above 200k prompt tokens $6, $22.50, $7.50, $0.60.
	sonnet := price.Price{
		Rates: price.Rates{Input: 3_000_000, Output: 15_000_000, CacheRead: 300_000, CacheWrite: 3_750_000, CacheWrite1h: 6_000_000},
		Tiers: []price.Tier{{Above: 200_000, Rates: price.Rates{Input: 6_000_000, Output: 22_500_000, CacheRead: 600_000, CacheWrite: 7_500_000}}},
	}
	for _, tc := range []struct {
		name string
		p    price.Price
		u    llmwrap.Usage
		want uint64
	}{
		{"each count at its own rate", sonnet,
			// 1,000 plain + 2,000 written + 3,000 read, 500 out:
			// 1000×3 + 2000×3.75 + 3000×0.3 + 500×15 = 3000 + 7500 + 900 + 7500 µ$.
			llmwrap.Usage{PromptTokens: 6_000, CacheWriteTokens: 2_000, CachedPromptTokens: 3_000, CompletionTokens: 500},
			18_900},
		{"200k exactly is not above", sonnet,
			llmwrap.Usage{PromptTokens: 200_000, CompletionTokens: 1_000}, 600_000 + 15_000},
		{"above 200k: the whole request at the premium", sonnet,
			// 150,001 plain ×6 + 50,000 read ×0.6, 1,000 out ×22.5
			llmwrap.Usage{PromptTokens: 200_001, CachedPromptTokens: 50_000, CompletionTokens: 1_000},
			900_006 + 30_000 + 22_500},
		{"a missing cache rate is the input rate", price.Price{Rates: price.Rates{Input: 2_500_000, Output: 10_000_000}},
			llmwrap.Usage{PromptTokens: 1_000, CachedPromptTokens: 400, CacheWriteTokens: 100, CompletionTokens: 10},
			2_500 + 100},
		{"a tier's missing rate is the base rate, its missing cache rate its input rate",
			price.Price{Rates: price.Rates{Input: 1_250_000, Output: 10_000_000},
				Tiers: []price.Tier{{Above: 200_000, Rates: price.Rates{Input: 2_500_000}}}},
			llmwrap.Usage{PromptTokens: 300_000, CachedPromptTokens: 100_000, CompletionTokens: 100},
			750_000 + 1_000},
		{"the highest exceeded tier applies, in any order",
			price.Price{Rates: price.Rates{Input: 1, Output: 1},
				Tiers: []price.Tier{{Above: 500, Rates: price.Rates{Input: 3_000_000}}, {Above: 100, Rates: price.Rates{Input: 2_000_000, Output: 5_000_000}}}},
			llmwrap.Usage{PromptTokens: 1_000, CompletionTokens: 1_000}, 3_000 + 5_000},
		{"a priced call is never free", price.Price{Rates: price.Rates{Input: 20_000}},
			llmwrap.Usage{PromptTokens: 1}, 1},
		{"clamped cache counts", price.Price{Rates: price.Rates{Input: 1_000_000, CacheRead: 100_000, CacheWrite: 2_000_000}},
			llmwrap.Usage{PromptTokens: 10, CachedPromptTokens: 8, CacheWriteTokens: 8}, 1 /* 0.8 + 4 = 4.8 → 5 */ + 4},
		{"the zero Price", price.Price{}, llmwrap.Usage{PromptTokens: 1 << 40, CompletionTokens: 1 << 40}, 0},
	} {
		if got := tc.p.Cost(tc.u); got != tc.want {
			t.Errorf("%s: Cost(%+v) = %d, want %d", tc.name, tc.u, got, tc.want)
		}
	}
}

// TestTableCost: a listed model costs its Price; a missing one MaxUint64, so that a
// budget priced with the table denies it.
func TestTableCost(t *testing.T) {
	tab := price.Table{"gpt-4o": {Rates: price.Rates{Input: 2_500_000, Output: 10_000_000}}}
	u := llmwrap.Usage{PromptTokens: 1_000, CompletionTokens: 100}
	if got := tab.Cost("gpt-4o", u); got != 3_500 {
		t.Errorf("gpt-4o: %d, want 3500", got)
	}
	if got := tab.Cost("gpt-5", u); got != math.MaxUint64 {
		t.Errorf("unpriced: %d, want MaxUint64", got)
	}
	if got := price.Table(nil).Cost("gpt-4o", u); got != math.MaxUint64 {
		t.Errorf("nil table: %d, want MaxUint64", got)
	}
}
