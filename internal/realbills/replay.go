package realbills

import (
	"context"
	"fmt"
	"testing"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/openai"
)

// Client returns langchaingo's real client for rec's provider pointed at s:
// llms/openai for OpenAI and OpenAICompat records, llms/anthropic for Anthropic ones,
// each with token "test", rec.Model as its model and s's HTTP client. It fails for a
// Gemini record, whose clients are geminiclient's (see the package doc), and when
// the client cannot be built.
func Client(rec *Record, s *Server) (llms.Model, error) {
	switch rec.Provider {
	case OpenAI, OpenAICompat:
		return openai.New(openai.WithBaseURL(s.URL+"/v1"), openai.WithToken("test"),
			openai.WithModel(rec.Model), openai.WithHTTPClient(s.HTTPClient()))
	case Anthropic:
		return anthropic.New(anthropic.WithBaseURL(s.URL+"/v1"), anthropic.WithToken("test"),
			anthropic.WithModel(rec.Model), anthropic.WithHTTPClient(s.HTTPClient()))
	}
	return nil, fmt.Errorf("realbills: record %s (%s): no client here; Gemini records replay through geminiclient", rec.ID, rec.Provider)
}

// Replay serves rec (Serve) and returns its Client, failing t when there is none.
func Replay(t testing.TB, rec *Record) (llms.Model, *Server) {
	t.Helper()
	s := Serve(t, rec)
	m, err := Client(rec, s)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// Send rebuilds rec's call (Record.Call) and sends it through m, returning the
// response as langchaingo passes it on. An error rebuilding the call, or m's error,
// is returned.
func Send(ctx context.Context, m llms.Model, rec *Record) (*llms.ContentResponse, error) {
	c, err := rec.Call()
	if err != nil {
		return nil, err
	}
	return m.GenerateContent(ctx, c.Messages, c.Options...)
}
