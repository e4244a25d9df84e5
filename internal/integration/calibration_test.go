package integration_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/llmwrap/exact"
)

// Bounds on the default estimator's error against o200k_base over the corpus in
// the estimate package's testdata/corpus (English, French/German and Russian prose, Go and Python code,
// JSON, a Markdown README, a tool-calling chat, Chinese and Japanese).
//
// The median bound is the estimator's promise. The worst-case bound is looser because
// the error of a tokenizer without its vocabulary is dominated by how common the words
// are: a text full of rare compounds, package names or rare CJK characters costs more
// tokens per character than the rates fitted on ordinary text, and one without them
// costs fewer. The rates were fitted on other text (3 KB chunks of Go and Python
// standard-library sources, module READMEs, Swagger JSON, CPython's CJK test texts):
// there the median error was 1-3% per category, the 90th percentile at most 5.5%,
// and the worst chunk 18% (a README listing package names such as "otlptracehttp").
// The corpus here was written apart from that; only the Chinese, Japanese and
// Russian rates were adjusted after looking at it (CPython's texts are few and old).
// 25% leaves that room and still fails if a class of text were mis-costed wholesale.
// Deliberately rare text (CPython's random Hangul syllables) is off by half; a budget
// absorbs that as a larger settle.
const (
	calibMedianBound = 0.10
	calibWorstBound  = 0.25
)

type calibChat struct {
	Tools []struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"tools"`
	Messages []struct {
		Role      string `json:"role"`
		Text      string `json:"text"`
		ToolCalls []struct {
			ID, Name, Arguments string
		} `json:"tool_calls"`
		ToolResult *struct {
			ID, Name, Content string
		} `json:"tool_result"`
	} `json:"messages"`
}

// loadCalibChat turns the corpus' chat transcript into langchaingo messages and tool
// definitions, as an agent would send them.
func loadCalibChat(t *testing.T) ([]llms.MessageContent, *llms.CallOptions) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusDir, "chat_tools.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c calibChat
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	opts := &llms.CallOptions{}
	for _, tool := range c.Tools {
		var params map[string]any
		if err := json.Unmarshal(tool.Parameters, &params); err != nil {
			t.Fatal(err)
		}
		opts.Tools = append(opts.Tools, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
			Name: tool.Name, Description: tool.Description, Parameters: params}})
	}
	var msgs []llms.MessageContent
	for _, m := range c.Messages {
		mc := llms.MessageContent{Role: llms.ChatMessageType(m.Role)}
		if m.Text != "" {
			mc.Parts = append(mc.Parts, llms.TextPart(m.Text))
		}
		for _, tc := range m.ToolCalls {
			mc.Parts = append(mc.Parts, llms.ToolCall{ID: tc.ID, Type: "function",
				FunctionCall: &llms.FunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
		}
		if r := m.ToolResult; r != nil {
			mc.Parts = append(mc.Parts, llms.ToolCallResponse{ToolCallID: r.ID, Name: r.Name, Content: r.Content})
		}
		msgs = append(msgs, mc)
	}
	return msgs, opts
}

func TestEstimateCalibration(t *testing.T) {
	ex, err := exact.New()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(corpusDir, "*"))
	if err != nil || len(files) < 5 {
		t.Fatalf("corpus: %d files, %v", len(files), err)
	}
	type sample struct {
		name         string
		exact, guess uint64
		err          float64
	}
	var samples []sample
	add := func(name string, exactN, guess uint64) {
		if exactN == 0 {
			t.Fatalf("%s: exact count 0", name)
		}
		samples = append(samples, sample{name, exactN, guess, (float64(guess) - float64(exactN)) / float64(exactN)})
	}
	var chunkErrs []float64 // 1 KB pieces: shorter prompts, where errors average out less
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		add(filepath.Base(f), ex.CountText(string(data)), estimate.Text(string(data)))
		for s := string(data); len(s) >= 256; {
			n := min(len(s), 1024)
			for n < len(s) && !utf8.RuneStart(s[n]) {
				n++
			}
			c, g := ex.CountText(s[:n]), estimate.Text(s[:n])
			chunkErrs = append(chunkErrs, math.Abs(float64(g)-float64(c))/float64(c))
			s = s[n:]
		}
	}
	msgs, opts := loadCalibChat(t)
	add("chat_tools.json as messages+tools", ex.Estimate(msgs, opts), estimate.Default().Estimate(msgs, opts))

	abs := make([]float64, len(samples))
	for i, s := range samples {
		abs[i] = math.Abs(s.err)
		t.Logf("%-36s exact %5d  default %5d  error %+6.1f%%", s.name, s.exact, s.guess, 100*s.err)
	}
	check := func(what string, abs []float64) {
		slices.Sort(abs)
		median := abs[len(abs)/2]
		if len(abs)%2 == 0 {
			median = (abs[len(abs)/2-1] + abs[len(abs)/2]) / 2
		}
		worst := abs[len(abs)-1]
		t.Logf("%s: median |error| %.1f%% (bound %.0f%%), worst %.1f%% (bound %.0f%%), %d samples",
			what, 100*median, 100*calibMedianBound, 100*worst, 100*calibWorstBound, len(abs))
		if median > calibMedianBound {
			t.Errorf("%s: median relative error %.1f%% > %.0f%%", what, 100*median, 100*calibMedianBound)
		}
		if worst > calibWorstBound {
			t.Errorf("%s: worst relative error %.1f%% > %.0f%%", what, 100*worst, 100*calibWorstBound)
		}
	}
	check("whole files", abs)
	check("1 KB chunks", chunkErrs)
}

// Every category of the corpus is present, so that the bounds above are about
// varied text and not about whichever files happen to be there.
func TestCalibrationCorpusCategories(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*"))
	for _, want := range []string{"prose_en", "code_go", "code_python", "api_response.json", "chat_tools.json", "cjk_zh", "cjk_ja", "mixed", "prose_ru"} {
		if !slices.ContainsFunc(files, func(f string) bool { return strings.Contains(filepath.Base(f), want) }) {
			t.Errorf("corpus lacks %s", want)
		}
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Size() < 2000 {
			t.Errorf("%s: want a few KB of text", f)
		}
	}
}

// corpusDir is llmwrap/estimate's calibration corpus (this test moved here from
// there: it needs llmwrap/exact, whose tokenizer files no user of estimate should
// download).
var corpusDir = filepath.Join("..", "..", "llmwrap", "estimate", "testdata", "corpus")
