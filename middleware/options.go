package middleware

import (
	"time"

	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/price"
)

// defaultCompletionAllowance is the completion size reserved for a model the
// middleware has not yet learned, when the call sets no MaxTokens.
const defaultCompletionAllowance = 1024

// defaultSettleTimeout bounds how long a settle (Record or Release after the call) may
// take when the budget lives outside the process.
const defaultSettleTimeout = 5 * time.Second

// Option configures Budget.
type Option func(*config)

type config struct {
	est           llmwrap.Estimator
	fixed         bool
	allowance     uint64
	cost          func(model string, u llmwrap.Usage) uint64
	prices        price.Table // WithPrices' table, for refusing unpriced models; nil otherwise
	alts          []Alternative
	below         float64
	hardCap       bool
	settleTimeout time.Duration
	onError       func(error)
	provider      estimate.Provider
	providerSet   bool
	noCalibration bool
}

// WithEstimator sets the prompt estimator (estimate.Default by default). A nil
// estimator keeps the default.
func WithEstimator(e llmwrap.Estimator) Option {
	return func(c *config) {
		if e != nil {
			c.est = e
		}
	}
}

// WithCompletionAllowance reserves n completion tokens (per choice) for every call
// that sets no MaxTokens, instead of learning the allowance per model (which starts at
// 1,024 tokens, see the package doc). n may be 0 (reserve the
// prompt only); under HardCap the completion sent is still at least 1 token.
func WithCompletionAllowance(n uint64) Option {
	return func(c *config) { c.fixed, c.allowance = true, n }
}

// WithCost makes the budget count money (or any unit) instead of tokens: a call
// reserves cost(model, Usage{PromptTokens: prompt estimate, CompletionTokens:
// allowance}) and records cost(model, usage) as its prompt part (completion 0). cost
// must be safe for concurrent use and non-decreasing in each token count (HardCap
// searches it). A nil cost keeps token counting. WithPrices is WithCost for a price
// table; the last of the two given wins.
func WithCost(cost func(model string, u llmwrap.Usage) uint64) Option {
	return func(c *config) { c.cost, c.prices = cost, nil }
}

// HardCap reserves a range instead of a fixed estimate and sends the granted
// completion part as the call's MaxTokens (divided among the choices when the call
// asks for several), so that a call never outspends what is left: overspend is
// bounded by the prompt estimate's error. The range is
// [prompt estimate + min(16, allowance), prompt estimate + allowance]; when less than
// the minimum is left the call is denied. Every budget taking part must implement
// budgetkit.RangeReserver; when one does not, calls fail with an error wrapping
// ErrHardCapUnsupported and the provider is not called.
func HardCap() Option { return func(c *config) { c.hardCap = true } }

// WithSettleTimeout bounds each settle (5 s by default). Settles run
// on context.WithoutCancel of the call's context, so a cancelled call still gives its
// hold back. d ≤ 0 keeps the default.
func WithSettleTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.settleTimeout = d
		}
	}
}

// WithErrorHandler receives the errors the middleware cannot return because the model
// already answered: a failed Record, Release or Snapshot after the call (a Redis
// outage, say). The call's response is returned regardless. fn is called
// synchronously and must be safe for concurrent use. By default such errors are
// dropped; a budget with leases (redisbudget) reclaims an unsettled hold by itself.
func WithErrorHandler(fn func(error)) Option { return func(c *config) { c.onError = fn } }

// WithProvider names the provider whose published prompt rules (message framing,
// tool definitions and tool prompts, images: see estimate.Provider) the estimate
// follows, by its gen_ai.provider.name ("openai", "anthropic", "gcp.gemini",
// "ollama") or langchaingo package name. Without it the provider is read from the
// wrapped model's Go type (estimate.ProviderOf(Spend.ModelType)), which is right
// unless the client talks to another provider's API (an OpenAI-compatible router
// serving Llama, say). An unknown name means estimate.Other. It matters only
// with an estimator that implements estimate.ProviderEstimator (the default one and
// llmwrap/exact's do); nothing is ever looked up on the network.
func WithProvider(name string) Option {
	return func(c *config) { c.provider, c.providerSet = estimate.ProviderOf(name), true }
}

// WithoutCalibration turns the per-model calibration of prompt estimates off: every
// call reserves the static estimate (Spend.Budget.PromptEstimate equals
// PromptEstimateRaw).
func WithoutCalibration() Option { return func(c *config) { c.noCalibration = true } }
