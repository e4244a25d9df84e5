package estimate

import (
	"math"
	"strings"
	"unsafe"

	"github.com/tmc/langchaingo/llms"
)

// Rules chosen from the model's name. A client's Go type says which API it speaks,
// not who bills the call: langchaingo's openai client also talks to routers
// (OpenRouter's "anthropic/claude-sonnet-4.5"), to hosts of open-weights models (Groq,
// Hugging Face, Cerebras, Mistral, DeepSeek, Z.ai) and to other vendors' OpenAI-style
// endpoints. Those bill the prompt as the model's own chat template renders it, so
// for a client of OpenAI's API (or an unknown one) the model's name picks the rules,
// and a native client's rules are refined by its model's generation. Every rule
// below says where it comes from; where a provider publishes nothing, the rule is
// read from the bills of real calls recorded in 2025–26 (internal/realbills), and
// says so.

// Model families with rules of their own, beyond the providers'.
var (
	// OpenAI's reasoning models (o-series, gpt-5) bill tool definitions above the
	// Cookbook's rendering: about 80 tokens more for gpt-5-mini with one tool (126
	// where gpt-4o costs 38) in the recorded bills; OpenAI publishes no count.
	//
	// Their prompt ends with <|start|>assistant, two tokens where gpt-4o's priming
	// is three: OpenAI's reasoning models speak the Harmony format (OpenAI, "OpenAI
	// Harmony Response Format", cookbook: "<|start|>user<|message|>What is 2 +
	// 2?<|end|><|start|>assistant", the model then writes its own
	// <|channel|>…<|message|>). gpt-5 billed 13 for "What is the capital of
	// France?", o3-mini 13 for the same of Mexico, where gpt-4o's framing counts 14.
	// Through a router the framing is the same (the router sends OpenAI the same
	// request); the tools there cost the Cookbook's rendering.
	openAIReasoningRules = func() rules {
		r := openAIReasoningRoutedRules
		r.toolPrompt = constToolPrompt(80)
		return r
	}()
	openAIReasoningRoutedRules = func() rules {
		r := providerRules[OpenAI]
		r.perReply = 2
		return r
	}()

	// OpenAI's vision guide ("Calculating costs"): gpt-5, gpt-5-chat-latest cost 70
	// base + 140 per 512-px tile; o1, o3 75 + 150; the small models bill 32-px
	// patches (at most 1,536, the image scaled down to fit) times a multiplier:
	// gpt-5-mini and gpt-4.1-mini 1.62, gpt-5-nano and gpt-4.1-nano 2.46, o4-mini
	// 1.72.
	gpt5Rules      = withImage(openAIReasoningRules, tileImage(70, 140))
	oSeriesRules   = withImage(openAIReasoningRules, tileImage(75, 150))
	gpt5MiniRules  = withImage(openAIReasoningRules, patch32Image(1620))
	gpt5NanoRules  = withImage(openAIReasoningRules, patch32Image(2460))
	o4MiniRules    = withImage(openAIReasoningRules, patch32Image(1720))
	gpt41MiniRules = withImage(providerRules[OpenAI], patch32Image(1620))
	gpt41NanoRules = withImage(providerRules[OpenAI], patch32Image(2460))

	// gpt-oss speaks OpenAI's Harmony format (OpenAI, "OpenAI Harmony Response
	// Format", cookbook): every prompt opens with a system message the host adds
	// ("You are ChatGPT, a large language model trained by OpenAI. Knowledge cutoff:
	// ... Current date: ... Reasoning: medium # Valid channels: analysis,
	// commentary, final ..."), about 60 tokens, billed on Groq, Cerebras and
	// Ollama's cloud alike; tools go in a developer message in the TypeScript-like
	// rendering the Cookbook counts, and the reasoning of earlier turns (the
	// analysis channel) is dropped from the history.
	gptOSSRules = func() rules {
		r := providerRules[OpenAI]
		r.hidden, r.stripThink = 60, true
		return r
	}()

	// Meta, "Llama 3.1 / 3.3 prompt format" (llama.com model cards and prompt
	// formats): <|begin_of_text|>, per message <|start_header_id|>{role}
	// <|end_header_id|>\n\n{content}<|eot_id|>; the system message always carries
	// "Cutting Knowledge Date: December 2023\nToday Date: ...", and with tools the
	// template adds "Environment: ipython" and an instruction to answer with a JSON
	// function call (about 90 tokens), each tool as JSON.
	llama3Rules = rules{
		perMessage: 4, perReply: 5, roleText: true, perToolUse: 2,
		perToolDef: 2, toolPrompt: constToolPrompt(90), hidden: 24, noToolsOnNone: true,
		image: imageTiles, imageUnknown: imageTiles(512, 512), imageLow: imageLowDetail,
	}

	// Meta, "Llama 4 prompt format" (llama.com model cards and prompt formats):
	// <|header_start|>{role}<|header_end|>\n\n{content}<|eot|>; its tool-calling
	// template puts a long system prompt before the tools ("You are an expert in
	// composing functions ..." with the calling rules and format), billed about 600
	// tokens with one small tool on Groq and Hugging Face. Images are cut into
	// 336-px tiles of 144 tokens each, plus a 144-token global view when there is
	// more than one tile (Llama 4 model card: 14-px patches, pixel shuffle ×¼).
	// A tool_choice of "none" sends the template no tools (the hosts' servers drop
	// them, as vLLM's --exclude-tools-when-tool-choice-none does).
	llama4Rules = rules{
		perMessage: 4, perReply: 4, roleText: true, perToolUse: 2,
		perToolDef: 2, toolPrompt: constToolPrompt(600), noToolsOnNone: true,
		image: llama4Image, imageUnknown: llama4Image(512, 512),
	}

	// Qwen's ChatML template (Qwen model cards, tokenizer_config chat_template):
	// <|im_start|>{role}\n{content}<|im_end|>\n per message; with tools a "# Tools"
	// system block explains the <tools></tools> and <tool_call></tool_call>
	// format around the tools' JSON (about 150 tokens; Qwen3-Coder's XML variant
	// about 240). Qwen-VL bills an image at one token per 28×28 pixels (Qwen2.5-VL
	// model card).
	qwenRules = rules{
		perMessage: 5, perReply: 3, roleText: true, perToolUse: 4,
		perToolDef: 2, toolPrompt: qwenToolPrompt, noToolsOnNone: true,
		image: patchImage(28, false), imageUnknown: patchImage(28, false)(512, 512),
	}

	// Mistral's tokenizer (mistral-common, v3 and later) renders tools as JSON in
	// [AVAILABLE_TOOLS]...[/AVAILABLE_TOOLS] and each turn as [INST]...[/INST];
	// images are cut into patches of 16 px (Pixtral 12B) or, merged 2×2, 28 px
	// (Mistral Small 3.1, Medium 3 and later), one token each plus an [IMG_BREAK] per
	// row (Mistral docs, "Vision"; mistral-common's image encoder).
	mistralRules = rules{
		perMessage: 2, perReply: 1, perToolUse: 3,
		perToolDef: 4, noToolsOnNone: true,
		image: patchImage(28, true), imageUnknown: patchImage(28, true)(512, 512),
	}
	pixtralRules = func() rules {
		r := mistralRules
		r.image, r.imageUnknown = patchImage(16, true), patchImage(16, true)(512, 512)
		return r
	}()

	// Reasoning models served with their thinking in the transcript: DeepSeek's
	// documentation (DeepSeek API, "Reasoning model (deepseek-reasoner)": "the
	// reasoning_content of previous turns is not concatenated into the context")
	// and the R1, GLM and Qwen3 chat templates drop <think>…</think> from earlier
	// assistant turns, so that text is not billed.
	//
	// DeepSeek's chat template (deepseek-ai/DeepSeek-V3.1 and R1-0528 on Hugging
	// Face, tokenizer_config chat_template) puts the tools in the system prompt
	// under "## Tools", each with its description and JSON parameters, followed by
	// the tool-call format (<｜tool▁calls▁begin｜>...) it must answer in: about 150
	// tokens besides the tools.
	deepSeekR1Rules = func() rules {
		r := providerRules[OpenAI]
		r.stripThink, r.noToolsOnNone = true, true
		r.compactTools, r.perToolDef = false, tokensPerToolDef
		return r
	}()
	deepSeekRules = func() rules {
		r := deepSeekR1Rules
		r.toolPrompt = constToolPrompt(150)
		return r
	}()

	// DeepSeek's open-weights template, as hosts that serve the weights render it
	// (deepseek-ai/DeepSeek-R1 and its distills on Hugging Face, tokenizer_config
	// chat_template): {{bos_token}}, the system prompts as bare text, each user turn
	// after <｜User｜>, each assistant turn after <｜Assistant｜> and closed by
	// <｜end▁of▁sentence｜>, and the reply opened by <｜Assistant｜>: one token of
	// framing a message, two for the reply, no role names. The recorded bills of
	// DeepSeek-R1 match it to the token ("Hello" was billed 4).
	deepSeekTemplateRules = func() rules {
		r := deepSeekRules
		r.perMessage, r.perReply, r.roleText = 1, 2, false
		return r
	}()
	// DeepSeek-R1's first release renders no tool definitions: its template has no
	// tools block (the one of R1-0528, which added function calling, does), so a host
	// serving it bills the prompt without them (a request with one tool was billed
	// as its text alone).
	deepSeekR1TemplateRules = func() rules {
		r := deepSeekTemplateRules
		r.noTools = true
		return r
	}()

	// GLM-4.5 and later (zai-org/GLM-4.5, GLM-4.6, GLM-4.7 on Hugging Face,
	// chat_template.jinja): the prompt opens with [gMASK]<sop>, each message is
	// <|{role}|>\n{content} (the role a special token of its own), and the reply
	// opens with <|assistant|>: two tokens of framing a message and three for the
	// reply, no role names. Z.ai's and Cerebras' bills of glm-4.7 match it.
	glm4Rules = func() rules {
		r := deepSeekR1Rules
		r.perMessage, r.perReply, r.roleText = 2, 3, false
		return r
	}()

	// Gemini 2.5 and later on the Gemini API bill function declarations as the
	// JSON of each declaration (name, description, parameters: the
	// FunctionDeclaration object of the API reference), not the compact rendering:
	// 41 tokens in the recorded bills for a one-line prompt and one empty tool, 36
	// on gemini-3-flash, where the compact rendering counts 26. Gemini 2.0 and
	// earlier, and Vertex AI (22 for the same request), bill about the compact
	// form, which is what a client of Vertex is estimated by until its
	// calibration learns the difference.
	geminiJSONRules = func() rules {
		r := providerRules[Gemini]
		r.compactTools, r.bareFunctions = false, true
		return r
	}()

	// OpenRouter's ":thinking" variants enable extended thinking by their name.
	anthropicThinkingRules = func() rules {
		r := providerRules[Anthropic]
		r.hidden += anthropicThinkingPrompt
		return r
	}()

	// Anthropic's models reached through an OpenAI-style API (OpenRouter, Snowflake,
	// Heroku): the router sends Anthropic's messages API the same request, which
	// bills it by Anthropic's rules, hidden tool prompt included.
	// Gemini reached the same way is billed by Gemini's rules.
)

