package price_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/price"
)

// A table read from LiteLLM's price file (here two entries of it), and what one
// Anthropic call with cache writes and reads costs, in micro-USD.
func Example() {
	file := `{
	  "claude-sonnet-4-5-20250929": {
	    "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
	    "cache_creation_input_token_cost": 3.75e-06, "cache_read_input_token_cost": 3e-07,
	    "input_cost_per_token_above_200k_tokens": 6e-06, "output_cost_per_token_above_200k_tokens": 2.25e-05,
	    "litellm_provider": "anthropic", "mode": "chat"
	  },
	  "dall-e-3": {"mode": "image_generation", "output_cost_per_image": 0.04}
	}`
	table, err := price.ParseLiteLLM(strings.NewReader(file))
	if err != nil {
		log.Fatal(err)
	}
	u := llmwrap.Usage{PromptTokens: 10_000, CacheWriteTokens: 4_000, CachedPromptTokens: 5_000, CompletionTokens: 200}
	fmt.Println(table.Cost("claude-sonnet-4-5-20250929", u)) // 1000×3 + 4000×3.75 + 5000×0.3 + 200×15
	long := llmwrap.Usage{PromptTokens: 250_000, CompletionTokens: 200}
	fmt.Println(table.Cost("claude-sonnet-4-5-20250929", long)) // all at the premium: 250000×6 + 200×22.5
	_, priced := table["dall-e-3"]
	fmt.Println(priced)
	// Output:
	// 22500
	// 1504500
	// false
}
