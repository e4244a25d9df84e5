package estimate_test

import (
	"encoding/binary"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap/estimate"
)

func providerEst() estimate.ProviderEstimator {
	return estimate.Default()
}

func TestProviderOf(t *testing.T) {
	for typ, want := range map[string]estimate.Provider{
		"*openai.LLM": estimate.OpenAI, "*anthropic.LLM": estimate.Anthropic,
		"*googleai.GoogleAI": estimate.Gemini, "*vertex.Vertex": estimate.Gemini,
		"*ollama.LLM": estimate.Ollama, "*mistral.Model": estimate.Other, "": estimate.Other,
		"noDot": estimate.Other,
	} {
		if got := estimate.ProviderOf(typ); got != want {
			t.Errorf("ProviderOf(%q) = %v, want %v", typ, got, want)
		}
	}
	for name, want := range map[string]estimate.Provider{
		"openai": estimate.OpenAI, "Azure.AI.OpenAI": estimate.OpenAI, "anthropic": estimate.Anthropic,
		"aws.bedrock.anthropic": estimate.Anthropic, "gcp.gemini": estimate.Gemini, "gcp.vertex_ai": estimate.Gemini,
		"googleai": estimate.Gemini, " Vertex ": estimate.Gemini, "OLLAMA": estimate.Ollama,
		"gcp.nope": estimate.Other, "mistral_ai": estimate.Other,
	} {
		if got := estimate.ProviderOf(name); got != want {
			t.Errorf("ProviderOf(%q) = %v, want %v", name, got, want)
		}
	}
}

var weatherTool = llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
	Name: "get_weather", Description: "Get the current weather in a given location.",
	Parameters: map[string]any{"type": "object", "properties": map[string]any{
		"location": map[string]any{"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
		"unit":     map[string]any{"type": "string", "enum": []any{"celsius", "fahrenheit"}},
	}, "required": []any{"location"}},
}}

// Anthropic bills a tool-use system prompt whenever tools are sent, sized per model
// family and tool_choice (Anthropic, "Tool use: pricing and tokens").
func TestAnthropicToolPrompt(t *testing.T) {
	e := providerEst()
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "Weather in Paris?")}
	bare := e.EstimateFor(estimate.Anthropic, msgs, &llms.CallOptions{})
	for _, tc := range []struct {
		model  string
		choice any
		prompt uint64
	}{
		{"claude-sonnet-4-20250514", nil, 346}, {"claude-sonnet-4-20250514", "any", 313},
		{"claude-3-opus-20240229", "auto", 530}, {"claude-3-opus-20240229", llms.ToolChoice{Type: "tool"}, 281},
		{"claude-3-haiku-20240307", nil, 264}, {"claude-3-sonnet-20240229", nil, 159},
	} {
		with := &llms.CallOptions{Model: tc.model, Tools: []llms.Tool{weatherTool}, ToolChoice: tc.choice}
		without := &llms.CallOptions{Model: tc.model, Tools: []llms.Tool{weatherTool}}
		got := e.EstimateFor(estimate.Anthropic, msgs, with)
		if got < bare+tc.prompt+10 {
			t.Errorf("%s %v: %d, want at least the %d-token tool prompt over %d", tc.model, tc.choice, got, tc.prompt, bare)
		}
		// The tool prompt is the only difference tool_choice makes, besides its own text.
		if tc.choice == nil && got != e.EstimateFor(estimate.Anthropic, msgs, without) {
			t.Errorf("%s: nil choice differs", tc.model)
		}
	}
}