// geminiJSONTools reports whether a Gemini model (its name lowered) is of 2.5 or
// later: "gemini-2.5-flash", "gemini-3-flash-preview", "gemini-3.1-flash-lite".
func geminiJSONTools(name string) bool {
	v, ok := strings.CutPrefix(name, "gemini-")
	if !ok || v == "" || v[0] < '1' || v[0] > '9' {
		return false
	}
	if v[0] >= '3' {
		return true
	}
	return v[0] == '2' && len(v) >= 3 && v[1] == '.' && v[2] >= '5'
}

// withImage is r with image cost f (and the cost of an image of unknown size).
func withImage(r rules, f func(w, h uint64) uint64) rules {
	r.image, r.imageUnknown = f, f(512, 512)
	return r
}

// tileImage is OpenAI's high-detail tiling with base and perTile tokens.
func tileImage(base, perTile uint64) func(w, h uint64) uint64 {
	return func(w, h uint64) uint64 {
		t := imageTiles(w, h) // 85 + 170·tiles
		return base + (t-imageBase)/imagePerTile*perTile
	}
}

// patch32Image is OpenAI's patch rule: 32×32-px patches, at most 1,536 (the image
// scaled down to fit), times mult/1000.
func patch32Image(mult uint64) func(w, h uint64) uint64 {
	return func(w, h uint64) uint64 {
		if w == 0 || h == 0 {
			w, h = 512, 512
		}
		n := ((w + 31) / 32) * ((h + 31) / 32)
		if n > 1536 {
			f := math.Sqrt(1536 * 1024 / float64(w*h))
			w, h = max(uint64(float64(w)*f), 1), max(uint64(float64(h)*f), 1)
			n = min(((w+31)/32)*((h+31)/32), 1536)
		}
		return n * mult / 1000
	}
}

