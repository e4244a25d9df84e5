package estimate

import (
	"math"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

// Provider is a family of models that bill prompts by the same published rules. The
// zero value, Other, keeps Default's OpenAI-like accounting of Estimate.
type Provider uint8

const (
	// Other: any provider without rules of its own here (the rules of Estimate:
	// OpenAI's framing, tool schemas counted from their JSON).
	Other Provider = iota
	// OpenAI: OpenAI and the servers langchaingo's openai client talks to.
	OpenAI
	// Anthropic: Anthropic's messages API.
	Anthropic
	// Gemini: Google's Gemini (googleai, vertex).
	Gemini
	// Ollama: Ollama's chat API, which renders the model's chat template.
	Ollama
)

// ProviderOf reads a provider from a wrapped model's Go type, as llmwrap's
// Spend.ModelType holds it ("*openai.LLM", "*anthropic.LLM", "*googleai.GoogleAI",
// "*vertex.Vertex", "*ollama.LLM"), or from a provider's name: a gen_ai.provider.name
// ("openai", "anthropic", "gcp.gemini", "gcp.vertex_ai", "ollama") or a langchaingo
// package name ("googleai", "vertex"), in any case. Anything else, "" included, is
// Other. It never looks at anything but the string.
func ProviderOf(name string) Provider {
	name = strings.TrimSpace(name)
	if t := strings.TrimLeft(name, "*[]"); t != name || strings.Count(t, ".") == 1 {
		if pkg, _, ok := strings.Cut(t, "."); ok {
			if p := parseProvider(pkg); p != Other {
				return p
			}
		}
	}
	return parseProvider(name)
}

// providerNames maps the names ProviderOf reads, compared without case (so that
// reading one never allocates), to their providers.
var providerNames = [...]struct {
	name string
	p    Provider
}{
	{"openai", OpenAI}, {"azure.ai.openai", OpenAI},
	{"anthropic", Anthropic}, {"aws.bedrock.anthropic", Anthropic},
	{"gcp.gemini", Gemini}, {"gcp.vertex_ai", Gemini}, {"gcp.gen_ai", Gemini},
	{"googleai", Gemini}, {"vertex", Gemini}, {"gemini", Gemini},
	{"ollama", Ollama},
}

func parseProvider(name string) Provider {
	for _, n := range providerNames {
		// The length first: most names (a model type of one's own) match none, and
		// this runs on every call.
		if len(name) == len(n.name) && strings.EqualFold(name, n.name) {
			return n.p
		}
	}
	return Other
}

// ProviderEstimator is an llmwrap.Estimator that follows the prompt-billing rules a
// provider publishes. Default, New's estimators and llmwrap/exact's implement it;
// middleware.Budget calls EstimateFor with the provider of the wrapped model when its
// estimator does.
type ProviderEstimator interface {
	llmwrap.Estimator
	// EstimateFor is Estimate under p's rules, refined by the model opts.Model
	// names (a router's "anthropic/claude-sonnet-4.5" through an OpenAI client is
	// billed by Anthropic's rules, Llama 4 by its chat template, Claude 4.5 has a
	// larger tool prompt than Claude 4). An unknown p is Other; an unknown or empty
	// model keeps p's rules.
	EstimateFor(p Provider, msgs []llms.MessageContent, opts *llms.CallOptions) (prompt uint64)
}

// rules is how one provider frames a prompt. Every number is from the provider's own
// documentation, cited where it is set.
type rules struct {
	perMessage uint64 // framing tokens around each message
	perReply   uint64 // tokens priming the reply (and a begin-of-text marker)
	roleText   bool   // the role's name is in the text the model reads
	perToolUse uint64 // framing of a tool call inside an assistant message

	// Tool definitions.
	compactTools bool   // OpenAI's function rendering (name:description, key:type:description)
	funcInit     uint64 // per function (compact rendering)
	funcEnd      uint64 // once after all functions (compact rendering)
	propInit     uint64 // once per properties object (compact rendering)
	propKey      uint64 // per property, besides its strings (compact rendering)
	enumItem     uint64 // per enum item, besides its string (compact rendering)
	toolPrompt   func(opts *llms.CallOptions) uint64
	perToolDef   uint64 // framing per tool (JSON rendering)
	// bareFunctions: a tool is rendered as its function's JSON, without the
	// {"type":"function","function":...} wrapper (Gemini's function declarations).
	bareFunctions bool

	// hidden is a system prompt the host always adds (a chat template's header).
	hidden uint64
	// noToolsOnNone: a tool_choice of "none" sends the model no tool definitions.
	noToolsOnNone bool
	// noTools: the model's template renders no tool definitions, so none are billed.
	noTools bool
	// stripThink: <think>…</think> in earlier assistant turns is not billed.
	stripThink bool
	// thinkingPrompt is what enabling extended thinking adds to the prompt.
	thinkingPrompt uint64

	image        func(w, h uint64) uint64
	imageUnknown uint64 // an image whose size cannot be read (a plain URL)
	imageLow     uint64 // OpenAI's detail "low"; 0: no such mode
}

var providerRules = [...]rules{
	Other: {
		perMessage: tokensPerMessage, perReply: tokensPerReply, roleText: true, perToolUse: tokensPerToolUse,
		perToolDef: tokensPerToolDef,
		image:      imageTiles, imageUnknown: imageUnknown, imageLow: imageLowDetail,
	},
	// OpenAI Cookbook, "How to count tokens with tiktoken" (num_tokens_from_messages):
	// tokens_per_message = 3, tokens_per_name = 1, every reply primed with
	// <|start|>assistant<|message|> (3). Its function-calling section
	// (num_tokens_for_tools) renders each function as "name:description" plus
	// "key:type:description" per property: func_init 7 (gpt-4o, gpt-4o-mini; 10 for
	// older models), prop_init 3, prop_key 3, enum_init −3, enum_item 3, func_end 12.
	// Images: "Images are first scaled to fit within a 2048 x 2048 square ... then
	// scaled such that the shortest side is 768px ... 170 tokens per 512px tile, 85
	// base" (OpenAI vision guide; low detail: 85).
	OpenAI: {
		perMessage: 3, perReply: 3, roleText: true, perToolUse: tokensPerToolUse,
		compactTools: true, funcInit: 7, funcEnd: 12, propInit: 3, propKey: 3 + 2, enumItem: 3,
		image: imageTiles, imageUnknown: imageUnknown, imageLow: imageLowDetail,
	},
	// Anthropic, "Tool use: pricing and tokens": with tools, a tool-use system prompt
	// is added whose size depends on the model family and tool_choice (see
	// anthropicToolPrompt); the tools' names, descriptions and schemas are billed as
	// sent (JSON). Anthropic, "Vision": tokens = width × height / 750 after the image
	// is scaled to fit 1568 px on its long edge (and about 1.15 megapixels), at most
	// about 1,600 tokens. Message framing is not published: the role turns
	// ("\n\nHuman:", "\n\nAssistant:") cost about as much as OpenAI's.
	Anthropic: {
		perMessage: 3, perReply: 3, perToolUse: tokensPerToolUse,
		perToolDef: tokensPerToolDef, toolPrompt: anthropicToolPrompt,
		thinkingPrompt: anthropicThinkingPrompt,
		image:          anthropicImage, imageUnknown: anthropicImage(512, 512),
	},
	// Google, "Understand and count tokens" (Gemini API): the prompt is billed as
	// the contents' text with no per-message framing (the recorded bills of
	// one-line prompts equal their text's tokens; a per-turn token over-counted
	// every one of them), and "images with both dimensions <= 384 pixels are counted
	// as 258 tokens; larger images are cropped and scaled as needed into tiles of
	// 768x768 pixels, each counted as 258 tokens". Function declarations are sent as
	// a schema object, billed as about its strings (Gemini 2.5 and later bill more:
	// geminiJSONRules): in the recorded bills of gemini-2.0-flash each declaration
	// cost its name, description and properties' names, types and descriptions, and
	// about three tokens more, with none of the property framing OpenAI's rendering
	// has (two one-property declarations were billed 36, the Cookbook's constants
	// counted 52).
	Gemini: {
		perMessage: 0, perToolUse: 1,
		compactTools: true, funcInit: 3, funcEnd: 0, propInit: 0, propKey: 1, enumItem: 1,
		image: geminiImage, imageUnknown: 258,
	},
	// Ollama renders the model's chat template (the Modelfile's TEMPLATE). For the
	// Llama 3 family, the most common: <|begin_of_text|>, then per message
	// <|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|> (4 tokens
	// and the role), and the reply opens with the assistant header (4). Its tool
	// template adds a fixed instruction (about 90 tokens: "Cutting Knowledge Date ...
	// Given the following functions, please respond with a JSON for a function call
	// ...") and each tool as JSON. LLaVA-style vision models spend 576 tokens per
	// image (24×24 patches of 336 px).
	Ollama: {
		perMessage: 4, perReply: 5, roleText: true, perToolUse: 2,
		perToolDef: 2, toolPrompt: ollamaToolPrompt,
		image: func(w, h uint64) uint64 { return 576 }, imageUnknown: 576,
	},
}

func rulesFor(p Provider) *rules {
	if int(p) < len(providerRules) {
		return &providerRules[p]
	}
	return &providerRules[Other]
}

// anthropicToolPrompt is the size of the tool-use system prompt Anthropic adds when
// tools are sent ("Tool use: pricing and tokens"): per model family, for tool_choice
// auto/none and for any/tool. Unknown and newer families get the current one.
func anthropicToolPrompt(o *llms.CallOptions) uint64 {
	if len(o.Tools) == 0 && len(o.Functions) == 0 {
		return 0
	}
	forced := false // tool_choice "any" or a named tool
	switch c := o.ToolChoice.(type) {
	case nil:
	case string:
		forced = c == "any" || c == "required" || (c != "auto" && c != "none" && c != "")
	default:
		forced = true
	}
	var buf [64]byte
	m := lowerASCII(&buf, o.Model)
	pick := func(auto, any uint64) uint64 {
		if forced {
			return any
		}
		return auto
	}
	switch {
	case strings.Contains(m, "claude-3-opus"):
		return pick(530, 281)
	case strings.Contains(m, "claude-3-sonnet"):
		return pick(159, 235)
	case strings.Contains(m, "claude-3-haiku"), strings.Contains(m, "claude-3-5-haiku"):
		return pick(264, 340)
	case strings.Contains(m, "claude-3-5-sonnet"):
		return pick(294, 261)
	case claudeVersion(m) >= 45:
		// Claude 4.5 and later: the table's 346 (auto) is what the earliest
		// recordings of claude-sonnet-4-5 were billed; every later one (late 2025
		// on, claude-sonnet-4-5, haiku-4-5, sonnet-4-6, directly and through
		// OpenRouter) was billed about 150 tokens more, and a forced tool_choice
		// about 90 more again, the reverse of the table's order.
		return pick(495, 590)
	default: // Claude 3.7 and 4.0–4.1
		return pick(346, 313)
	}
}

// claudeVersion reads a Claude model's generation from its name, as major×10+minor
// ("claude-sonnet-4-5-20250929" and "anthropic/claude-sonnet-4.5" are 45,
// "claude-3-7-sonnet" 37, "claude-sonnet-4-20250514" 40); 0 when it has none.
func claudeVersion(m string) int {
	i := strings.Index(m, "claude")
	if i < 0 {
		return 0
	}
	for j := i; j < len(m); j++ {
		if c := m[j]; c >= '1' && c <= '9' && (j+1 == len(m) || m[j+1] < '0' || m[j+1] > '9') {
			v := int(c-'0') * 10
			if j+3 <= len(m) && (m[j+1] == '-' || m[j+1] == '.') && m[j+2] >= '0' && m[j+2] <= '9' &&
				(j+3 == len(m) || m[j+3] < '0' || m[j+3] > '9') {
				v += int(m[j+2] - '0')
			}
			return v
		}
	}
	return 0
}

// anthropicThinkingPrompt is what extended thinking adds to a Claude prompt: about 30
// tokens in every recorded bill (claude-sonnet-4-0, 4-5, 3-7 through OpenRouter);
// Anthropic's documentation bills thinking as output and gives no prompt count.
const anthropicThinkingPrompt = 30

// ollamaToolPrompt is the fixed text Llama 3.1+ chat templates add when tools are
// given (the tools themselves are costed apart).
func ollamaToolPrompt(o *llms.CallOptions) uint64 {
	if len(o.Tools) == 0 && len(o.Functions) == 0 {
		return 0
	}
	return 90
}

// anthropicImage is Anthropic's image cost: fit the long edge into 1568 px and the
// area into 1.15 megapixels, then width × height / 750.
func anthropicImage(w, h uint64) uint64 {
	if w == 0 || h == 0 {
		return 1600
	}
	if l := max(w, h); l > 1568 {
		w, h = max(w*1568/l, 1), max(h*1568/l, 1)
	}
	const maxArea = 1_150_000
	if a := w * h; a > maxArea {
		f := math.Sqrt(maxArea / float64(a))
		w, h = max(uint64(float64(w)*f), 1), max(uint64(float64(h)*f), 1)
	}
	return max(w*h/750, 1)
}

// geminiImage is Gemini's image cost: 258 tokens when both sides are at most 384 px,
// else 258 per 768×768 tile.
func geminiImage(w, h uint64) uint64 {
	if w == 0 || h == 0 {
		return 258
	}
	if w <= 384 && h <= 384 {
		return 258
	}
	return 258 * ((w + 767) / 768) * ((h + 767) / 768)
}

// compactTools costs tool definitions the way OpenAI renders them for the model (the
// Cookbook's num_tokens_for_tools): per function its name and description, per
// property its key, type and description, enums item by item; nested object
// properties are rendered the same way. A schema that is not a map[string]any
// (raw JSON, a struct) is costed from its JSON, as Other does.
func (a accounting) compactTools(r *rules, o *llms.CallOptions) uint64 {
	var n uint64
	for i := range o.Tools {
		if f := o.Tools[i].Function; f != nil {
			n += a.compactFunction(r, f)
		}
	}
	for i := range o.Functions {
		n += a.compactFunction(r, &o.Functions[i])
	}
	n += r.funcEnd
	if s, ok := o.ToolChoice.(string); ok {
		n += a.count(s)
	} else if o.ToolChoice != nil {
		n += 8
	}
	return n
}

func (a accounting) compactFunction(r *rules, f *llms.FunctionDefinition) uint64 {
	n := r.funcInit + a.count(f.Name) + 1 + a.count(strings.TrimRight(f.Description, "."))
	switch params := f.Parameters.(type) {
	case nil:
	case map[string]any:
		n += a.compactProperties(r, params, 0)
	default:
		bp := jsonBufs.Get().(*[]byte)
		buf := appendJSON((*bp)[:0], params, 0)
		n += a.countBytes(buf)
		if cap(buf) <= 64<<10 {
			*bp = buf[:0]
			jsonBufs.Put(bp)
		}
	}
	return n
}

// compactProperties costs schema's "properties" as "key:type:description" lines, with
// r's framing (OpenAI Cookbook: prop_init 3, prop_key 3 and the two colons,
// enum_item 3, enum_init −3: an enum replaces a property's key framing).
func (a accounting) compactProperties(r *rules, schema map[string]any, depth int) uint64 {
	props, _ := schema["properties"].(map[string]any)
	if len(props) == 0 || depth > maxJSONDepth {
		return 0
	}
	n := r.propInit
	for key, v := range props {
		n += r.propKey + a.count(key)
		p, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if t, ok := p["type"].(string); ok {
			n += a.count(t)
		}
		if d, ok := p["description"].(string); ok {
			n += a.count(strings.TrimRight(d, "."))
		}
		switch e := p["enum"].(type) {
		case []any:
			n -= min(n, r.enumItem) // enum_init
			for _, item := range e {
				if s, ok := item.(string); ok {
					n += r.enumItem + a.count(s)
				} else {
					n += r.enumItem + 1
				}
			}
		case []string:
			n -= min(n, r.enumItem)
			for _, s := range e {
				n += r.enumItem + a.count(s)
			}
		}
		n += a.compactProperties(r, p, depth+1)
		if items, ok := p["items"].(map[string]any); ok {
			n += a.compactProperties(r, items, depth+1)
		}
	}
	return n
}
