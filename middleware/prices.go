package middleware

import (
	"errors"
	"math"
	"math/bits"

	"github.com/spendguard/spendguard/internal/sat"
	"github.com/spendguard/spendguard/llmwrap"
)

// ErrUnpriced is wrapped by the error a call returns when the middleware counts money
// with WithPrices and the model the call is for has no price in the table. The
// provider is not called and nothing is reserved.
var ErrUnpriced = errors.New("middleware: no price for the model")

// Price is what one model costs per million tokens, in integer micro-units of a
// currency (1 USD = 1_000_000 micro-USD), so that a money budget stays integer
// arithmetic: $2.50 per million input tokens is InputPerMTok 2_500_000.
//
// Cached input tokens (the part of the prompt read from the provider's cache) cost
// CachedInputPerMTok; when it is 0 they cost InputPerMTok, since a missing cache price
// is far more often an omission than a free cache (the same rule as otel.Price). Give
// the cache its own non-zero price when the provider has one.
type Price struct {
	InputPerMTok       uint64 // per million billed input tokens, cached ones excepted
	CachedInputPerMTok uint64 // per million input tokens served from the cache; 0: InputPerMTok
	OutputPerMTok      uint64 // per million output tokens, reasoning included
}

// Cost is the price of u in micro-units, rounded up to a whole micro-unit so that a
// priced call is never free, and saturating at math.MaxUint64 instead of wrapping.
// It is non-decreasing in every token count, as WithCost requires.
func (p Price) Cost(u llmwrap.Usage) uint64 {
	cachedPrice := p.CachedInputPerMTok
	if cachedPrice == 0 {
		cachedPrice = p.InputPerMTok
	}
	cached := min(u.CachedPromptTokens, u.PromptTokens)
	// The sum of tokens × price is kept in 128 bits, so that only a cost beyond
	// 2^64 micro-units saturates.
	var hi, lo uint64
	hi, lo = mulAdd(hi, lo, u.PromptTokens-cached, p.InputPerMTok)
	hi, lo = mulAdd(hi, lo, cached, cachedPrice)
	hi, lo = mulAdd(hi, lo, u.CompletionTokens, p.OutputPerMTok)
	if hi >= 1e6 { // the quotient would not fit in 64 bits
		return math.MaxUint64
	}
	q, r := bits.Div64(hi, lo, 1e6)
	if r != 0 {
		q = sat.Add(q, 1)
	}
	return q
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

// Prices is a price table: the Price of each model, keyed by the name the call's
// llmwrap.Spend carries (CallOptions.Model, else llmwrap.WithModelName's, or a
// fallback Alternative's Name). Give it to WithPrices.
//
// spendguard ships no prices: providers change them, and a table that pretends to be
// current would bill wrongly in silence. Keep yours next to your deployment's
// configuration, copied from the provider's pricing page with the date you read it,
// and review it when you add a model or the provider announces a change. A model
// missing from the table is refused (ErrUnpriced) rather than guessed, so a new model
// cannot run unbudgeted.
type Prices map[string]Price

// Cost is the cost of u on model, in micro-units, for WithCost. A model missing from
// the table costs math.MaxUint64, so that a budget priced with WithCost(p.Cost) denies
// it rather than letting it run free; WithPrices refuses such a call with an error
// wrapping ErrUnpriced instead, which says why.
func (p Prices) Cost(model string, u llmwrap.Usage) uint64 {
	price, ok := p[model]
	if !ok {
		return math.MaxUint64
	}
	return price.Cost(u)
}

// WithPrices makes the budget count money with the price table p: it is WithCost(p.Cost),
// plus a check before each reservation that the model is in the table (a call for a
// model that is not returns an error wrapping ErrUnpriced, naming the model, and is
// neither reserved nor sent). Every fallback Alternative must be priced too. The
// table is copied, so later changes to p have no effect. A nil or empty p keeps token
// counting.
func WithPrices(p Prices) Option {
	if len(p) == 0 {
		return func(c *config) { c.cost, c.prices = nil, nil }
	}
	cp := make(Prices, len(p))
	for k, v := range p {
		cp[k] = v
	}
	return func(c *config) { c.cost, c.prices = cp.Cost, cp }
}
