package exact_test

import (
	"fmt"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap/exact"
)

func Example() {
	est, err := exact.New(exact.ForModel("gpt-4o-mini")) // o200k_base
	if err != nil {
		panic(err)
	}
	fmt.Println(est.CountText("The quick brown fox jumps over the lazy dog."))

	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You are terse."),
		llms.TextParts(llms.ChatMessageTypeHuman, "Name three primes."),
	}
	fmt.Println(est.Estimate(msgs, nil))
	// Output:
	// 10
	// 19
}
