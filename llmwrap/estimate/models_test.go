package estimate_test

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap/estimate"
)

var emptyTool = llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
	Name: "get_file", Parameters: map[string]any{"type": "object", "properties": map[string]any{}}}}

func ask(text string) []llms.MessageContent {
	return []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, text)}
}

func estFor(p estimate.Provider, model string, msgs []llms.MessageContent, tools ...llms.Tool) uint64 {
	return estimate.Default().EstimateFor(p, msgs, &llms.CallOptions{Model: model, Tools: tools})
}

// A router's vendor/model name picks the vendor's rules: Claude through an OpenAI-style
// client is billed Anthropic's hidden tool prompt (OpenRouter billed 550 where OpenAI's
// rules counted 36), and costs what Claude costs through Anthropic's own client.
func TestRouterModelGetsVendorRules(t *testing.T) {
	msgs := ask("Use the get_file tool now to retrieve a file, then describe what you received.")
	routed := estFor(estimate.OpenAI, "anthropic/claude-sonnet-4.5", msgs, emptyTool)
	native := estFor(estimate.Anthropic, "claude-sonnet-4-5", msgs, emptyTool)
	openai := estFor(estimate.OpenAI, "gpt-4o", msgs, emptyTool)
	if routed != native {
		t.Errorf("anthropic/claude-sonnet-4.5 through openai %d, claude-sonnet-4-5 through anthropic %d: want the same", routed, native)
	}
	if routed < openai+400 || routed > openai+600 {
		t.Errorf("routed Claude with a tool %d, gpt-4o %d: want Anthropic's tool prompt (~495) between them", routed, openai)
	}
	// Without tools there is no tool prompt: within a few tokens of each other.
	if a, b := estFor(estimate.OpenAI, "anthropic/claude-sonnet-4.5", msgs), estFor(estimate.OpenAI, "gpt-4o", msgs); a > b+5 || b > a+5 {
		t.Errorf("without tools: routed Claude %d, gpt-4o %d", a, b)
	}
}

// Claude 4.5 and later bill a larger tool prompt than the table's Claude 4 figure.
func TestClaudeToolPromptByGeneration(t *testing.T) {
	msgs := ask("hi")
	for _, tc := range []struct {
		model string
		want  uint64 // tool prompt, auto
	}{
		{"claude-sonnet-4-0", 346}, {"claude-sonnet-4-20250514", 346}, {"claude-3-7-sonnet-latest", 346},
		{"claude-sonnet-4-5", 495}, {"claude-sonnet-4-5-20250929", 495}, {"anthropic/claude-sonnet-4.6", 495},
		{"claude-haiku-4-5", 495}, {"claude-opus-5", 495}, {"claude-3-opus-latest", 530}, {"claude-3-haiku-20240307", 264},
	} {
		with, without := estFor(estimate.Anthropic, tc.model, msgs, emptyTool), estFor(estimate.Anthropic, tc.model, msgs)
		tool := estFor(estimate.Anthropic, "", msgs, emptyTool) - estFor(estimate.Anthropic, "", msgs) - 346 // the tool's own JSON
		if got := with - without - tool; got != tc.want {
			t.Errorf("%s: tool prompt %d, want %d", tc.model, got, tc.want)
		}
	}
}

// Extended thinking adds Anthropic's thinking prompt, on Anthropic only.
func TestThinkingPrompt(t *testing.T) {
	msgs := ask("Briefly: what is 17 * 23? Think first.")
	on := &llms.CallOptions{Model: "claude-sonnet-4-5"}
	llms.WithThinkingMode(llms.ThinkingModeMedium)(on)
	off := &llms.CallOptions{Model: "claude-sonnet-4-5"}
	e := estimate.Default()
	if d := e.EstimateFor(estimate.Anthropic, msgs, on) - e.EstimateFor(estimate.Anthropic, msgs, off); d != 30 {
		t.Errorf("thinking adds %d on Anthropic, want 30", d)
	}
	if a, b := e.EstimateFor(estimate.OpenAI, msgs, &llms.CallOptions{Model: "gpt-4o", Metadata: on.Metadata}), e.EstimateFor(estimate.OpenAI, msgs, &llms.CallOptions{Model: "gpt-4o"}); a != b {
		t.Errorf("thinking changes gpt-4o's estimate: %d vs %d", a, b)
	}
	if a, b := estFor(estimate.OpenAI, "anthropic/claude-3.7-sonnet:thinking", msgs), estFor(estimate.OpenAI, "anthropic/claude-3.7-sonnet", msgs); a != b+30 {
		t.Errorf(":thinking variant %d, plain %d: want 30 more", a, b)
	}
}

