package geminitest_test

import (
	"context"
	"fmt"

	"github.com/spendguard/spendguard/internal/providertest/geminiclient"
	"github.com/spendguard/spendguard/internal/realbills"
	"github.com/spendguard/spendguard/llmwrap"
)

// A real Gemini 2.5 bill on Vertex AI, replayed through langchaingo's real vertex
// client: the thoughts Gemini billed as output reach the usage through the total.
func Example() {
	recs, err := realbills.Records()
	if err != nil {
		panic(err)
	}
	var rec *realbills.Record
	for i := range recs {
		if recs[i].Vertex() && recs[i].Billed.Thoughts > 0 {
			rec = &recs[i]
			break
		}
	}
	srv := realbills.NewServer(rec)
	defer srv.Close()
	llm, err := geminiclient.ReplayClient(rec, srv)
	if err != nil {
		panic(err)
	}
	if c, ok := llm.(interface{ Close() error }); ok {
		defer c.Close()
	}
	resp, err := realbills.Send(context.Background(), llm, rec)
	if err != nil {
		panic(err)
	}
	u, _ := llmwrap.UsageOf(resp)
	fmt.Printf("billed %d in + %d out (%d thoughts); read %d in + %d out (%d reasoning)\n",
		rec.Billed.Prompt, rec.Billed.Completion, rec.Billed.Thoughts, u.PromptTokens, u.CompletionTokens, u.ReasoningTokens)
	// Output:
	// billed 7 in + 24 out (17 thoughts); read 7 in + 24 out (17 reasoning)
}
