package providertest

import (
	"context"

	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/googleai"
	"github.com/tmc/langchaingo/llms/ollama"
	"github.com/tmc/langchaingo/llms/openai"
	"google.golang.org/api/option"
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

// GeminiClient returns langchaingo's real googleai client (the genai SDK's REST
// transport) pointed at s, with API key "test" and model "gemini-2.0-flash"; opts
// are applied after those. googleai has no base-URL option, so the SDK's own
// endpoint option (google.golang.org/api/option.WithEndpoint) names s.
//
// The SDK (generative-ai-go v0.15.1) also opens a gRPC client for cached contents,
// on the same endpoint, which its Close never closes: that connection's goroutines
// outlive the client (see GeminiLeaks). It dials only s's loopback address, so
// nothing leaves the machine.
func (s *Server) GeminiClient(opts ...googleai.Option) (*googleai.GoogleAI, error) {
	endpoint := func(o *googleai.Options) { o.ClientOptions = append(o.ClientOptions, option.WithEndpoint(s.URL)) }
	all := append([]googleai.Option{googleai.WithAPIKey("test"), endpoint,
		googleai.WithDefaultModel("gemini-2.0-flash")}, opts...)
	return googleai.New(context.Background(), all...)
}

// GeminiLeaks are the functions atop the goroutines that genai's unclosed gRPC
// cache client leaves behind (see GeminiClient), for goleak.IgnoreTopFunction.
var GeminiLeaks = []string{
	"google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run",
	"google.golang.org/grpc.(*addrConn).resetTransportAndUnlock",
	"google.golang.org/grpc.(*ccBalancerWrapper).watcher",
	"google.golang.org/grpc/internal/transport.(*http2Client).reader",
}