// constToolPrompt is a tool prompt of n tokens whenever tools are sent.
func constToolPrompt(n uint64) func(*llms.CallOptions) uint64 {
	return func(o *llms.CallOptions) uint64 {
		if len(o.Tools) == 0 && len(o.Functions) == 0 {
			return 0
		}
		return n
	}
}

func qwenToolPrompt(o *llms.CallOptions) uint64 {
	if len(o.Tools) == 0 && len(o.Functions) == 0 {
		return 0
	}
	var buf [64]byte
	if strings.Contains(lowerASCII(&buf, o.Model), "coder") {
		return 240
	}
	return 150
}

// llama4Image is Llama 4's image cost: 144 tokens per 336-px tile, plus a global
// view of 144 when the image takes more than one tile, and a few tokens of framing.
func llama4Image(w, h uint64) uint64 {
	if w == 0 || h == 0 {
		return 144 + 3
	}
	tiles := ((w + 335) / 336) * ((h + 335) / 336)
	tiles = min(tiles, 16) // the processor caps an image at 16 tiles
	if tiles > 1 {
		tiles++
	}
	return 144*tiles + 3
}

// patchImage is the cost of an image cut into p×p-pixel patches of one token each
// (and a break token per row when rowBreaks), its long side first fitted into 1,540
// px.
func patchImage(p uint64, rowBreaks bool) func(w, h uint64) uint64 {
	return func(w, h uint64) uint64 {
		if w == 0 || h == 0 {
			w, h = 512, 512
		}
		if l := max(w, h); l > 1540 {
			w, h = max(w*1540/l, 1), max(h*1540/l, 1)
		}
		cols, rows := (w+p-1)/p, (h+p-1)/p
		n := cols * rows
		if rowBreaks {
			n += rows
		}
		return n
	}
}

