package geminitest_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/internal/providertest/billing"
	"github.com/spendguard/spendguard/internal/providertest/geminiclient"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/llmwrap/exact"
	"github.com/spendguard/spendguard/middleware"
)

// The prompt-estimate report (issue 10; here, not in middleware, because its Gemini
// scenario needs the googleai client): langchaingo's real clients send a varied
// workload (chats, agent turns with tools and tool results, images, prose, code,
// JSON, CJK) to providertest servers that bill each request the way its provider
// does (package billing: framing, hidden and tool prompts, image rules, a real BPE
// tokenizer). For every call it compares the static estimate (cold: what a model the
// middleware has not seen gets) and the calibrated one (after the model's earlier
// calls) with the billed prompt.
//
// Targets: cold median |error| ≤ 15 %; calibrated (from a model's 4th call of the
// same shape on: the calibration is per model and request shape, tools or not,
// images or not) median ≤ 5 %, token-weighted ≤ 10 %, no under-estimate worse than
// 25 %.
const (
	reportColdMedian    = 0.15
	reportCalMedian     = 0.05
	reportCalWeighted   = 0.10
	reportCalWorstUnder = 0.25
	// reportCalWorstUnderOtherTok bounds the under-estimate where the provider's
	// tokenizer is not the one the estimate models (Anthropic and Ollama, billed with
	// cl100k_base here): a Chinese, Japanese or Russian text costs up to half again as
	// many tokens there, by its language, which no per-model correction can know in
	// advance. The 25 % target holds for the o200k-billed providers.
	reportCalWorstUnderOtherTok = 0.35
	reportWarmup                = 3 // calls of a shape a model has made before its estimates of that shape count as calibrated
	reportCalls                 = 30
)

type reportScenario struct {
	name     string
	provider estimate.Provider
	start    func(providertest.Script) *providertest.Server
	client   func(*providertest.Server) (llms.Model, error)
	bill     func([]byte) int
	tools    bool // the client sends tool definitions and tool messages
	otherTok bool // billed with a tokenizer other than o200k_base
	images   bool
	model    string
}

func reportScenarios() []reportScenario {
	openaiClient := func(s *providertest.Server) (llms.Model, error) { return s.OpenAIClient() }
	return []reportScenario{
		{name: "openai gpt-4o", provider: estimate.OpenAI, start: providertest.NewOpenAI, client: openaiClient,
			bill: billing.Biller{}.OpenAI, tools: true, images: true, model: "gpt-4o"},
		// An OpenAI-compatible router that adds a hidden system prompt (the issue
		// measured 612 tokens billed for a 10-token message).
		{name: "router llama-3.1-70b (+612 hidden)", provider: estimate.OpenAI, start: providertest.NewOpenAI,
			client: openaiClient, bill: billing.Biller{HiddenPrompt: 612}.OpenAI, tools: true, model: "meta-llama/llama-3.1-70b-instruct"},
		{name: "anthropic claude-sonnet-4", provider: estimate.Anthropic, start: providertest.NewAnthropic,
			client: func(s *providertest.Server) (llms.Model, error) { return s.AnthropicClient() },
			bill:   billing.Biller{}.Anthropic, tools: true, images: true, otherTok: true, model: "claude-sonnet-4-20250514"},
		{name: "anthropic claude-3-haiku", provider: estimate.Anthropic, start: providertest.NewAnthropic,
			client: func(s *providertest.Server) (llms.Model, error) { return s.AnthropicClient() },
			bill:   billing.Biller{}.Anthropic, tools: true, otherTok: true, model: "claude-3-haiku-20240307"},
		{name: "gemini-2.0-flash", provider: estimate.Gemini, start: providertest.NewGemini,
			client: func(s *providertest.Server) (llms.Model, error) { return geminiclient.New(s) },
			bill:   billing.Biller{}.Gemini, tools: true, images: true, model: "gemini-2.0-flash"},
		{name: "ollama llama3.2", provider: estimate.Ollama, start: providertest.NewOllama,
			client: func(s *providertest.Server) (llms.Model, error) { return s.OllamaClient() },
			bill:   billing.Biller{}.Ollama, images: true, otherTok: true, model: "llama3.2"},
	}
}

