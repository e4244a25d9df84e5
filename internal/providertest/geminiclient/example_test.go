package geminiclient_test

import (
	"context"
	"fmt"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/internal/providertest/geminiclient"
)

// langchaingo's real googleai client against a fake Gemini server, on loopback.
func Example() {
	srv := providertest.NewGemini(providertest.Fixed(providertest.Reply{
		Text:  "Hello!",
		Usage: &providertest.Usage{Prompt: 8, Completion: 2},
	}))
	defer srv.Close()
	llm, err := geminiclient.New(srv)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer llm.Close()
	resp, err := llm.GenerateContent(context.Background(),
		[]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "Hi")})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Choices[0].Content, len(srv.Requests()))
	// Output: Hello! 1
}
