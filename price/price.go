package price

import (
	"math"
	"math/bits"

	"github.com/spendguard/spendguard/llmwrap"
)

// Rates are the prices of one model's tokens, each in micro-units per million
// tokens: $2.50 per million input tokens is Input 2_500_000. A zero cache rate means
// the input rate (see the package doc).
type Rates struct {
	Input      uint64 // prompt tokens neither read from nor written to the cache
	Output     uint64 // completion tokens, reasoning included
	CacheRead  uint64 // prompt tokens read from the cache; 0: Input
	CacheWrite uint64 // prompt tokens written to the cache (a 5-minute write); 0: Input
	// CacheWrite1h is the rate of a 1-hour cache write. No count of llmwrap.Usage
	// is charged at it: langchaingo v0.1.14 makes only 5-minute writes (package doc).
	CacheWrite1h uint64
}

// Tier is a model's rates for a prompt above a size: a call whose PromptTokens
// exceed Above (the whole prompt, cache reads and writes included) is charged at
// Rates for every count, as Anthropic and Gemini bill long contexts. A zero rate in
// a Tier keeps the rate below it (the next lower tier's, else the base rate); a
// cache rate zero throughout is the input rate in force.
type Tier struct {
	Above uint64 // prompt tokens
	Rates
}

// Price is what one model costs: Rates, and Tiers for prompts above a size (in any
// order; of the tiers a prompt exceeds, the one with the highest Above applies). The
// zero Price charges nothing.
type Price struct {
	Rates
	Tiers []Tier
}

// Cost is the price of u in micro-units, rounded up to a whole micro-unit and
// saturating at math.MaxUint64 instead of wrapping. CachedPromptTokens and
// CacheWriteTokens are the parts of PromptTokens read from and written to the cache
// (clamped to it, the read part first). Cost is non-decreasing in PromptTokens and
// CompletionTokens, and so in a cache count that grows with PromptTokens, whenever
// each rate a Tier sets is at least the rate it replaces (every provider's is);
// moving a token from plain input to a cheaper cache read lowers it, as billed.
// Safe for concurrent use.
func (p Price) Cost(u llmwrap.Usage) uint64 {
	r := p.ratesFor(u.PromptTokens)
	cached := min(u.CachedPromptTokens, u.PromptTokens)
	written := min(u.CacheWriteTokens, u.PromptTokens-cached)
	// The sum of tokens × rate is kept in 128 bits, so that only a cost beyond
	// 2^64 micro-units saturates.
	var hi, lo uint64
	hi, lo = mulAdd(hi, lo, u.PromptTokens-cached-written, r.Input)
	hi, lo = mulAdd(hi, lo, cached, r.CacheRead)
	hi, lo = mulAdd(hi, lo, written, r.CacheWrite)
	hi, lo = mulAdd(hi, lo, u.CompletionTokens, r.Output)
	if hi >= 1e6 { // the quotient would not fit in 64 bits
		return math.MaxUint64
	}
	q, rem := bits.Div64(hi, lo, 1e6)
	if rem != 0 {
		if q == math.MaxUint64 {
			return q
		}
		q++
	}
	return q
}

// ratesFor resolves the rates charged for a prompt of the given size: each rate is
// the one set (non-zero) by the tier with the highest Above that the prompt exceeds,
// else the base rate; a cache rate still zero is the input rate.
func (p Price) ratesFor(prompt uint64) Rates {
	r := p.Rates
	var above [4]uint64 // the Above of the tier each rate came from
	var set [4]bool
	for i := range p.Tiers {
		t := &p.Tiers[i]
		if prompt <= t.Above {
			continue
		}
		for k, v := range [4]uint64{t.Input, t.Output, t.CacheRead, t.CacheWrite} {
			if v != 0 && (!set[k] || t.Above > above[k]) {
				set[k], above[k] = true, t.Above
				switch k {
				case 0:
					r.Input = v
				case 1:
					r.Output = v
				case 2:
					r.CacheRead = v
				case 3:
					r.CacheWrite = v
				}
			}
		}
	}
	if r.CacheRead == 0 {
		r.CacheRead = r.Input
	}
	if r.CacheWrite == 0 {
		r.CacheWrite = r.Input
	}
	return r
}

// mulAdd returns the 128-bit (hi, lo) + a×b, saturating at 2^128 − 1.
func mulAdd(hi, lo, a, b uint64) (uint64, uint64) {
	h, l := bits.Mul64(a, b)
	lo, carry := bits.Add64(lo, l, 0)
	hi, carry = bits.Add64(hi, h, carry)
	if carry != 0 {
		return math.MaxUint64, math.MaxUint64
	}
	return hi, lo
}

// Table is a price table: the Price of each model, keyed by the model name a call's
// llmwrap.Spend carries (the call's model option, else llmwrap.WithModelName's, or
// a fallback's name). ParseLiteLLM keys it by the file's names, some of which carry
// a provider prefix ("gemini/gemini-2.5-pro"): name the model the same way. Build it
// by hand or with ParseLiteLLM; give it to middleware.WithPrices and otel.
type Table map[string]Price

// Cost is the cost of u on model, in micro-units (Price.Cost). A model missing from
// the table costs math.MaxUint64, so that a budget priced with it denies the call
// rather than letting it run free. Safe for concurrent use while nobody writes t.
func (t Table) Cost(model string, u llmwrap.Usage) uint64 {
	p, ok := t[model]
	if !ok {
		return math.MaxUint64
	}
	return p.Cost(u)
}
