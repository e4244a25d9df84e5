package llmwrap

// TEMPORARY stub, replaced by the UsageOf work: keep the name.

import "github.com/tmc/langchaingo/llms"

// UsageOf returns the usage resp reports, and false when the provider reported none.
func UsageOf(resp *llms.ContentResponse) (Usage, bool) {
	if resp == nil || len(resp.Choices) == 0 || resp.Choices[0] == nil {
		return Usage{}, false
	}
	gi := resp.Choices[0].GenerationInfo
	p, _ := gi["PromptTokens"].(int)
	c, _ := gi["CompletionTokens"].(int)
	if p <= 0 && c <= 0 {
		return Usage{}, false
	}
	return Usage{PromptTokens: uint64(max(p, 0)), CompletionTokens: uint64(max(c, 0))}, true
}
