package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/tmc/langchaingo/embeddings"

	"github.com/spendguard/spendguard/internal/providertest"
)

// The embedding model of -scenario rag: a made-up one at scriptedPrices, or, with
// -prices, OpenAI's text-embedding-3-small at the file's rate. The scripted server
// answers either (its /v1/embeddings, OpenAI's wire).
const (
	scriptedEmbedModel  = "scripted-embedding"
	priceFileEmbedModel = "text-embedding-3-small"
)

// ragDocuments are what -scenario rag retrieves from: a few notes on spendguard, each
// embedded once (ragBatch to a request, as embeddings.NewEmbedder batches them).
var ragDocuments = []string{
	"A budget reserves an estimate of each call before it is sent and settles it with the usage the provider reports.",
	"A call the budget cannot pay for is denied before it is sent, with budget.ErrDenied.",
	"The loop guard refuses a tool call repeated with the same arguments and the same result.",
	"A price table counts the budget in micro-dollars per million tokens, cache reads and writes included.",
	"A rate limit makes a call wait for tokens instead of failing.",
	"Each call is traced as a span with the tokens and the money it was charged.",
}

// ragQuestion is what the agent is asked, with the passages retrieved for it.
const ragQuestion = "What happens to a call the budget cannot pay for?"

const (
	ragBatch = 2 // texts per embeddings request
	ragTopK  = 2 // passages retrieved
)

// retrieve embeds ragDocuments and ragQuestion through langchaingo's embedder over
// client (one request per ragBatch documents, then one for the question) and
// returns the ragTopK documents nearest the question by cosine similarity, nearest
// first. An embedding call's error (a budget's denial) is returned as it is.
func retrieve(ctx context.Context, client embeddings.EmbedderClient) ([]string, error) {
	emb, err := embeddings.NewEmbedder(client, embeddings.WithBatchSize(ragBatch))
	if err != nil {
		return nil, err
	}
	docs, err := emb.EmbedDocuments(ctx, ragDocuments)
	if err != nil {
		return nil, err
	}
	q, err := emb.EmbedQuery(ctx, ragQuestion)
	if err != nil {
		return nil, err
	}
	if len(docs) != len(ragDocuments) {
		return nil, fmt.Errorf("the embedder returned %d vectors for %d documents", len(docs), len(ragDocuments))
	}
	order := make([]int, len(docs))
	score := make([]float64, len(docs))
	for i, d := range docs {
		order[i], score[i] = i, cosine(q, d)
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case score[a] > score[b]:
			return -1
		case score[a] < score[b]:
			return 1
		}
		return 0
	})
	out := make([]string, 0, ragTopK)
	for _, i := range order[:ragTopK] {
		out = append(out, ragDocuments[i])
	}
	return out, nil
}

// cosine is the cosine similarity of a and b (0 when either is zero or their
// lengths differ).
func cosine(a, b []float32) float64 {
	if len(a) != len(b) {
		return 0
	}
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// ragTask is the agent's input: the question and the passages retrieved for it.
func ragTask(passages []string) string {
	var b strings.Builder
	b.WriteString("Answer the question from the passages.\n")
	for i, p := range passages {
		fmt.Fprintf(&b, "Passage %d: %s\n", i+1, p)
	}
	b.WriteString("Question: " + ragQuestion)
	return b.String()
}

// ragScript plays the model of -scenario rag: an embeddings request is answered with
// the server's vectors (usage: the texts' size in tokens, about four bytes each,
// which langchaingo's client drops); a chat request with a final answer quoting the
// first passage of the prompt, as a text (the functions agent) or in the MRKL
// format.
func ragScript(req providertest.Request) providertest.Reply {
	if strings.HasSuffix(req.Path, "/embeddings") {
		return providertest.Reply{Usage: &providertest.Usage{Prompt: (len(req.Body) + 3) / 4}}
	}
	answer := "The passages do not say."
	body := string(req.Body)
	if i := strings.Index(body, "Passage 1: "); i >= 0 {
		p := body[i+len("Passage 1: "):]
		if j := strings.Index(p, `\n`); j >= 0 { // the end of the line, JSON-escaped
			answer = "From the passages: " + p[:j]
		}
	}
	r := providertest.Reply{Text: answer}
	if req.Tools == 0 {
		r.Text = "Thought: I now know the final answer\nFinal Answer: " + answer
	}
	r.Usage = &providertest.Usage{Prompt: (len(req.Body) + 3) / 4, Completion: (len(r.Text) + 3) / 4}
	return r
}