// Llama 4's tool-calling template is a long system prompt; a tool_choice of "none"
// sends no tools at all.
func TestLlama4Tools(t *testing.T) {
	msgs := ask("What's the weather in Paris?")
	const model = "meta-llama/llama-4-scout-17b-16e-instruct"
	plain := estFor(estimate.OpenAI, model, msgs)
	with := estFor(estimate.OpenAI, model, msgs, weatherTool)
	if with < plain+600 || with > plain+700 {
		t.Errorf("llama 4 with a tool %d, without %d: want ~600 of tool prompt and the tool", with, plain)
	}
	none := estimate.Default().EstimateFor(estimate.OpenAI, msgs, &llms.CallOptions{Model: model, Tools: []llms.Tool{weatherTool}, ToolChoice: "none"})
	if none != plain {
		t.Errorf("tool_choice none: %d, want the estimate without tools %d", none, plain)
	}
	// OpenAI itself still bills the tools under "none".
	g := estimate.Default().EstimateFor(estimate.OpenAI, msgs, &llms.CallOptions{Model: "gpt-4o", Tools: []llms.Tool{weatherTool}, ToolChoice: "none"})
	if g <= estFor(estimate.OpenAI, "gpt-4o", msgs) {
		t.Errorf("gpt-4o with tool_choice none: %d, want its tools counted", g)
	}
}

// The hidden prompts of chat templates: gpt-oss's Harmony system message, Llama 3's
// knowledge-date header.
func TestHiddenSystemPrompts(t *testing.T) {
	msgs := ask("What is the capital of France?")
	base := estFor(estimate.OpenAI, "gpt-4o", msgs)
	for model, add := range map[string]uint64{"gpt-oss-120b": 60, "openai/gpt-oss-120b": 60, "gpt-oss:20b": 60} {
		if got := estFor(estimate.OpenAI, model, msgs); got != base+add {
			t.Errorf("%s: %d, want gpt-4o's %d + %d", model, got, base, add)
		}
	}
	if got := estFor(estimate.OpenAI, "llama-3.3-70b-versatile", msgs); got < base+20 {
		t.Errorf("llama-3.3: %d, want Llama 3's date header over gpt-4o's %d", got, base)
	}
}

// Reasoning hosts drop <think>…</think> from earlier assistant turns (DeepSeek-R1 was
// billed 32 where 1,010 was estimated); other models bill it.
func TestThinkingStrippedFromHistory(t *testing.T) {
	reasoning := "<think>\n" + strings.Repeat("Okay, the user asked something; let me weigh every option carefully. ", 40) + "\n</think>\n\n"
	history := func(answer string) []llms.MessageContent {
		return []llms.MessageContent{
			llms.TextParts(llms.ChatMessageTypeHuman, "How do I cross the street?"),
			llms.TextParts(llms.ChatMessageTypeAI, answer),
			llms.TextParts(llms.ChatMessageTypeHuman, "Thanks!"),
		}
	}
	for _, model := range []string{"deepseek-ai/DeepSeek-R1", "deepseek-reasoner", "glm-4.7", "openai/gpt-oss-120b"} {
		with, without := estFor(estimate.OpenAI, model, history(reasoning+"Look both ways.")), estFor(estimate.OpenAI, model, history("Look both ways."))
		if with != without {
			t.Errorf("%s: history with thinking %d, without %d: want the thinking dropped", model, with, without)
		}
		// An unclosed <think> runs to the end of the turn.
		if got := estFor(estimate.OpenAI, model, history("Look both ways."+"<think>and more")); got != without {
			t.Errorf("%s: unclosed think %d, want %d", model, got, without)
		}
	}
	if with, without := estFor(estimate.OpenAI, "gpt-4o", history(reasoning+"Look both ways.")), estFor(estimate.OpenAI, "gpt-4o", history("Look both ways.")); with < without+300 {
		t.Errorf("gpt-4o: %d with thinking text, %d without: want it billed", with, without)
	}
}

