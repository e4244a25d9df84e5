package geminiclient

import (
	"context"
	"fmt"
	"testing"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/googleai"
	"github.com/tmc/langchaingo/llms/googleai/vertex"
	"google.golang.org/api/option"

	"github.com/spendguard/spendguard/internal/realbills"
)

// ReplayClient returns langchaingo's real client for a Gemini record pointed at s (a
// realbills.NewServer for rec), with rec.Model as its default model:
// llms/googleai (the genai SDK's REST transport, API key "test") for a Gemini API
// record, llms/googleai/vertex (Vertex's SDK over REST, no credentials, project
// "test") for a Vertex AI one (realbills.Record.Vertex). It fails for a record of
// another provider and when the client cannot be built. The googleai client leaves
// goroutines behind (see New and Leaks); close a vertex client (*vertex.Vertex) when
// done.
func ReplayClient(rec *realbills.Record, s *realbills.Server) (llms.Model, error) {
	if rec.Provider != realbills.Gemini {
		return nil, fmt.Errorf("geminiclient: record %s is %s, not gemini", rec.ID, rec.Provider)
	}
	endpoint := func(o *googleai.Options) {
		o.ClientOptions = append(o.ClientOptions, option.WithEndpoint(s.URL), option.WithHTTPClient(s.HTTPClient()))
	}
	ctx := context.Background()
	if rec.Vertex() {
		noAuth := func(o *googleai.Options) { o.ClientOptions = append(o.ClientOptions, option.WithoutAuthentication()) }
		return vertex.New(ctx, googleai.WithRest(), endpoint, noAuth, googleai.WithCloudProject("test"),
			googleai.WithCloudLocation("global"), googleai.WithDefaultModel(rec.Model))
	}
	return googleai.New(ctx, googleai.WithAPIKey("test"), endpoint, googleai.WithDefaultModel(rec.Model))
}

// Replay serves rec (realbills.Serve) and returns its ReplayClient, failing t when
// there is none; a vertex client is closed when t's test ends.
func Replay(t testing.TB, rec *realbills.Record) (llms.Model, *realbills.Server) {
	t.Helper()
	s := realbills.Serve(t, rec)
	m, err := ReplayClient(rec, s)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m.(*vertex.Vertex); ok {
		t.Cleanup(func() { _ = v.Close() })
	}
	return m, s
}
