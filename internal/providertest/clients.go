package providertest

import (
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/ollama"
	"github.com/tmc/langchaingo/llms/openai"
)

// OpenAIClient returns langchaingo's real OpenAI client pointed at s, with token
// "test" and s's HTTP client. opts are applied after those, so they may override
// them (openai.WithModel picks the model; without it langchaingo sends gpt-3.5-turbo).
func (s *Server) OpenAIClient(opts ...openai.Option) (*openai.LLM, error) {
	base := []openai.Option{
		openai.WithBaseURL(s.URL), openai.WithToken("test"), openai.WithHTTPClient(s.HTTPClient()),
	}
	return openai.New(append(base, opts...)...)
}

// AnthropicClient returns langchaingo's real Anthropic client pointed at s, with token
// "test" and s's HTTP client; opts are applied after those.
func (s *Server) AnthropicClient(opts ...anthropic.Option) (*anthropic.LLM, error) {
	base := []anthropic.Option{
		anthropic.WithBaseURL(s.URL), anthropic.WithToken("test"), anthropic.WithHTTPClient(s.HTTPClient()),
	}
	return anthropic.New(append(base, opts...)...)
}

// OllamaClient returns langchaingo's real Ollama client pointed at s, with model
// "llama3.2" and s's HTTP client; opts are applied after those.
func (s *Server) OllamaClient(opts ...ollama.Option) (*ollama.LLM, error) {
	base := []ollama.Option{
		ollama.WithServerURL(s.URL), ollama.WithModel("llama3.2"), ollama.WithHTTPClient(s.HTTPClient()),
	}
	return ollama.New(append(base, opts...)...)
}