// OpenAI renders functions compactly (Cookbook, num_tokens_for_tools): less than
// their JSON, which Other counts.
func TestOpenAICompactTools(t *testing.T) {
	e := providerEst()
	opts := &llms.CallOptions{Tools: []llms.Tool{weatherTool}}
	compact := e.EstimateFor(estimate.OpenAI, nil, opts)
	json := e.EstimateFor(estimate.Other, nil, opts)
	if compact >= json || compact < 30 {
		t.Errorf("OpenAI tools %d, JSON tools %d: want compact in [30, JSON)", compact, json)
	}
	// By the Cookbook's rules, with o200k counts: 7 (func_init) + 11
	// ("get_weather:Get the current weather in a given location") + 3 (prop_init)
	// + 3 + 14 (location) + 3 − 3 + 2·(3+1) + 4 (unit and its enum) + 12
	// (func_end) = 62.
	if compact < 55 || compact > 70 {
		t.Errorf("weather tool = %d tokens, want about 62", compact)
	}
}

// Gemini bills no per-message framing to speak of; Ollama's Llama 3 template more
// than OpenAI's.
func TestProviderFraming(t *testing.T) {
	e := providerEst()
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "Be brief."),
		llms.TextParts(llms.ChatMessageTypeHuman, "Hi"),
	}
	other := e.EstimateFor(estimate.Other, msgs, nil)
	if g := e.EstimateFor(estimate.Gemini, msgs, nil); g*2 > other+1 {
		t.Errorf("Gemini %d, other %d: want about half", g, other)
	}
	if o := e.EstimateFor(estimate.Ollama, msgs, nil); o <= other {
		t.Errorf("Ollama %d, other %d: want more", o, other)
	}
}

func TestProviderImages(t *testing.T) {
	e := providerEst()
	img := func(w, h uint32) []llms.MessageContent {
		return []llms.MessageContent{{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{
			llms.BinaryContent{MIMEType: "image/png", Data: pngOf(w, h)}}}}
	}
	framing := func(p estimate.Provider) uint64 {
		return e.EstimateFor(p, []llms.MessageContent{{Role: llms.ChatMessageTypeHuman}}, nil)
	}
	for _, tc := range []struct {
		p    estimate.Provider
		w, h uint32
		want uint64
	}{
		{estimate.Anthropic, 1000, 1000, 1333},    // 1000·1000/750
		{estimate.Anthropic, 3136, 1568, 1537},    // long edge to 1568, then ≤ 1.15 MP
		{estimate.Gemini, 300, 300, 258},          // both sides ≤ 384
		{estimate.Gemini, 1000, 1000, 4 * 258},    // 2×2 tiles of 768
		{estimate.OpenAI, 1024, 1024, 85 + 4*170}, // 768×768: 2×2 tiles of 512
	} {
		if got := e.EstimateFor(tc.p, img(tc.w, tc.h), nil) - framing(tc.p); got < tc.want*95/100 || got > tc.want*105/100 {
			t.Errorf("%v %d×%d image = %d tokens, want %d", tc.p, tc.w, tc.h, got, tc.want)
		}
	}
}

func TestEstimateForZeroAllocs(t *testing.T) {
	e := providerEst()
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You are terse."),
		llms.TextParts(llms.ChatMessageTypeHuman, "What is the weather in Paris?"),
	}
	opts := &llms.CallOptions{Tools: []llms.Tool{weatherTool}}
	for p := estimate.Other; p <= estimate.Ollama; p++ {
		if n := testing.AllocsPerRun(100, func() { e.EstimateFor(p, msgs, opts) }); n != 0 {
			t.Errorf("%v: EstimateFor allocates %v times", p, n)
		}
	}
}

func pngOf(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x00\x00\x00\x00\x00\x08\x06\x00\x00\x00")
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	return b
}

// ProviderOf runs on every budgeted call: reading a name, in any case, allocates nothing.
func TestProviderOfAllocatesNothing(t *testing.T) {
	for _, name := range []string{"*middleware_test.FixedModel", "*openai.LLM", "GCP.Gemini", "Azure.AI.OpenAI"} {
		if n := testing.AllocsPerRun(100, func() { estimate.ProviderOf(name) }); n != 0 {
			t.Errorf("ProviderOf(%q) allocates %v times", name, n)
		}
	}
}
