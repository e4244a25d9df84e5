// Package billing computes the prompt tokens a provider bills for a request, from the
// request body as langchaingo's real client sent it, so that providertest servers can
// report usage the way the real providers do: with their framing, their hidden and
// tool prompts and their image rules, counted with a real BPE tokenizer.
//
// It is the ground truth of spendguard's prompt-estimate report. It renders each
// request the way the provider documents (or is known) to render it for the model,
// which the estimator does not do: OpenAI's tool definitions as the TypeScript-like
// "namespace functions" block, Ollama's Llama 3 chat template verbatim, Anthropic's
// tool-use system prompt per model family, Gemini's image tiles. Text is counted with
// o200k_base (OpenAI, Gemini) or cl100k_base (Anthropic, Ollama): the real tokenizers
// of Claude, Gemini and Llama are not public as tables, and a second tokenizer stands
// in for "a tokenizer other than the one the estimator assumes". A router's hidden
// system prompt is a parameter (Biller.HiddenPrompt).
//
// Bodies that do not decode bill 0. This package is internal to spendguard's tests.
package billing

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spendguard/spendguard/llmwrap/exact"
)

// Biller bills the requests of one provider.
type Biller struct {
	// HiddenPrompt is a system prompt the provider (or a router in front of it) adds
	// to every request, in tokens.
	HiddenPrompt int
	// Model overrides the model named in the request (Anthropic's tool prompt size
	// depends on the family).
	Model string
}

var (
	o200k = exact.Must(exact.WithEncoding("o200k_base"))
	cl100 = exact.Must(exact.WithEncoding("cl100k_base"))
)

func tok(e *exact.Estimator, s string) int { return int(e.CountText(s)) }

// ---------------------------------------------------------------- OpenAI

