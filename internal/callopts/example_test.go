package callopts_test

import (
	"fmt"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/internal/callopts"
)

// The options a provider will see: applied in order, the last setting wins.
func Example() {
	opts := []llms.CallOption{llms.WithModel("m"), llms.WithMaxTokens(100), llms.WithMaxTokens(16)}
	o := callopts.Resolve(opts)
	fmt.Println(o.Model, o.MaxTokens)
	callopts.Release(o) // o must not be used after this
	// Output: m 16
}
