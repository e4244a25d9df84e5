package llmwrap

import (
	"context"
	"errors"
	"fmt"

	"github.com/tmc/langchaingo/embeddings"
	"github.com/tmc/langchaingo/llms"
)

// operationEmbeddings is Spend.Operation for a batch sent through WrapEmbedder (the
// GenAI conventions' gen_ai.operation.name "embeddings").
const operationEmbeddings = "embeddings"

var (
	errNilEmbedder = errors.New("llmwrap: WrapEmbedder was given a nil client")
	errNoBatch     = errors.New("llmwrap: the embedding step got a context not derived from WrapEmbedder's")
)

// embedBatch is what one WrapEmbedder call carries past the middleware: the texts to
// embed and, once the client answered, their vectors.
type embedBatch struct {
	texts   []string
	vectors [][]float32
}

// WrapEmbedder returns c decorated by mws, the middleware a model takes, mws[0]
// outermost, so that embeddings are budgeted, refused and traced like model calls.
// Each CreateEmbedding is one call with a Spend of its own whose Operation is
// "embeddings": one batch, as langchaingo's embeddings.NewEmbedder sends them
// (EmbedDocuments one per BatchSize texts, EmbedQuery one of one text) and the vector
// stores call them. The middleware see the batch as one human message with a text part
// per text, which a budget reserves as a prompt with no completion; the texts as given
// are then embedded. Name the model first, as for a model: WithModelName.
//
// langchaingo v0.1.14's embedding clients drop the usage their provider reports, so
// the model step records the call as Sent with no usage (UsageMissing MissingAll): a
// budget charges its prompt estimate, marked UsageEstimated (give it llmwrap/exact's
// cl100k estimator for OpenAI's embedding models to count the texts with their
// tokenizer).
//
// The result is safe for concurrent use when c is. A nil c gives a client whose calls
// return an error; nil middleware are skipped; a nil context is replaced by
// context.Background.
func WrapEmbedder(c embeddings.EmbedderClient, mws ...Middleware) embeddings.EmbedderClient {
	e := &embedder{typ: fmt.Sprintf("%T", c)}
	gen := embedStep(c)
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] != nil {
			gen = mws[i](gen)
		}
	}
	e.gen = gen
	return e
}

type embedder struct {
	gen GenerateFunc
	typ string
}

// CreateEmbedding runs the middleware chain for one batch of texts.
func (e *embedder) CreateEmbedding(ctx context.Context, texts []string) ([][]float32, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	c := &embedContext{spendContext: spendContext{Context: ctx}, batch: embedBatch{texts: texts}}
	c.spend.init(e.typ, nil)
	c.spend.Operation = operationEmbeddings
	parts := make([]llms.ContentPart, len(texts))
	for i, t := range texts {
		parts[i] = llms.TextContent{Text: t}
	}
	_, err := e.gen(c, []llms.MessageContent{{Role: llms.ChatMessageTypeHuman, Parts: parts}})
	c.spend.Err = err
	c.spend.done(c)
	return c.batch.vectors, err
}

type embedKey struct{}

// embedContext is a spendContext that also carries the batch, for the model step: a
// chat call's Spend has no room for it.
type embedContext struct {
	spendContext
	batch embedBatch
}

func (c *embedContext) Value(key any) any {
	if key == (embedKey{}) {
		return &c.batch
	}
	return c.spendContext.Value(key)
}

// embedStep is the model step of an embedder: it embeds the call's texts and records
// that the client was called, with no usage (langchaingo's clients return none).
func embedStep(client embeddings.EmbedderClient) GenerateFunc {
	return func(ctx context.Context, _ []llms.MessageContent, _ ...llms.CallOption) (*llms.ContentResponse, error) {
		if client == nil {
			return nil, errNilEmbedder
		}
		s := SpendFrom(ctx)
		batch, _ := ctx.Value(embedKey{}).(*embedBatch)
		if s == nil || batch == nil {
			return nil, errNoBatch
		}
		s.Sent = true
		vectors, err := client.CreateEmbedding(ctx, batch.texts)
		batch.vectors = vectors
		if err != nil {
			return nil, err
		}
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{{}}}, nil
	}
}
