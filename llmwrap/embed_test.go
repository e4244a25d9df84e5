package llmwrap_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tmc/langchaingo/embeddings"
	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

// lengths is an embedding client whose vector for a text is its length, recording
// the batches it got.
type lengths struct {
	mu      sync.Mutex
	batches [][]string
	err     error
}

func (l *lengths) CreateEmbedding(_ context.Context, texts []string) ([][]float32, error) {
	l.mu.Lock()
	l.batches = append(l.batches, texts)
	l.mu.Unlock()
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = []float32{float32(len(t))}
	}
	return out, l.err
}

// TestWrapEmbedder: a batch runs through the middleware as one call with a Spend of
// its own (Operation "embeddings", the texts as one human message's parts, the model
// named by WithModelName, Sent, no usage), and returns the client's vectors.
func TestWrapEmbedder(t *testing.T) {
	client := &lengths{}
	var seen []llms.MessageContent
	var spend llmwrap.Spend
	peek := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			seen = msgs
			return next(ctx, msgs, opts...)
		}
	}
	e := llmwrap.WrapEmbedder(client, llmwrap.WithModelName("text-embedding-3-small"),
		llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) { spend = *s }), nil, peek)
	emb, err := embeddings.NewEmbedder(e, embeddings.WithBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := emb.EmbedDocuments(context.Background(), []string{"a", "bb", "ccc"})
	if err != nil || fmt.Sprint(vecs) != "[[1] [2] [3]]" {
		t.Fatalf("vectors %v, %v", vecs, err)
	}
	if len(client.batches) != 2 || len(seen) != 1 || seen[0].Role != llms.ChatMessageTypeHuman ||
		fmt.Sprint(seen[0].Parts) != "[ccc]" {
		t.Errorf("batches %v, last messages seen %v", client.batches, seen)
	}
	if spend.Operation != "embeddings" || spend.Model != "text-embedding-3-small" || spend.ModelType != "*llmwrap_test.lengths" ||
		!spend.Sent || spend.UsageMissing != llmwrap.MissingAll || spend.Err != nil {
		t.Errorf("spend %+v", spend)
	}
	// A model's calls are not embeddings.
	var chat llmwrap.Spend
	m := llmwrap.Wrap(fixedResp{resp: &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "hi"}}}}, llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) { chat = *s }))
	if _, err := m.GenerateContent(context.Background(), nil); err != nil || chat.Operation != "" {
		t.Errorf("chat operation %q, %v", chat.Operation, err)
	}
}

// TestWrapEmbedderRefusedAndFailing: a middleware that refuses a batch keeps it from
// the client; the client's error (and whatever vectors came with it) is returned as
// it is; a nil client and a nil context are handled.
func TestWrapEmbedderRefusedAndFailing(t *testing.T) {
	client := &lengths{}
	no := errors.New("no")
	refuse := func(llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
			return nil, no
		}
	}
	var spend llmwrap.Spend
	e := llmwrap.WrapEmbedder(client, llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) { spend = *s }), refuse)
	if vecs, err := e.CreateEmbedding(context.Background(), []string{"x"}); !errors.Is(err, no) || vecs != nil ||
		len(client.batches) != 0 || spend.Sent || !errors.Is(spend.Err, no) {
		t.Errorf("refused: %v, %v, %d batches, spend %+v", vecs, err, len(client.batches), spend)
	}
	client.err = errors.New("unexpected response length")
	//nolint:staticcheck // a nil context is replaced, as Wrap does
	vecs, err := llmwrap.WrapEmbedder(client).CreateEmbedding(nil, []string{"xy"})
	if err != client.err || fmt.Sprint(vecs) != "[[2]]" {
		t.Errorf("failing client: %v, %v", vecs, err)
	}
	if _, err := llmwrap.WrapEmbedder(nil).CreateEmbedding(context.Background(), []string{"x"}); err == nil ||
		!strings.Contains(err.Error(), "nil client") {
		t.Errorf("nil client: %v", err)
	}
	// A middleware that calls on with a context of its own, not derived from the
	// call's, cannot reach the batch: an error, not a panic.
	detach := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(_ context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			return next(context.Background(), msgs, opts...)
		}
	}
	if _, err := llmwrap.WrapEmbedder(client, detach).CreateEmbedding(context.Background(), []string{"x"}); err == nil {
		t.Error("detached context: no error")
	}
}

// A budget sees each batch an embedder sends as a call: here a middleware that
// counts the texts of every batch.
func ExampleWrapEmbedder() {
	client := embeddings.EmbedderClientFunc(func(_ context.Context, texts []string) ([][]float32, error) {
		return make([][]float32, len(texts)), nil // your provider's client: openai.New(...), say
	})
	var texts int
	count := func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			texts += len(msgs[0].Parts)
			return next(ctx, msgs, opts...)
		}
	}
	wrapped := llmwrap.WrapEmbedder(client, llmwrap.WithModelName("text-embedding-3-small"),
		llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) { fmt.Println(s.Operation, s.Model, s.Sent) }),
		count) // in a real program: otel.Middleware(), middleware.Budget(b, ...)
	emb, _ := embeddings.NewEmbedder(wrapped, embeddings.WithBatchSize(2))
	_, _ = emb.EmbedDocuments(context.Background(), []string{"one", "two", "three"})
	fmt.Println(texts, "texts")
	// Output:
	// embeddings text-embedding-3-small true
	// embeddings text-embedding-3-small true
	// 3 texts
}
