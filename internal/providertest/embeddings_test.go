package providertest_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/embeddings"
	"github.com/tmc/langchaingo/llms/openai"

	"github.com/spendguard/spendguard/internal/providertest"
)

// TestOpenAIEmbeddings: langchaingo's real embedder, over its real openai client,
// gets one vector per text in batches, and the server saw each batch's texts.
func TestOpenAIEmbeddings(t *testing.T) {
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Usage: &providertest.Usage{Prompt: 9}}))
	defer srv.Close()
	llm, err := srv.OpenAIClient(openai.WithEmbeddingModel("text-embedding-3-small"))
	if err != nil {
		t.Fatal(err)
	}
	emb, err := embeddings.NewEmbedder(llm, embeddings.WithBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"the cat sat", "on the mat", "dogs bark loudly"}
	vecs, err := emb.EmbedDocuments(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 3 {
		t.Fatalf("%d vectors", len(vecs))
	}
	for i, v := range vecs {
		want := providertest.Embedding(texts[i])
		if len(v) != providertest.EmbeddingDims || !equal(v, want) {
			t.Errorf("vector %d = %v, want %v", i, v, want)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].Messages != 2 || reqs[1].Messages != 1 || reqs[0].Model != "text-embedding-3-small" ||
		reqs[0].Path != "/embeddings" {
		t.Fatalf("requests = %+v", reqs)
	}
	var body struct{ Input []string }
	if err := json.Unmarshal(reqs[1].Body, &body); err != nil || len(body.Input) != 1 || body.Input[0] != "dogs bark loudly" {
		t.Errorf("second batch = %s (%v)", reqs[1].Body, err)
	}
	// Texts that share words are nearer each other than texts that do not.
	q := providertest.Embedding("where did the cat sit? on a mat")
	if cos(q, vecs[1]) <= cos(q, vecs[2]) {
		t.Errorf("similarity: mat %.3f, dogs %.3f", cos(q, vecs[1]), cos(q, vecs[2]))
	}
}

func TestOpenAIEmbeddingsErrors(t *testing.T) {
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Status: http.StatusTooManyRequests, Text: "slow down please"}))
	defer srv.Close()
	llm, _ := srv.OpenAIClient()
	_, err := llm.CreateEmbedding(context.Background(), []string{"x"})
	if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "slow down please") {
		t.Errorf("err = %v", err)
	}
	for _, body := range []string{`{`, `{"input": 3}`} {
		resp, err := srv.HTTPClient().Post(srv.URL+"/v1/embeddings", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", body, resp.StatusCode)
		}
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func cos(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}
