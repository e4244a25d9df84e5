package llmwrap

// TEMPORARY stub, replaced by the estimator work: keep the names.

import "github.com/tmc/langchaingo/llms"

// DefaultEstimator returns the estimator used when none is configured: no network, no
// tables, safe for concurrent use.
func DefaultEstimator() Estimator { return heuristic{} }

type heuristic struct{}

func (heuristic) Estimate(msgs []llms.MessageContent, _ *llms.CallOptions) uint64 {
	var n uint64
	for _, m := range msgs {
		n += 4
		for _, p := range m.Parts {
			if t, ok := p.(llms.TextContent); ok {
				n += EstimateText(t.Text)
			}
		}
	}
	return n
}

// EstimateText estimates the tokens of a piece of text (a completion, say).
func EstimateText(s string) uint64 { return uint64(len(s)+3) / 4 }
