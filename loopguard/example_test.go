package loopguard_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/loopguard"
	"github.com/spendguard/spendguard/middleware"
)

// counter is a provider stand-in that counts its calls.
type counter struct{ calls atomic.Int64 }

func (m *counter) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	m.calls.Add(1)
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "Let me look again."}}}, nil
}

func (m *counter) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

// An agent that asked for the same lookup three times and got the same answer each
// time: the guard refuses its next model call before anything is sent or reserved.
func ExampleNew() {
	b := budget.NewAtomic(100_000, budget.WithName("run"))
	provider := &counter{}
	model := llmwrap.Wrap(provider,
		loopguard.New(), // before Budget: a refused call reserves nothing
		middleware.Budget(b),
	)

	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "When does the store open?")}
	for i := range 3 {
		id := fmt.Sprint("call_", i)
		msgs = append(msgs,
			llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{llms.ToolCall{
				ID: id, Type: "function", FunctionCall: &llms.FunctionCall{Name: "lookup", Arguments: `{"q": "store hours"}`}}}},
			llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{
				ToolCallID: id, Content: "no results"}}})
	}

	_, err := model.GenerateContent(context.Background(), msgs)
	var le *loopguard.Error
	if errors.As(err, &le) {
		fmt.Printf("%s(%s) repeated %d times\n", le.Tool, le.Arguments, le.Repeats)
	}
	fmt.Println("loop:", errors.Is(err, loopguard.ErrLoop), "budget denial:", errors.Is(err, budget.ErrDenied))
	fmt.Println("provider calls:", provider.calls.Load())
	// Output:
	// lookup({"q":"store hours"}) repeated 3 times
	// loop: true budget denial: false
	// provider calls: 0
}