// llms.WithCacheControl's wrapper is costed as what it wraps (2,073 tokens of text
// were estimated at 10), however deep, and a nil one costs nothing.
func TestCachedContentUnwrapped(t *testing.T) {
	text := strings.Repeat("The reservation is settled with what the provider billed. ", 100)
	plain := []llms.MessageContent{{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{llms.TextContent{Text: text}}}}
	inner := llms.WithCacheControl(llms.TextContent{Text: text}, &llms.CacheControl{Type: "ephemeral"})
	for _, p := range []llms.ContentPart{inner, &inner, llms.WithCacheControl(inner, nil)} {
		cached := []llms.MessageContent{{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{p}}}
		for _, prov := range []estimate.Provider{estimate.Other, estimate.Anthropic, estimate.OpenAI} {
			if got, want := estimate.Default().EstimateFor(prov, cached, nil), estimate.Default().EstimateFor(prov, plain, nil); got != want {
				t.Errorf("%T under %v: %d, want %d", p, prov, got, want)
			}
		}
	}
	var nilCached *llms.CachedContent
	msgs := []llms.MessageContent{{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{nilCached, llms.CachedContent{}}}}
	if got := estimate.Default().Estimate(msgs, nil); got > 10 {
		t.Errorf("nil and empty cached parts: %d", got)
	}
}

func jpegOf(w, h uint16) string {
	b := []byte{0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0, 0, 0, 0, 3}
	binary.BigEndian.PutUint16(b[7:], h)
	binary.BigEndian.PutUint16(b[9:], w)
	return "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(b)
}

// Images by the model's own rule: Mistral's and Qwen-VL's patches, OpenAI's small
// models' 32-px patches, Llama 4's tiles; an image of unknown size costs what a
// 512×512 one does under that rule, not OpenAI's 765 everywhere.
func TestImageRulesByModel(t *testing.T) {
	img := func(url string) []llms.MessageContent {
		return []llms.MessageContent{{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{llms.ImageURLContent{URL: url}}}}
	}
	empty := []llms.MessageContent{{Role: llms.ChatMessageTypeHuman}}
	for _, tc := range []struct {
		model         string
		known         uint64 // a 597×566 image
		unknownAtMost uint64
	}{
		{"gpt-4o", 765, 765},
		{"mistral-medium-latest", 22*21 + 21, 400},         // 28-px patches and a break per row
		{"pixtral-12b-latest", 38*36 + 36, 1100},           // 16-px patches
		{"gpt-5-mini", 19 * 18 * 1620 / 1000, 420},         // 32-px patches × 1.62
		{"meta-llama/llama-4-scout", 5*144 + 3, 5*144 + 3}, // 4 tiles and the global view
		{"Qwen/Qwen2.5-VL-72B-Instruct", 22 * 21, 400},     // 28-px patches
		{"gpt-5", 70 + 4*140, 70 + 140},                    // 70 + 140 per tile
		{"anthropic/claude-sonnet-4.5", 597 * 566 / 750, 512 * 512 / 750},
	} {
		frame := estFor(estimate.OpenAI, tc.model, empty)
		if got := estFor(estimate.OpenAI, tc.model, img(jpegOf(597, 566))) - frame; got != tc.known {
			t.Errorf("%s: 597×566 image %d, want %d", tc.model, got, tc.known)
		}
		if got := estFor(estimate.OpenAI, tc.model, img("https://example.com/a.png")) - frame; got > tc.unknownAtMost || got == 0 {
			t.Errorf("%s: image of unknown size %d, want at most %d", tc.model, got, tc.unknownAtMost)
		}
	}
}

// Gemini 2.5 and later bill function declarations as JSON, 2.0 the compact form.
func TestGeminiDeclarationsByVersion(t *testing.T) {
	msgs := ask("Use the get_file tool now to retrieve a video file, then describe what you received.")
	old := estFor(estimate.Gemini, "gemini-2.0-flash", msgs, emptyTool)
	for _, m := range []string{"gemini-2.5-flash", "gemini-3-flash-preview", "gemini-3.1-flash-lite"} {
		if got := estFor(estimate.Gemini, m, msgs, emptyTool); got <= old+5 {
			t.Errorf("%s with a tool %d, gemini-2.0-flash %d: want the JSON declarations to cost more", m, got, old)
		}
	}
	if a, b := estFor(estimate.Gemini, "gemini-2.5-flash", msgs), estFor(estimate.Gemini, "gemini-2.0-flash", msgs); a != b {
		t.Errorf("without tools 2.5 %d, 2.0 %d: want the same", a, b)
	}
}

// The model's name is read without allocating, in any case.
func TestModelRulesAllocateNothing(t *testing.T) {
	msgs, _ := benchPromptPublic()
	for _, model := range []string{"gpt-4o", "anthropic/claude-sonnet-4.5", "meta-llama/Llama-4-Scout-17B-16E-Instruct",
		"Qwen/Qwen3-Coder-480B", "deepseek-ai/DeepSeek-R1", "mistral-medium-latest", strings.Repeat("X", 200)} {
		o := &llms.CallOptions{Model: model, Tools: []llms.Tool{weatherTool}}
		if n := testing.AllocsPerRun(50, func() { estimate.Default().EstimateFor(estimate.OpenAI, msgs, o) }); n != 0 {
			t.Errorf("%s: %v allocations", model, n)
		}
	}
}