// reportTexts are pieces of the calibration corpus, split at line ends.
func reportTexts(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "llmwrap", "estimate", "testdata", "corpus", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("corpus: %v", err)
	}
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(data))
	}
	return out
}

// piece is a run of whole lines of about n bytes from a random corpus file.
func piece(rng *rand.Rand, texts []string, n int) string {
	s := texts[rng.IntN(len(texts))]
	if n >= len(s) {
		return s
	}
	i := rng.IntN(len(s) - n)
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 && i+j+1 < len(s) {
		i += j + 1
	}
	end := min(len(s), i+n)
	if j := strings.LastIndexByte(s[i:end], '\n'); j > 0 {
		end = i + j
	}
	return strings.ToValidUTF8(s[i:end], "")
}

func reportPNG(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x00\x00\x00\x00\x00\x08\x06\x00\x00\x00")
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	return b
}

var reportTools = []llms.Tool{
	{Type: "function", Function: &llms.FunctionDefinition{
		Name: "search_docs", Description: "Search the documentation for a query and return the best passages.",
		Parameters: map[string]any{"type": "object", "properties": map[string]any{
			"query": map[string]any{"type": "string", "description": "What to look for."},
			"limit": map[string]any{"type": "integer", "description": "How many passages to return."},
		}, "required": []any{"query"}}}},
	{Type: "function", Function: &llms.FunctionDefinition{
		Name: "get_weather", Description: "Get the current weather in a given location.",
		Parameters: map[string]any{"type": "object", "properties": map[string]any{
			"location": map[string]any{"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
			"unit":     map[string]any{"type": "string", "enum": []any{"celsius", "fahrenheit"}},
		}, "required": []any{"location"}}}},
}

// reportCall builds the i-th request of a scenario: a conversation that grows like an
// agent's, with a system prompt, text of every kind, tool turns and images.
func reportCall(rng *rand.Rand, texts []string, sc reportScenario, i int) ([]llms.MessageContent, []llms.CallOption) {
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeSystem, piece(rng, texts, 80+rng.IntN(600)))}
	var opts []llms.CallOption
	withTools := sc.tools && rng.IntN(2) == 0
	if withTools {
		opts = append(opts, llms.WithTools(reportTools[:1+rng.IntN(len(reportTools))]))
	}
	turns := 1 + rng.IntN(4)
	for k := range turns {
		msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeHuman, piece(rng, texts, 20+rng.IntN(1500))))
		if withTools && k%2 == 0 {
			id := fmt.Sprintf("call_%d_%d", i, k)
			msgs = append(msgs,
				llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{llms.ToolCall{ID: id, Type: "function",
					FunctionCall: &llms.FunctionCall{Name: "search_docs", Arguments: `{"query":"budget reservations","limit":3}`}}}},
				llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{
					ToolCallID: id, Name: "search_docs", Content: piece(rng, texts, 100+rng.IntN(1200))}}},
				llms.TextParts(llms.ChatMessageTypeAI, piece(rng, texts, 40+rng.IntN(300))))
			continue
		}
		if k < turns-1 {
			msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeAI, piece(rng, texts, 40+rng.IntN(600))))
		}
	}
	// An image goes with the user's last message: langchaingo's anthropic client
	// sends only the first part of an assistant or tool message.
	if last := &msgs[len(msgs)-1]; sc.images && last.Role == llms.ChatMessageTypeHuman && rng.IntN(3) == 0 {
		w, h := uint32(200+rng.IntN(1800)), uint32(200+rng.IntN(1800))
		if sc.provider == estimate.OpenAI {
			url := "data:image/png;base64," + base64.StdEncoding.EncodeToString(reportPNG(w, h))
			last.Parts = append(last.Parts, llms.ImageURLContent{URL: url})
		} else {
			last.Parts = append(last.Parts, llms.BinaryContent{MIMEType: "image/png", Data: reportPNG(w, h)})
		}
	}
	return msgs, append(opts, llms.WithModel(sc.model))
}

