package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/price"
)

// TestRAGScenario: -scenario rag embeds the documents in batches of ragBatch and the
// question through langchaingo's embedder against the scripted server's
// /v1/embeddings, each batch a call of the report with operation "embeddings",
// charged its estimate (the client drops the usage) at the embedding model's price;
// then the agent answers from the passages retrieved.
func TestRAGScenario(t *testing.T) {
	for _, tc := range []struct {
		name, embedModel string
		args             []string
		prices           price.Table
	}{
		{"tokens", scriptedEmbedModel, nil, nil},
		{"money", scriptedEmbedModel, []string{"-money"}, scriptedPrices},
		{"prices", priceFileEmbedModel, []string{"-money", "-prices", liteLLMFile, "-model", "gpt-4o"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, _ := runJSON(t, append([]string{"-scenario", "rag"}, tc.args...)...)
			if tc.name == "prices" {
				tc.prices = mustLoad(t)
			}
			wantBatches := []int{2, 2, 2, 1} // six documents, then the question
			if rep.StoppedBy != stoppedByFinish || len(rep.Calls) != len(wantBatches)+1 {
				t.Fatalf("stopped by %q after %d calls; want finished after %d\n%+v", rep.StoppedBy, len(rep.Calls), len(wantBatches)+1, rep.Calls)
			}
			if len(rep.Retrieved) != ragTopK || rep.Retrieved[0] != ragDocuments[1] {
				t.Errorf("retrieved %q; want %d passages, the one on denials first", rep.Retrieved, ragTopK)
			}
			if !strings.Contains(rep.Answer, ragDocuments[1]) {
				t.Errorf("answer %q does not quote the passage retrieved", rep.Answer)
			}
			var charged uint64
			for i, c := range rep.Calls {
				charged += c.Charged
				if i == len(wantBatches) {
					if c.Operation != "" || !c.Sent || c.UsageSource != string(llmwrap.UsageReported) {
						t.Errorf("the agent's call: %+v; want a chat call, sent, usage reported", c)
					}
					continue
				}
				if c.Operation != "embeddings" || c.Model != tc.embedModel || !c.Sent || c.Denied ||
					c.UsageSource != string(llmwrap.UsageEstimated) || c.CompletionTokens != 0 || c.PromptTokens == 0 {
					t.Errorf("call %d: %+v; want an embeddings call of %s, sent, charged its estimate", c.Call, c, tc.embedModel)
				}
				want := c.PromptTokens
				if tc.prices != nil {
					want = tc.prices.Cost(tc.embedModel, llmwrap.Usage{PromptTokens: c.PromptTokens})
				}
				if c.Charged != want || want == 0 {
					t.Errorf("call %d: %d tokens charged %d; want %d", c.Call, c.PromptTokens, c.Charged, want)
				}
			}
			if rep.Consumed != charged {
				t.Errorf("consumed %d, the calls were charged %d", rep.Consumed, charged)
			}
		})
	}
	// What the server received: the batches, in order, as the OpenAI wire says.
	_, rec, err := runScripted(t, "-json", "-scenario", "rag")
	if err != nil {
		t.Fatal(err)
	}
	var batches []int
	for _, r := range rec.hook.Server.Requests() {
		if strings.HasSuffix(r.Path, "/embeddings") {
			batches = append(batches, r.Messages)
			if r.Model != scriptedEmbedModel {
				t.Errorf("embeddings request for model %q, want %q", r.Model, scriptedEmbedModel)
			}
		}
	}
	if len(batches) != 4 || batches[0] != 2 || batches[3] != 1 {
		t.Errorf("the server received embedding batches of %v texts; want [2 2 2 1]", batches)
	}
}

func mustLoad(t *testing.T) price.Table {
	t.Helper()
	tab, err := loadPrices(liteLLMFile, priceFileEmbedModel)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// TestRAGDeniedAtEmbedding: a budget that pays for the first batch but not the
// second stops the run at the second embedding call, which is never sent: the server
// received the first batch only, and neither the rest nor any chat request.
func TestRAGDeniedAtEmbedding(t *testing.T) {
	full, _ := runJSON(t, "-scenario", "rag")
	first := full.Calls[0].Charged
	out, rec, err := runScripted(t, "-json", "-scenario", "rag", "-budget", strconv.FormatUint(first+1, 10))
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-json: %v\n%s", err, out)
	}
	if rep.StoppedBy != stoppedByBudget || rep.Denial == nil || len(rep.Calls) != 2 {
		t.Fatalf("stopped by %q, denial %+v, %d calls; want the budget, at call 2\n%s", rep.StoppedBy, rep.Denial, len(rep.Calls), out)
	}
	d := rep.Calls[1]
	if d.Operation != "embeddings" || !d.Denied || d.Sent || d.Charged != 0 {
		t.Errorf("call 2: %+v; want an embeddings call denied, not sent, charged nothing", d)
	}
	reqs := rec.hook.Server.Requests()
	if len(reqs) != 1 || !strings.HasSuffix(reqs[0].Path, "/embeddings") || reqs[0].Messages != ragBatch {
		t.Fatalf("the server received %d requests (%+v); want the first embedding batch only", len(reqs), reqs)
	}
	for _, doc := range ragDocuments[ragBatch:] {
		if strings.Contains(string(reqs[0].Body), doc) {
			t.Errorf("the server received %q, of a batch that was denied", doc)
		}
	}
	if rep.Consumed != first || rep.Remaining != 1 {
		t.Errorf("consumed %d, remaining %d; want %d and 1", rep.Consumed, rep.Remaining, first)
	}
}
