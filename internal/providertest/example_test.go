package providertest_test

import (
	"context"
	"fmt"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/internal/providertest"
)

// A fake OpenAI server answering through langchaingo's real client.
func ExampleNewOpenAI() {
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{
		Text:  "Hello!",
		Usage: &providertest.Usage{Prompt: 12, Completion: 3},
	}))
	defer srv.Close()

	llm, err := srv.OpenAIClient()
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := llm.GenerateContent(context.Background(),
		[]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "Hi")}, llms.WithModel("gpt-4o-mini"))
	if err != nil {
		fmt.Println(err)
		return
	}
	gi := resp.Choices[0].GenerationInfo
	fmt.Println(resp.Choices[0].Content, gi["PromptTokens"], gi["CompletionTokens"])
	fmt.Println(srv.Requests()[0].Model)
	// Output:
	// Hello! 12 3
	// gpt-4o-mini
}
