package realbills_test

import (
	"context"
	"fmt"

	"github.com/spendguard/spendguard/internal/realbills"
	"github.com/spendguard/spendguard/llmwrap"
)

// A real OpenAI bill, replayed through langchaingo's real openai client: the usage
// llmwrap reads from the response is the usage OpenAI billed.
func Example() {
	recs, err := realbills.Records()
	if err != nil {
		panic(err)
	}
	var rec *realbills.Record
	for i := range recs {
		if recs[i].Provider == realbills.OpenAI && !recs[i].Stream {
			rec = &recs[i]
			break
		}
	}
	srv := realbills.NewServer(rec)
	defer srv.Close()
	llm, err := realbills.Client(rec, srv)
	if err != nil {
		panic(err)
	}
	resp, err := realbills.Send(context.Background(), llm, rec)
	if err != nil {
		panic(err)
	}
	u, _ := llmwrap.UsageOf(resp)
	fmt.Printf("%s %s: billed %d in + %d out, read %d in + %d out\n",
		rec.Provider, rec.Model, rec.Billed.Prompt, rec.Billed.Completion, u.PromptTokens, u.CompletionTokens)
	// Output:
	// openai gpt-4o: billed 14 in + 8 out, read 14 in + 8 out
}
