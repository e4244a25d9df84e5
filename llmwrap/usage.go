package llmwrap

import (
	"github.com/tmc/langchaingo/llms"
)

// Usage is the token usage of one call, normalized across providers.
type Usage struct {
	PromptTokens     uint64 // billed input tokens, cached ones included
	CompletionTokens uint64 // output tokens, reasoning ones included
	// CachedPromptTokens is the part of PromptTokens read from the provider's cache.
	CachedPromptTokens uint64
	// CacheWriteTokens is the part of PromptTokens written to the provider's cache
	// (Anthropic's cache_creation_input_tokens), which is billed at a premium over
	// plain input. It never overlaps CachedPromptTokens.
	CacheWriteTokens uint64
	// ReasoningTokens is the part of CompletionTokens spent on hidden reasoning.
	ReasoningTokens uint64
}

// Estimator guesses how many tokens a prompt will be billed for before it is sent.
// Implementations must be safe for concurrent use, must not use the network, and must
// accept any input (nil messages, nil options, unknown part types) without panicking.
// opts is valid only during the call: middleware lend it from a pool, so an
// implementation must not keep it, or anything it points to, after Estimate returns.
type Estimator interface {
	Estimate(msgs []llms.MessageContent, opts *llms.CallOptions) (prompt uint64)
}
