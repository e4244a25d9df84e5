// Package geminiclient points langchaingo's real googleai client at a providertest
// Gemini server. It is a package of its own so that what imports providertest (the
// example agent among them) does not link the Gemini SDK and gRPC.
package geminiclient

import (
	"context"

	"github.com/tmc/langchaingo/llms/googleai"
	"google.golang.org/api/option"

	"github.com/spendguard/spendguard/internal/providertest"
)

// New returns langchaingo's real googleai client (the genai SDK's REST
// transport) pointed at s, with API key "test" and model "gemini-2.0-flash"; opts
// are applied after those. googleai has no base-URL option, so the SDK's own
// endpoint option (google.golang.org/api/option.WithEndpoint) names s.
//
// The SDK (generative-ai-go v0.15.1) also opens a gRPC client for cached contents,
// on the same endpoint, which its Close never closes: that connection's goroutines
// outlive the client (see Leaks). It dials only s's loopback address, so
// nothing leaves the machine.
func New(s *providertest.Server, opts ...googleai.Option) (*googleai.GoogleAI, error) {
	endpoint := func(o *googleai.Options) { o.ClientOptions = append(o.ClientOptions, option.WithEndpoint(s.URL)) }
	all := append([]googleai.Option{googleai.WithAPIKey("test"), endpoint,
		googleai.WithDefaultModel("gemini-2.0-flash")}, opts...)
	return googleai.New(context.Background(), all...)
}

// Leaks are the functions atop the goroutines that genai's unclosed gRPC
// cache client leaves behind (see New), for goleak.IgnoreTopFunction.
var Leaks = []string{
	"google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run",
	"google.golang.org/grpc.(*addrConn).resetTransportAndUnlock",
	"google.golang.org/grpc.(*ccBalancerWrapper).watcher",
	"google.golang.org/grpc/internal/transport.(*http2Client).reader",
}