type reportRow struct {
	scenario      string
	call          int // the call's rank among its scenario's calls of its shape
	billed        float64
	before        float64 // the default estimator without provider rules (as before issue 10)
	cold, calib   float64 // default estimator
	coldX, calibX float64 // exact estimator
}

func relErr(est, billed float64) float64 { return (est - billed) / billed }

func TestPromptEstimateReport(t *testing.T) {
	if testing.Short() {
		t.Skip("the report drives 150 real client calls") // `make test` does not pass -short
	}
	texts := reportTexts(t)
	ex, err := exact.New()
	if err != nil {
		t.Fatal(err)
	}
	var rows []reportRow
	for si, sc := range reportScenarios() {
		srv := sc.start(func(r providertest.Request) providertest.Reply {
			return providertest.Reply{Text: "OK.", Usage: &providertest.Usage{Prompt: sc.bill(r.Body), Completion: 2}}
		})
		llm, err := sc.client(srv)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(si), 10))
		// The same calls through two budget middleware, the default estimator's and
		// the exact one's; each calibrates on its own.
		var sd, sx llmwrap.Spend
		big := func() *budget.Atomic { return budget.NewAtomic(1 << 40) }
		withDefault := llmwrap.Wrap(llm, capture(&sd), middleware.Budget(big()))
		withExact := llmwrap.Wrap(llm, capture(&sx), middleware.Budget(big(), middleware.WithEstimator(ex)))
		var ofShape [4]int // calls so far by shape (tools, images)
		for i := range reportCalls {
			msgs, opts := reportCall(rng, texts, sc, i)
			for _, m := range []llms.Model{withDefault, withExact} {
				if _, err := m.GenerateContent(context.Background(), msgs, opts...); err != nil {
					t.Fatalf("%s call %d: %v", sc.name, i, err)
				}
			}
			for _, s := range []*llmwrap.Spend{&sd, &sx} {
				if s.UsageMissing&llmwrap.MissingPrompt != 0 || estimate.ProviderOf(s.ModelType) != sc.provider {
					t.Fatalf("%s call %d: usage %+v (missing %b), model type %s", sc.name, i, s.Usage, s.UsageMissing, s.ModelType)
				}
			}
			if sd.Usage.PromptTokens != sx.Usage.PromptTokens {
				t.Fatalf("%s call %d: billed %d then %d for the same request", sc.name, i, sd.Usage.PromptTokens, sx.Usage.PromptTokens)
			}
			d, x := sd.Budget, sx.Budget
			if os.Getenv("REPORT_ROWS") != "" {
				t.Logf("%s #%d billed %d static %d calibrated %d", sc.name, i, sd.Usage.PromptTokens, d.PromptEstimateRaw, d.PromptEstimate)
			}
			var co llms.CallOptions
			for _, o := range opts {
				o(&co)
			}
			before := estimate.Default().Estimate(msgs, &co)
			sh := 0
			if len(co.Tools) > 0 {
				sh |= 1
			}
			for _, p := range msgs[len(msgs)-1].Parts {
				switch p.(type) {
				case llms.ImageURLContent, llms.BinaryContent:
					sh |= 2
				}
			}
			nth := ofShape[sh]
			ofShape[sh]++
			rows = append(rows, reportRow{sc.name, nth, float64(sd.Usage.PromptTokens), float64(before),
				float64(d.PromptEstimateRaw), float64(d.PromptEstimate), float64(x.PromptEstimateRaw), float64(x.PromptEstimate)})
		}
		if c, ok := llm.(interface{ Close() error }); ok {
			_ = c.Close()
		}
		srv.Close()
	}

	type stats struct{ median, weighted, worstUnder, worstOver float64 }
	summarize := func(sel func(reportRow) (est float64, ok bool)) stats {
		var abs []float64
		var sumAbs, sumBilled float64
		var s stats
		for _, r := range rows {
			est, ok := sel(r)
			if !ok {
				continue
			}
			e := relErr(est, r.billed)
			abs = append(abs, math.Abs(e))
			sumAbs += math.Abs(est - r.billed)
			sumBilled += r.billed
			s.worstUnder = max(s.worstUnder, -e)
			s.worstOver = max(s.worstOver, e)
		}
		slices.Sort(abs)
		s.median = abs[len(abs)/2]
		s.weighted = sumAbs / sumBilled
		return s
	}
	cold := func(r reportRow) (float64, bool) { return r.cold, true }
	calib := func(r reportRow) (float64, bool) { return r.calib, r.call >= reportWarmup }
	coldX := func(r reportRow) (float64, bool) { return r.coldX, true }
	calibX := func(r reportRow) (float64, bool) { return r.calibX, r.call >= reportWarmup }

	for _, sc := range reportScenarios() {
		only := func(f func(reportRow) (float64, bool)) func(reportRow) (float64, bool) {
			return func(r reportRow) (float64, bool) {
				v, ok := f(r)
				return v, ok && r.scenario == sc.name
			}
		}
		c, k := summarize(only(cold)), summarize(only(calib))
		t.Logf("%-36s cold median %5.1f%% weighted %5.1f%% under %5.1f%% | calibrated median %4.1f%% weighted %4.1f%% under %4.1f%% over %4.1f%%",
			sc.name, 100*c.median, 100*c.weighted, 100*c.worstUnder, 100*k.median, 100*k.weighted, 100*k.worstUnder, 100*k.worstOver)
	}
	b := summarize(func(r reportRow) (float64, bool) { return r.before, true })
	t.Logf("ALL before issue 10 (no provider rules, no calibration): median %.1f%%, token-weighted %.1f%%, worst under %.1f%%, worst over %.1f%%",
		100*b.median, 100*b.weighted, 100*b.worstUnder, 100*b.worstOver)
	for _, est := range []struct {
		name        string
		cold, calib func(reportRow) (float64, bool)
	}{{"default", cold, calib}, {"exact", coldX, calibX}} {
		c, k := summarize(est.cold), summarize(est.calib)
		t.Logf("ALL %-8s cold: median %.1f%%, token-weighted %.1f%%, worst under %.1f%% | calibrated: median %.1f%%, token-weighted %.1f%%, worst under %.1f%%, worst over %.1f%%",
			est.name, 100*c.median, 100*c.weighted, 100*c.worstUnder, 100*k.median, 100*k.weighted, 100*k.worstUnder, 100*k.worstOver)
		if c.median > reportColdMedian {
			t.Errorf("%s: cold median error %.1f%% > %.0f%%", est.name, 100*c.median, 100*reportColdMedian)
		}
		if k.median > reportCalMedian {
			t.Errorf("%s: calibrated median error %.1f%% > %.0f%%", est.name, 100*k.median, 100*reportCalMedian)
		}
		if k.weighted > reportCalWeighted {
			t.Errorf("%s: calibrated token-weighted error %.1f%% > %.0f%%", est.name, 100*k.weighted, 100*reportCalWeighted)
		}
		for _, sc := range reportScenarios() {
			k := summarize(func(r reportRow) (float64, bool) {
				v, ok := est.calib(r)
				return v, ok && r.scenario == sc.name
			})
			bound := reportCalWorstUnder
			if sc.otherTok {
				bound = reportCalWorstUnderOtherTok
			}
			if k.worstUnder > bound {
				t.Errorf("%s, %s: calibrated under-estimate %.1f%% > %.0f%%", est.name, sc.name, 100*k.worstUnder, 100*bound)
			}
		}
	}
}
