package sdktest_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/embeddings"
	"github.com/tmc/langchaingo/llms/openai"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/exact"
	"github.com/spendguard/spendguard/middleware"
	sgotel "github.com/spendguard/spendguard/otel"
	"github.com/spendguard/spendguard/price"
)

const embedModel = "text-embedding-3-small"

// embedTable prices text-embedding-3-small as LiteLLM's file does: $0.02 per million.
var embedTable = price.Table{embedModel: {Rates: price.Rates{Input: 20_000}}}

// embedder is langchaingo's real embedder over its real openai client, every batch
// wrapped by otel.Middleware and middleware.Budget (money, counted with the cl100k
// tokenizer OpenAI's embedding models use).
func embedder(t *testing.T, srv *providertest.Server, e *env, b budget.TokenBudget, spends *[]llmwrap.Spend) *embeddings.EmbedderImpl {
	t.Helper()
	llm, err := srv.OpenAIClient(openai.WithEmbeddingModel(embedModel))
	if err != nil {
		t.Fatal(err)
	}
	est := exact.Must(exact.ForModel(embedModel))
	client := llmwrap.WrapEmbedder(llm,
		llmwrap.WithModelName(embedModel),
		llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) { *spends = append(*spends, *s) }),
		sgotel.Middleware(e.opts(sgotel.WithPrices(embedTable))...),
		middleware.Budget(b, middleware.WithPrices(embedTable), middleware.WithEstimator(est)))
	emb, err := embeddings.NewEmbedder(client, embeddings.WithBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	return emb
}

// TestEmbeddingsBudgetedAndTraced: each batch langchaingo's embedder sends is reserved
// from the budget (no completion), settled at an estimate counted with the model's
// tokenizer and marked estimated (the client drops the usage), priced by the table,
// and traced as an "embeddings {model}" span with the spend attributes and metrics.
func TestEmbeddingsBudgetedAndTraced(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Usage: &providertest.Usage{Prompt: 7}}))
	defer srv.Close()
	b := budget.NewAtomic(1_000_000, budget.WithName("rag"))
	var spends []llmwrap.Spend
	emb := embedder(t, srv, e, b, &spends)
	texts := []string{"spendguard reserves before a call", "and settles after it", "embeddings are calls too"}
	vecs, err := emb.EmbedDocuments(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 3 || len(srv.Requests()) != 2 || len(spends) != 2 {
		t.Fatalf("%d vectors, %d requests, %d spends", len(vecs), len(srv.Requests()), len(spends))
	}
	est := exact.Must(exact.ForModel(embedModel))
	var total uint64
	for i, s := range spends {
		batch := texts[2*i : min(2*i+2, 3)]
		var counted uint64
		for _, tx := range batch {
			counted += est.CountText(tx)
		}
		c := s.Budget
		if s.Operation != "embeddings" || !s.Sent || s.UsageMissing != llmwrap.MissingAll || c == nil ||
			c.CompletionAllowance != 0 || c.UsageSource != llmwrap.UsageEstimated || c.Usage.CompletionTokens != 0 {
			t.Fatalf("batch %d: spend %+v, budget %+v", i, s, c)
		}
		// The tokenizer's count of the texts, plus OpenAI's message framing at most.
		if c.PromptEstimate < counted || c.PromptEstimate > counted+12 {
			t.Errorf("batch %d: prompt estimate %d, the texts are %d cl100k tokens", i, c.PromptEstimate, counted)
		}
		want := embedTable.Cost(embedModel, llmwrap.Usage{PromptTokens: c.PromptEstimate})
		if c.Estimate != want || c.Charged != want {
			t.Errorf("batch %d: estimate %d charged %d µ$, want %d", i, c.Estimate, c.Charged, want)
		}
		total += c.Charged
	}
	if snap, _ := b.Snapshot(context.Background()); snap.Consumed != total || snap.Held != 0 {
		t.Errorf("consumed %d held %d, want %d, 0", snap.Consumed, snap.Held, total)
	}

	ended := e.ended(t)
	if len(ended) != 2 {
		t.Fatalf("%d spans", len(ended))
	}
	for i, sp := range ended {
		a := attrs(sp.Attributes())
		c := spends[i].Budget
		if sp.Name() != "embeddings "+embedModel || a["gen_ai.operation.name"] != "embeddings" ||
			a["gen_ai.provider.name"] != "openai" || a["spendguard.usage.source"] != "estimated" ||
			a["spendguard.charged.tokens"] != int64(c.Charged) || a["gen_ai.usage.input_tokens"] != int64(c.PromptEstimate) ||
			a["spendguard.cost.usd"] != float64(c.Charged)/1e6 || a["spendguard.budget.name"] != "rag" {
			t.Errorf("span %d %q: %v", i, sp.Name(), a)
		}
	}
	tok, ok := findMetric(e.collect(t), "gen_ai.client.token.usage")
	if !ok {
		t.Fatal("no token usage metric")
	}
	var inputs int64
	for _, p := range tok.Data.(metricdata.Histogram[int64]).DataPoints {
		pa := setAttrs(p.Attributes)
		if pa["gen_ai.operation.name"] != "embeddings" || pa["gen_ai.request.model"] != embedModel {
			t.Errorf("token point %v", pa)
		}
		if pa["gen_ai.token.type"] == "input" {
			inputs += p.Sum
		}
	}
	if inputs != int64(spends[0].Budget.PromptEstimate+spends[1].Budget.PromptEstimate) {
		t.Errorf("input tokens recorded %d", inputs)
	}
}

// TestEmbeddingsDenied: a batch the budgets cannot cover (here the context's, joined
// all-or-nothing with the middleware's) is refused with budget.ErrDenied before it is
// sent, traced as a denied embeddings span, and holds nothing.
func TestEmbeddingsDenied(t *testing.T) {
	e := newEnv(t)
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{}))
	defer srv.Close()
	own := budget.NewAtomic(1_000_000, budget.WithName("team"))
	run := budget.NewAtomic(1, budget.WithName("run")) // 1 µ$: less than any batch
	var spends []llmwrap.Spend
	emb := embedder(t, srv, e, own, &spends)
	_, err := emb.EmbedDocuments(budget.NewContext(context.Background(), run), []string{strings.Repeat("a document that costs more than a micro-dollar to embed ", 20)})
	var d *budget.DeniedError
	if !errors.Is(err, budget.ErrDenied) || !errors.As(err, &d) || d.Budget != "run" {
		t.Fatalf("err = %v", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
	for _, b := range []*budget.Atomic{own, run} {
		if snap, _ := b.Snapshot(context.Background()); snap.Consumed != 0 || snap.Held != 0 {
			t.Errorf("%s: %+v", snap.Name, snap)
		}
	}
	sp := e.onlySpan(t)
	a := attrs(sp.Attributes())
	if sp.Name() != "embeddings "+embedModel || sp.Status().Code != codes.Error || a["error.type"] != "budget_denied" ||
		a["spendguard.budget.denied"] != true || len(spends) != 1 || spends[0].Sent {
		t.Errorf("span %q %v %v; spends %+v", sp.Name(), sp.Status(), a, spends)
	}
}
