package estimate

// The estimator as it was before provider rules (issue 10), frozen here as the
// baseline its benchmarks compare with in the same run: the provider-aware
// EstimateFor must stay within 1.2x of it.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/tmc/langchaingo/llms"
)

type legacyAccounting struct {
	count  func(string) uint64
	borrow bool
}

var legacyDefault = legacyAccounting{count: Text, borrow: true}

func (a legacyAccounting) countBytes(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	if a.borrow {
		return a.count(unsafe.String(unsafe.SliceData(b), len(b)))
	}
	return a.count(string(b))
}

func (a legacyAccounting) Estimate(msgs []llms.MessageContent, opts *llms.CallOptions) uint64 {
	var n uint64
	for i := range msgs {
		m := &msgs[i]
		n += tokensPerMessage
		if m.Role != "" {
			n += a.count(string(m.Role))
		}
		for _, p := range m.Parts {
			n += a.part(p)
		}
	}
	if len(msgs) > 0 {
		n += tokensPerReply
	}
	if opts != nil {
		n += a.tools(opts)
	}
	return n
}

func (a legacyAccounting) part(p llms.ContentPart) uint64 {
	switch p := p.(type) {
	case nil:
		return 0
	case llms.TextContent:
		return a.count(p.Text)
	case *llms.TextContent:
		if p == nil {
			return 0
		}
		return a.count(p.Text)
	case llms.ImageURLContent:
		return legacyImageURLCost(p)
	case *llms.ImageURLContent:
		if p == nil {
			return 0
		}
		return legacyImageURLCost(*p)
	case llms.BinaryContent:
		return a.binary(p.MIMEType, p.Data)
	case *llms.BinaryContent:
		if p == nil {
			return 0
		}
		return a.binary(p.MIMEType, p.Data)
	case llms.ToolCall:
		return a.toolCall(&p)
	case *llms.ToolCall:
		if p == nil {
			return 0
		}
		return a.toolCall(p)
	case llms.ToolCallResponse:
		return a.toolResponse(&p)
	case *llms.ToolCallResponse:
		if p == nil {
			return 0
		}
		return a.toolResponse(p)
	default:
		return a.unknown(p)
	}
}

func (a legacyAccounting) toolCall(c *llms.ToolCall) uint64 {
	n := uint64(tokensPerToolUse)
	if f := c.FunctionCall; f != nil {
		n += a.count(f.Name) + a.count(f.Arguments)
	}
	return n
}

func (a legacyAccounting) toolResponse(r *llms.ToolCallResponse) uint64 {
	return tokensPerMessage + 1 + a.count(r.Name) + a.count(r.Content)
}

func (a legacyAccounting) unknown(p llms.ContentPart) (n uint64) {
	const guess = 4
	s, ok := p.(interface{ String() string })
	if !ok {
		return guess
	}
	defer func() {
		if recover() != nil {
			n = guess
		}
	}()
	return a.count(s.String())
}

func legacyImageURLCost(p llms.ImageURLContent) uint64 {
	if strings.EqualFold(p.Detail, "low") {
		return imageLowDetail
	}
	if w, h, ok := dataURLImageSize(p.URL); ok {
		return imageTiles(w, h)
	}
	return imageUnknown
}

func (a legacyAccounting) binary(mime string, data []byte) uint64 {
	if len(data) == 0 {
		return 0
	}
	switch {
	case hasPrefixFold(mime, "image/"):
		if w, h, ok := imageSize(data); ok {
			return imageTiles(w, h)
		}
		return imageUnknown
	case isTextMIME(mime):
		return a.countBytes(data)
	default:
		return uint64(len(data))/16 + 1
	}
}

func (a legacyAccounting) tools(o *llms.CallOptions) uint64 {
	if len(o.Tools) == 0 && len(o.Functions) == 0 {
		return 0
	}
	bp := jsonBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	var n uint64
	for i := range o.Tools {
		t := &o.Tools[i]
		n += tokensPerToolDef
		buf = buf[:0]
		buf = append(buf, `{"type":`...)
		buf = strconv.AppendQuote(buf, t.Type)
		if t.Function != nil {
			buf = append(buf, `,"function":`...)
			buf = appendFunction(buf, t.Function)
		}
		buf = append(buf, '}')
		n += a.countBytes(buf)
	}
	for i := range o.Functions {
		n += tokensPerToolDef
		buf = appendFunction(buf[:0], &o.Functions[i])
		n += a.countBytes(buf)
	}
	if s, ok := o.ToolChoice.(string); ok {
		n += a.count(s)
	} else if o.ToolChoice != nil {
		n += 8
	}
	if cap(buf) <= 64<<10 { // don't pin one huge schema's buffer forever
		*bp = buf[:0]
		jsonBufs.Put(bp)
	}
	return n
}