func benchPromptPublic() ([]llms.MessageContent, *llms.CallOptions) {
	return []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You review documents and code."),
		llms.TextParts(llms.ChatMessageTypeHuman, "What does a reservation hold?"),
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{llms.TextContent{Text: "<think>hmm</think>It holds tokens."}}},
	}, nil
}

// Open-weights templates frame a prompt with their own special tokens: DeepSeek's
// BOS, <｜User｜> and <｜Assistant｜> (R1 on Hugging Face billed "Hello" as 4 tokens),
// GLM-4's [gMASK]<sop>, <|user|>\n and <|assistant|> (glm-4.7 billed 13 for "What is
// 2 + 2?"); DeepSeek-R1's first template renders no tools, R1-0528's does.
func TestOpenWeightsTemplates(t *testing.T) {
	text := func(s string) uint64 { return estimate.Text(s) }
	for _, tc := range []struct {
		model, prompt string
		framing       uint64
	}{
		{"deepseek-ai/DeepSeek-R1", "Hello", 1 + 2},
		{"deepseek-r1-distill-llama-70b", "Hello", 1 + 2},
		{"glm-4.7", "What is 2 + 2?", 2 + 3},
		{"zai-glm-4.7", "What is 2 + 2?", 2 + 3},
	} {
		if got, want := estFor(estimate.OpenAI, tc.model, ask(tc.prompt)), text(tc.prompt)+tc.framing; got != want {
			t.Errorf("%s %q: %d, want its text %d + %d of framing", tc.model, tc.prompt, got, text(tc.prompt), tc.framing)
		}
	}
	msgs := ask("What are the first three prime numbers?")
	if with, without := estFor(estimate.OpenAI, "deepseek-ai/DeepSeek-R1", msgs, weatherTool), estFor(estimate.OpenAI, "deepseek-ai/DeepSeek-R1", msgs); with != without {
		t.Errorf("DeepSeek-R1 with a tool %d, without %d: want the tool not billed", with, without)
	}
	if with, without := estFor(estimate.OpenAI, "deepseek-ai/DeepSeek-R1-0528", msgs, weatherTool), estFor(estimate.OpenAI, "deepseek-ai/DeepSeek-R1-0528", msgs); with <= without+20 {
		t.Errorf("DeepSeek-R1-0528 with a tool %d, without %d: want the tool billed", with, without)
	}
}

// Gemini 2.0 bills a function declaration as its strings and about three tokens: no
// property framing (gemini-2.0-flash billed two one-property declarations 36 where
// OpenAI's constants counted 52).
func TestGeminiCompactDeclarations(t *testing.T) {
	capital := llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
		Name: "get_capital", Description: "Get the capital of a country.",
		Parameters: map[string]any{"type": "object", "properties": map[string]any{
			"country": map[string]any{"type": "string", "description": "The country name."},
		}}}}
	msgs := ask("What is the capital of France?")
	tx := estimate.Text
	want := 3 + tx("get_capital") + 1 + tx("Get the capital of a country") + 1 + tx("country") + tx("string") + tx("The country name")
	if got := estFor(estimate.Gemini, "gemini-2.0-flash", msgs, capital) - estFor(estimate.Gemini, "gemini-2.0-flash", msgs); got != want {
		t.Errorf("gemini-2.0-flash declaration: %d, want %d (its strings and 3 + 1 + 1)", got, want)
	}
	if got, old := estFor(estimate.OpenAI, "gpt-4o", msgs, capital)-estFor(estimate.OpenAI, "gpt-4o", msgs), want+4+3+4+12; got != old {
		t.Errorf("gpt-4o function: %d, want the Cookbook's %d", got, old)
	}
}

// OpenAI's reasoning models speak Harmony: the prompt ends with <|start|>assistant,
// one token less than gpt-4o's priming (gpt-5 and o3-mini billed 13 where gpt-4o's
// framing counted 14), directly and through a router.
func TestReasoningModelsHarmonyPriming(t *testing.T) {
	msgs := ask("What is the capital of France?")
	base := estFor(estimate.OpenAI, "gpt-4o", msgs)
	for _, m := range []string{"gpt-5", "o3-mini", "gpt-5-mini", "openai/o3", "openai/gpt-5-mini"} {
		if got := estFor(estimate.OpenAI, m, msgs); got != base-1 {
			t.Errorf("%s: %d, want gpt-4o's %d − 1", m, got, base)
		}
	}
}
