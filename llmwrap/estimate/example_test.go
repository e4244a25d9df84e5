package estimate_test

import (
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap/estimate"
)

func ExampleText() {
	fmt.Println(estimate.Text("The quick brown fox jumps over the lazy dog."))
	fmt.Println(estimate.Text("func main() { fmt.Println(42) }"))
	fmt.Println(estimate.Text(""))
	// Output:
	// 10
	// 11
	// 0
}

func ExampleDefault() {
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
	e := estimate.Default()
	fmt.Println(e.Estimate(msgs, nil))
	fmt.Println(e.Estimate(msgs, &llms.CallOptions{Tools: []llms.Tool{weather}}))
	// Output:
	// 19
	// 75
}

// A provider's own tokenizer, or any text counter, gets the default accounting of
// messages, images, tool calls and tool definitions.
func ExampleNew() {
	words := func(s string) uint64 { return uint64(len(strings.Fields(s))) }
	e := estimate.New(words)
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "one two three")}
	fmt.Println(e.Estimate(msgs, nil)) // 3 framing + 1 role + 3 words + 3 reply priming
	// Output:
	// 10
}
