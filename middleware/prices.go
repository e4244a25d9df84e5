package middleware

import (
	"errors"
	"slices"

	"github.com/spendguard/spendguard/price"
)

// ErrUnpriced is wrapped by the error a call returns when the middleware counts money
// with WithPrices and the model the call is for has no price in the table. The
// provider is not called and nothing is reserved.
var ErrUnpriced = errors.New("middleware: no price for the model")

// WithPrices makes the budget count money with the price table t (package price:
// integer micro-units, every count of the usage at its own rate): it is
// WithCost(t.Cost), plus a check before each reservation that the model is in the
// table (a call for a model that is not returns an error wrapping ErrUnpriced, naming
// the model, and is neither reserved nor sent). Every fallback Alternative must be
// priced too. The table is copied, so later changes to t have no effect. A nil or
// empty t keeps token counting.
func WithPrices(t price.Table) Option {
	if len(t) == 0 {
		return func(c *config) { c.cost, c.prices = nil, nil }
	}
	cp := make(price.Table, len(t))
	for k, v := range t {
		v.Tiers = slices.Clone(v.Tiers)
		cp[k] = v
	}
	return func(c *config) { c.cost, c.prices = cp.Cost, cp }
}