type oaReq struct {
	Messages []struct {
		Role      string          `json:"role"`
		Content   json.RawMessage `json:"content"`
		Name      string          `json:"name"`
		ToolCalls []struct {
			Function struct{ Name, Arguments string } `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name        string         `json:"name"`
			Description string         `json:"description"`
			Parameters  map[string]any `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
}

// OpenAI bills a chat completions request: per message 3 tokens, its role and
// content (and 1 + its name), every reply primed with 3 (OpenAI Cookbook, "How to
// count tokens with tiktoken"); images by OpenAI's tiles; the tools rendered as the
// "namespace functions" block OpenAI's models read, as a system message.
func (b Biller) OpenAI(body []byte) int {
	var r oaReq
	if json.Unmarshal(body, &r) != nil {
		return 0
	}
	n := 3 + b.HiddenPrompt
	for _, m := range r.Messages {
		n += 3 + tok(o200k, m.Role)
		if m.Name != "" {
			n += 1 + tok(o200k, m.Name)
		}
		var s string
		var parts []struct {
			Type     string `json:"type"`
			Text     string `json:"text"`
			ImageURL struct {
				URL    string `json:"url"`
				Detail string `json:"detail"`
			} `json:"image_url"`
		}
		if json.Unmarshal(m.Content, &s) == nil {
			n += tok(o200k, s)
		} else if json.Unmarshal(m.Content, &parts) == nil {
			for _, p := range parts {
				switch p.Type {
				case "text":
					n += tok(o200k, p.Text)
				case "image_url":
					if p.ImageURL.Detail == "low" {
						n += 85
					} else if w, h, ok := dataURLSize(p.ImageURL.URL); ok {
						n += openAITiles(w, h)
					} else {
						n += 765
					}
				}
			}
		}
		for _, c := range m.ToolCalls {
			// Rendered as functions.NAME({...}) inside the assistant message.
			n += 4 + tok(o200k, "functions."+c.Function.Name) + tok(o200k, c.Function.Arguments)
		}
	}
	if len(r.Tools) > 0 {
		var sb strings.Builder
		sb.WriteString("# Tools\n\n## functions\n\nnamespace functions {\n\n")
		for _, t := range r.Tools {
			f := t.Function
			if f.Description != "" {
				fmt.Fprintf(&sb, "// %s\n", f.Description)
			}
			fmt.Fprintf(&sb, "type %s = (", f.Name)
			if props, _ := f.Parameters["properties"].(map[string]any); len(props) > 0 {
				sb.WriteString("_: ")
				tsObject(&sb, f.Parameters, 0)
			}
			sb.WriteString(") => any;\n\n")
		}
		sb.WriteString("} // namespace functions")
		n += 3 + tok(o200k, "system") + tok(o200k, sb.String())
	}
	return n
}

// tsObject renders a JSON schema object as OpenAI's TypeScript-like type.
func tsObject(sb *strings.Builder, schema map[string]any, depth int) {
	props, _ := schema["properties"].(map[string]any)
	req := map[string]bool{}
	if r, ok := schema["required"].([]any); ok {
		for _, k := range r {
			if s, ok := k.(string); ok {
				req[s] = true
			}
		}
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	sb.WriteString("{\n")
	for _, k := range keys {
		p, _ := props[k].(map[string]any)
		if d, ok := p["description"].(string); ok {
			fmt.Fprintf(sb, "// %s\n", d)
		}
		sb.WriteString(k)
		if !req[k] {
			sb.WriteByte('?')
		}
		sb.WriteString(": ")
		tsType(sb, p, depth+1)
		sb.WriteString(",\n")
	}
	sb.WriteString("}")
}

func tsType(sb *strings.Builder, p map[string]any, depth int) {
	if e, ok := p["enum"].([]any); ok {
		for i, v := range e {
			if i > 0 {
				sb.WriteString(" | ")
			}
			b, _ := json.Marshal(v)
			sb.Write(b)
		}
		return
	}
	switch p["type"] {
	case "object":
		if depth < 8 {
			tsObject(sb, p, depth)
			return
		}
		sb.WriteString("object")
	case "array":
		items, _ := p["items"].(map[string]any)
		tsType(sb, items, depth+1)
		sb.WriteString("[]")
	case "integer":
		sb.WriteString("number")
	case nil:
		sb.WriteString("any")
	default:
		fmt.Fprint(sb, p["type"])
	}
}

// ---------------------------------------------------------------- Anthropic

type anReq struct {
	Model    string          `json:"model"`
	System   json.RawMessage `json:"system"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools      []json.RawMessage `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
	} `json:"tool_choice"`
}

// Anthropic bills a messages request: the system text, each message's turn marker
// and content blocks (tool_use as its name and input JSON, tool_result as its
// content), images as width × height / 750 (Anthropic, "Vision"), the tools as
// sent (JSON) plus the tool-use system prompt of the model family (Anthropic, "Tool
// use: pricing and tokens").
func (b Biller) Anthropic(body []byte) int {
	var r anReq
	if json.Unmarshal(body, &r) != nil {
		return 0
	}
	n := b.HiddenPrompt + 1 // the turn that opens the reply
	var sys string
	if json.Unmarshal(r.System, &sys) == nil {
		n += tok(cl100, sys)
	} else {
		n += anBlocks(r.System)
	}
	for _, m := range r.Messages {
		n += tok(cl100, "\n\n"+strings.ToUpper(m.Role[:min(1, len(m.Role))])+m.Role[min(1, len(m.Role)):]+":")
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			n += tok(cl100, s)
		} else {
			n += anBlocks(m.Content)
		}
	}
	if len(r.Tools) > 0 {
		for _, t := range r.Tools {
			n += tok(cl100, string(t))
		}
		model := r.Model
		if b.Model != "" {
			model = b.Model
		}
		forced := r.ToolChoice != nil && (r.ToolChoice.Type == "any" || r.ToolChoice.Type == "tool")
		n += anthropicToolPrompt(model, forced)
	}
	return n
}

func anBlocks(raw json.RawMessage) int {
	var blocks []struct {
		Type      string          `json:"type"`
		Text      string          `json:"text"`
		Name      string          `json:"name"`
		Input     json.RawMessage `json:"input"`
		Content   json.RawMessage `json:"content"`
		ToolUseID string          `json:"tool_use_id"`
		Source    struct {
			Data string `json:"data"`
		} `json:"source"`
	}
	if json.Unmarshal(raw, &blocks) != nil {
		return 0
	}
	n := 0
	for _, bl := range blocks {
		switch bl.Type {
		case "text":
			n += tok(cl100, bl.Text)
		case "tool_use":
			n += 5 + tok(cl100, bl.Name) + tok(cl100, string(bl.Input))
		case "tool_result":
			var s string
			if json.Unmarshal(bl.Content, &s) == nil {
				n += 5 + tok(cl100, s)
			} else {
				n += 5 + anBlocks(bl.Content)
			}
		case "image":
			data, _ := base64.StdEncoding.DecodeString(bl.Source.Data)
			if w, h, ok := imageSize(data); ok {
				n += anthropicImage(w, h)
			} else {
				n += 1600
			}
		}
	}
	return n
}

func anthropicToolPrompt(model string, forced bool) int {
	pick := func(auto, any int) int {
		if forced {
			return any
		}
		return auto
	}
	m := strings.ToLower(model)
	switch {
	case strings.Contains(m, "claude-3-opus"):
		return pick(530, 281)
	case strings.Contains(m, "claude-3-sonnet"):
		return pick(159, 235)
	case strings.Contains(m, "haiku") && strings.Contains(m, "claude-3"):
		return pick(264, 340)
	case strings.Contains(m, "claude-3-5-sonnet"):
		return pick(294, 261)
	}
	return pick(346, 313)
}

func anthropicImage(w, h int) int {
	if l := max(w, h); l > 1568 {
		w, h = w*1568/l, h*1568/l
	}
	for w*h > 1_150_000 {
		w, h = w*99/100, h*99/100
	}
	return max(w*h/750, 1)
}

// ---------------------------------------------------------------- Ollama

// Ollama bills the prompt its chat template renders: Llama 3.2's template (the
// default of the llama3.x models), verbatim, with tools as JSON in the last user
// message and the tool system text, counted with cl100k_base (Llama 3's tokenizer
// extends it).
func (b Biller) Ollama(body []byte) int {
	var r struct {
		Messages []struct {
			Role    string   `json:"role"`
			Content string   `json:"content"`
			Images  []string `json:"images"`
		} `json:"messages"`
		Tools []json.RawMessage `json:"tools"`
	}
	if json.Unmarshal(body, &r) != nil {
		return 0
	}
	var sb strings.Builder
	sb.WriteString("<|begin_of_text|>")
	system := ""
	for _, m := range r.Messages {
		if m.Role == "system" {
			system += m.Content
		}
	}
	if system != "" || len(r.Tools) > 0 {
		sb.WriteString("<|start_header_id|>system<|end_header_id|>\n\n")
		if len(r.Tools) > 0 {
			sb.WriteString("Environment: ipython\n")
		}
		sb.WriteString("Cutting Knowledge Date: December 2023\n\n")
		sb.WriteString(system)
		if len(r.Tools) > 0 {
			sb.WriteString("\n\nWhen you receive a tool call response, use the output to format an answer to the orginal user question.\n\nYou are a helpful assistant with tool calling capabilities.")
		}
		sb.WriteString("<|eot_id|>")
	}
	lastUser := -1
	for i, m := range r.Messages {
		if m.Role == "user" {
			lastUser = i
		}
	}
	images := 0
	for i, m := range r.Messages {
		images += len(m.Images)
		switch m.Role {
		case "system":
			continue
		case "tool":
			sb.WriteString("<|start_header_id|>ipython<|end_header_id|>\n\n")
		default:
			sb.WriteString("<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n")
		}
		if i == lastUser && len(r.Tools) > 0 {
			sb.WriteString("Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}. Do not use variables.\n\n")
			for _, t := range r.Tools {
				sb.Write(t)
				sb.WriteString("\n")
			}
		}
		sb.WriteString(m.Content)
		sb.WriteString("<|eot_id|>")
	}
	sb.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
	// Special tokens are one token each; count them apart from the text.
	text := sb.String()
	special := 0
	for _, sp := range []string{"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"} {
		c := strings.Count(text, sp)
		special += c
		text = strings.ReplaceAll(text, sp, " ")
	}
	return b.HiddenPrompt + special + tok(cl100, text) + 576*images
}

// ---------------------------------------------------------------- Gemini

// Gemini bills a generateContent request: the text of the system instruction and
// the contents with one token per turn, function calls and responses as their JSON,
// the function declarations as their JSON, inline images at 258 tokens per 768×768
// tile (258 when both sides are at most 384 px) (Google, "Understand and count
// tokens").
func (b Biller) Gemini(body []byte) int {
	var r struct {
		Contents          []gmContent `json:"contents"`
		SystemInstruction *gmContent  `json:"systemInstruction"`
		Tools             []struct {
			FunctionDeclarations []json.RawMessage `json:"functionDeclarations"`
		} `json:"tools"`
	}
	if json.Unmarshal(body, &r) != nil {
		return 0
	}
	n := b.HiddenPrompt
	if r.SystemInstruction != nil {
		n += r.SystemInstruction.tokens()
	}
	for _, c := range r.Contents {
		n += 1 + c.tokens()
	}
	for _, t := range r.Tools {
		for _, f := range t.FunctionDeclarations {
			n += tok(o200k, compact(f))
		}
	}
	return n
}

// compact is raw without insignificant whitespace: the SDK's protobuf JSON adds
// random spaces (on purpose, so that nobody relies on its bytes), which the API does
// not bill.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

type gmContent struct {
	Parts []struct {
		Text         string          `json:"text"`
		FunctionCall json.RawMessage `json:"functionCall"`
		FunctionResp json.RawMessage `json:"functionResponse"`
		InlineData   *struct {
			Data string `json:"data"`
		} `json:"inlineData"`
	} `json:"parts"`
}

func (c gmContent) tokens() int {
	n := 0
	for _, p := range c.Parts {
		n += tok(o200k, p.Text)
		if len(p.FunctionCall) > 0 {
			n += tok(o200k, compact(p.FunctionCall))
		}
		if len(p.FunctionResp) > 0 {
			n += tok(o200k, compact(p.FunctionResp))
		}
		if p.InlineData != nil {
			data, _ := base64.StdEncoding.DecodeString(p.InlineData.Data)
			w, h, ok := imageSize(data)
			switch {
			case !ok, w <= 384 && h <= 384:
				n += 258
			default:
				n += 258 * ((w + 767) / 768) * ((h + 767) / 768)
			}
		}
	}
	return n
}

// ---------------------------------------------------------------- images

func openAITiles(w, h int) int {
	if w > 2048 || h > 2048 {
		if w >= h {
			w, h = 2048, h*2048/w
		} else {
			w, h = w*2048/h, 2048
		}
	}
	if s := min(w, h); s > 768 {
		w, h = w*768/s, h*768/s
	}
	return 85 + 170*((w+511)/512)*((h+511)/512)
}

func dataURLSize(url string) (int, int, bool) {
	_, data, ok := strings.Cut(url, ";base64,")
	if !ok {
		return 0, 0, false
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return 0, 0, false
	}
	return imageSize(b)
}

// imageSize reads a PNG header (the tests' images are PNGs).
func imageSize(b []byte) (int, int, bool) {
	if len(b) < 24 || string(b[:8]) != "\x89PNG\r\n\x1a\n" {
		return 0, 0, false
	}
	return int(binary.BigEndian.Uint32(b[16:])), int(binary.BigEndian.Uint32(b[20:])), true
}