// The legacy copy must still agree with EstimateFor(Other), the rules it
// became, or the comparison would be of different work.
func TestLegacyBaselineAgrees(t *testing.T) {
	msgs, opts := benchPrompt(t, true)
	if got, want := defaultEstimator.EstimateFor(Other, msgs, opts), legacyDefault.Estimate(msgs, opts); got != want {
		t.Fatalf("EstimateFor(Other) = %d, legacy = %d", got, want)
	}
}

// benchPrompt is an agent's turn of about 4,000 characters: a system prompt, a user
// question from the corpus, a tool call and its result, and (withTools) two tool
// definitions.
func benchPrompt(tb testing.TB, withTools bool) ([]llms.MessageContent, *llms.CallOptions) {
	tb.Helper()
	data, err := corpusText("prose_en.txt", "code_go.txt")
	if err != nil {
		tb.Fatal(err)
	}
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You review documents and code. Answer briefly."),
		llms.TextParts(llms.ChatMessageTypeHuman, data[:3000]),
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{llms.ToolCall{ID: "c1", Type: "function",
			FunctionCall: &llms.FunctionCall{Name: "search_docs", Arguments: `{"query":"token budgets","limit":3}`}}}},
		{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{ToolCallID: "c1", Name: "search_docs", Content: data[3000:4000]}}},
	}
	opts := &llms.CallOptions{}
	if withTools {
		opts.Tools = []llms.Tool{
			{Type: "function", Function: &llms.FunctionDefinition{Name: "search_docs", Description: "Search the documentation.",
				Parameters: map[string]any{"type": "object", "properties": map[string]any{
					"query": map[string]any{"type": "string", "description": "What to look for."},
					"limit": map[string]any{"type": "integer", "description": "How many passages."}}, "required": []any{"query"}}}},
			{Type: "function", Function: &llms.FunctionDefinition{Name: "get_weather", Description: "Get the current weather in a given location.",
				Parameters: map[string]any{"type": "object", "properties": map[string]any{
					"location": map[string]any{"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
					"unit":     map[string]any{"type": "string", "enum": []any{"celsius", "fahrenheit"}}}}}},
		}
	}
	return msgs, opts
}

func corpusText(files ...string) (string, error) {
	var sb strings.Builder
	for _, f := range files {
		b, err := readCorpus(f)
		if err != nil {
			return "", err
		}
		sb.Write(b)
	}
	return sb.String(), nil
}

func benchEstimate(b *testing.B, withTools bool, f func([]llms.MessageContent, *llms.CallOptions) uint64) {
	msgs, opts := benchPrompt(b, withTools)
	b.ReportAllocs()
	var n uint64
	for b.Loop() {
		n = f(msgs, opts)
	}
	b.ReportMetric(float64(n), "tokens")
}

// BenchmarkEstimateLegacy is the baseline: the estimator before provider rules.
func BenchmarkEstimateLegacy(b *testing.B) { benchEstimate(b, false, legacyDefault.Estimate) }

// BenchmarkEstimateLegacyTools is the baseline with two tool definitions.
func BenchmarkEstimateLegacyTools(b *testing.B) { benchEstimate(b, true, legacyDefault.Estimate) }

func benchFor(p Provider) func([]llms.MessageContent, *llms.CallOptions) uint64 {
	e := defaultEstimator
	return func(m []llms.MessageContent, o *llms.CallOptions) uint64 { return e.EstimateFor(p, m, o) }
}

func BenchmarkEstimateForOpenAI(b *testing.B)      { benchEstimate(b, false, benchFor(OpenAI)) }
func BenchmarkEstimateForOpenAITools(b *testing.B) { benchEstimate(b, true, benchFor(OpenAI)) }
func BenchmarkEstimateForAnthropicTools(b *testing.B) {
	benchEstimate(b, true, benchFor(Anthropic))
}
func BenchmarkEstimateForGeminiTools(b *testing.B) { benchEstimate(b, true, benchFor(Gemini)) }
func BenchmarkEstimateForOllamaTools(b *testing.B) { benchEstimate(b, true, benchFor(Ollama)) }

func readCorpus(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", "corpus", name))
}
