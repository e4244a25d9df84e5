package llmwrap_test

import (
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

func ExampleEstimateText() {
	fmt.Println(llmwrap.EstimateText("The quick brown fox jumps over the lazy dog."))
	fmt.Println(llmwrap.EstimateText("func main() { fmt.Println(42) }"))
	fmt.Println(llmwrap.EstimateText(""))
	// Output:
	// 10
	// 11
	// 0
}

func ExampleDefaultEstimator() {
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You are terse."),
		llms.TextParts(llms.ChatMessageTypeHuman, "Name three primes."),
	}
	weather := llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
		Name:        "get_weather",
		Description: "Weather forecast for a city.",
		Parameters: map[string]any{
			"type":       "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}},
			"required":   []string{"city"},
		},
	}}
	e := llmwrap.DefaultEstimator()
	fmt.Println(e.Estimate(msgs, nil))
	fmt.Println(e.Estimate(msgs, &llms.CallOptions{Tools: []llms.Tool{weather}}))
	// Output:
	// 19
	// 75
}

// A provider's own tokenizer, or any text counter, gets the default accounting of
// messages, images, tool calls and tool definitions.
func ExampleNewEstimator() {
	words := func(s string) uint64 { return uint64(len(strings.Fields(s))) }
	e := llmwrap.NewEstimator(words)
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "one two three")}
	fmt.Println(e.Estimate(msgs, nil)) // 3 framing + 1 role + 3 words + 3 reply priming
	// Output:
	// 10
}
