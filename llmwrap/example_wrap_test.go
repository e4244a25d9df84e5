package llmwrap_test

import (
	"context"
	"fmt"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

// A middleware that logs every call's model and outcome, reading the call's Spend.
func ExampleWrap() {
	logCalls := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			resp, err := next(ctx, msgs, opts...)
			fmt.Printf("model=%s err=%v\n", llmwrap.SpendFrom(ctx).Model, err)
			return resp, err
		}
	}
	model := llmwrap.Wrap(&echo{}, llmwrap.WithModelName("gpt-4o-mini"), logCalls)
	out, _ := model.Call(context.Background(), "hello")
	fmt.Println(out)
	// Output:
	// model=gpt-4o-mini err=<nil>
	// ok
}