// modelRules returns the rules that bill a call to model through a client of
// provider p: those of model's family for a client of OpenAI's API or an unknown
// one, else p's own (refined by the model's generation where that matters); nil for
// none of its own (the caller uses p's).
func modelRules(p Provider, model string) *rules {
	if model == "" {
		return nil
	}
	if p != OpenAI && p != Other && p != Gemini {
		return nil // a native client's rules read the model themselves (anthropicToolPrompt)
	}
	var buf [64]byte
	name := lowerASCII(&buf, model)
	routed := false
	if i := strings.LastIndexByte(name, '/'); i >= 0 { // a router's vendor/model
		name, routed = name[i+1:], true
	}
	has := func(sub string) bool { return strings.Contains(name, sub) }
	pre := func(prefix string) bool { return strings.HasPrefix(name, prefix) }
	if p == Gemini {
		if geminiJSONTools(name) {
			return &geminiJSONRules
		}
		return nil
	}
	switch {
	case has("claude"):
		if strings.Contains(name, ":thinking") {
			return &anthropicThinkingRules
		}
		return &providerRules[Anthropic]
	case pre("gemini"), pre("gemma"):
		if geminiJSONTools(name) {
			return &geminiJSONRules
		}
		return &providerRules[Gemini]
	case has("gpt-oss"):
		return &gptOSSRules
	case pre("gpt-5"), pre("o1"), pre("o3"), pre("o4"):
		if routed {
			return &openAIReasoningRoutedRules // through a router, tools cost the Cookbook's rendering
		}
		switch {
		case pre("gpt-5-mini"):
			return &gpt5MiniRules
		case pre("gpt-5-nano"):
			return &gpt5NanoRules
		case pre("gpt-5"):
			return &gpt5Rules
		case pre("o4-mini"):
			return &o4MiniRules
		}
		return &oSeriesRules
	case pre("gpt-4.1-mini"):
		return &gpt41MiniRules
	case pre("gpt-4.1-nano"):
		return &gpt41NanoRules
	case pre("gpt-"), pre("chatgpt"):
		return nil
	case has("llama-4"), has("llama4"):
		return &llama4Rules
	case has("deepseek-r1"):
		if has("0528") || has("distill") {
			return &deepSeekTemplateRules
		}
		return &deepSeekR1TemplateRules
	case has("deepseek"):
		return &deepSeekRules
	case pre("glm-4"), has("-glm-4"):
		return &glm4Rules
	case pre("glm"), has("-glm"):
		return &deepSeekR1Rules
	case has("llama-3"), has("llama3"):
		return &llama3Rules
	case has("qwen"), has("qwq"):
		return &qwenRules
	case pre("pixtral-12b"):
		return &pixtralRules
	case has("mistral"), has("magistral"), has("ministral"), has("pixtral"), has("codestral"), has("devstral"):
		return &mistralRules
	}
	return nil
}

// lowerASCII returns s's first len(buf) bytes with ASCII letters lowered, in buf.
func lowerASCII(buf *[64]byte, s string) string {
	n := copy(buf[:], s)
	for i := range n {
		if c := buf[i]; 'A' <= c && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	return unsafe.String(&buf[0], n)
}
