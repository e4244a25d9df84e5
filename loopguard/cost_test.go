package loopguard_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/loopguard"
)

// Issue 19: a call whose result never came, early in a long run, used to make the
// check quadratic and, past ~3,100 rounds, to keep its buffer out of the pool (12
// allocations a call). A call the guard lets through allocates nothing, however long
// the run (BenchmarkLoopGuardUnanswered* measure the time).
func TestLoopGuardAllocatesNothing(t *testing.T) {
	resp := &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "ok"}}}
	gen := loopguard.New()(func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
		return resp, nil
	})
	ctx := context.Background()
	for name, msgs := range map[string][]llms.MessageContent{
		"200 messages":                        toolConversation(200, false),
		"10,000 messages, an unanswered call": toolConversation(10001, true),
		"MRKL prompt":                         mrklConversation(),
	} {
		if n := testing.AllocsPerRun(20, func() {
			if _, err := gen(ctx, msgs); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

// One guard shared by many agents at once: each agent's parallel identical calls are
// one round, whatever the others do, and each agent's loop is refused at its own
// fourth call (go test -race checks the guard's memory of answers).
func TestLoopGuardConcurrentAgents(t *testing.T) {
	guard := loopguard.New()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			turn := 0
			gen := guard(func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
				turn++
				c := &llms.ContentChoice{}
				for i := range 3 {
					c.ToolCalls = append(c.ToolCalls, llms.ToolCall{ID: fmt.Sprintf("call_%d_%d_%d", g, turn, i), Type: "function",
						FunctionCall: &llms.FunctionCall{Name: "fetch", Arguments: `{"url":"a"}`}})
				}
				return &llms.ContentResponse{Choices: []*llms.ContentChoice{c}}, nil
			})
			msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "read page a")}
			for call := 1; ; call++ {
				resp, err := gen(context.Background(), msgs)
				if err != nil {
					if !errors.Is(err, loopguard.ErrLoop) || call != 4 {
						t.Errorf("agent %d: call %d: %v, want a loop stop at call 4", g, call, err)
					}
					return
				}
				// The agent replays the answer as one message, then the results.
				ai := llms.MessageContent{Role: llms.ChatMessageTypeAI}
				for _, tc := range resp.Choices[0].ToolCalls {
					ai.Parts = append(ai.Parts, tc)
				}
				msgs = append(msgs, ai)
				for _, tc := range resp.Choices[0].ToolCalls {
					msgs = append(msgs, llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
						llms.ToolCallResponse{ToolCallID: tc.ID, Content: "<html>a</html>"}}})
				}
			}
		}()
	}
	wg.Wait()
}
