package realbills

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// Call is the langchaingo call that sends a recorded request: send it with
// model.GenerateContent(ctx, c.Messages, c.Options...).
type Call struct {
	Messages []llms.MessageContent
	// Options name the model and carry the request's completion limit, sampling
	// settings, tools, tool choice and JSON mode. For a streamed record they include a
	// streaming function that discards the chunks (append another WithStreamingFunc to
	// see them: the last one wins).
	Options []llms.CallOption
	// Dropped lists, sorted and without repeats, what the recorded request held that
	// langchaingo v0.1.14 cannot send this way (a thinking block in the history, a
	// server-side tool, an unknown request field, ...): the rebuilt request is smaller
	// than the recorded one by those.
	Dropped []string
}

// Call rebuilds from r.Request the langchaingo call that sends the same request
// through the client Replay returns. It understands the three wire formats of the
// records: OpenAI chat completions (for OpenAI and OpenAICompat), Anthropic messages
// and Gemini generateContent. It fails on a request body that is not one of them
// (malformed JSON, no messages, an unknown role); what it can parse but langchaingo
// cannot express goes to Call.Dropped instead.
func (r *Record) Call() (Call, error) {
	var b callBuilder
	var err error
	switch r.Provider {
	case OpenAI, OpenAICompat:
		err = b.openai(r.Request)
	case Anthropic:
		err = b.anthropic(r.Request)
	case Gemini:
		err = b.gemini(r.Request)
	default:
		err = fmt.Errorf("unknown provider %q", r.Provider)
	}
	if err == nil && len(b.call.Messages) == 0 {
		err = errors.New("no messages")
	}
	if err != nil {
		return Call{}, fmt.Errorf("realbills: record %s: %w", r.ID, err)
	}
	b.call.Options = append([]llms.CallOption{llms.WithModel(r.Model)}, b.call.Options...)
	if r.Stream {
		b.opt(llms.WithStreamingFunc(func(context.Context, []byte) error { return nil }))
	}
	sort.Strings(b.call.Dropped)
	b.call.Dropped = slices.Compact(b.call.Dropped)
	return b.call, nil
}

type callBuilder struct{ call Call }

func (b *callBuilder) opt(o llms.CallOption) { b.call.Options = append(b.call.Options, o) }
func (b *callBuilder) drop(what string)      { b.call.Dropped = append(b.call.Dropped, what) }
func (b *callBuilder) add(role llms.ChatMessageType, parts ...llms.ContentPart) {
	if len(parts) > 0 {
		b.call.Messages = append(b.call.Messages, llms.MessageContent{Role: role, Parts: parts})
	}
}

// unknownFields drops every top-level field of body not in known (null and empty
// values aside).
func (b *callBuilder) unknownFields(body json.RawMessage, known ...string) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return
	}
	for k, v := range m {
		if slices.Contains(known, k) || isEmptyJSON(v) {
			continue
		}
		b.drop("request field " + k)
	}
}

func isEmptyJSON(v json.RawMessage) bool {
	switch string(bytes.TrimSpace(v)) {
	case "", "null", "[]", "{}", `""`, "false":
		return true
	}
	return false
}

// jsonText returns v as compact JSON text ({} for nothing).
func jsonText(v json.RawMessage) string {
	if isEmptyJSON(v) {
		return "{}"
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return string(v)
	}
	return buf.String()
}

// schema decodes a JSON schema into the map[string]any langchaingo's clients expect.
func schema(v json.RawMessage) any {
	if isEmptyJSON(v) {
		return map[string]any{"type": "object", "properties": map[string]any{}}
	}
	var m any
	if json.Unmarshal(v, &m) != nil {
		return nil
	}
	return m
}

// ---- OpenAI chat completions ----

type oaRequest struct {
	Messages []struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCalls  []oaToolCall    `json:"tool_calls"`
		ToolCallID string          `json:"tool_call_id"`
		Name       *string         `json:"name"`
	} `json:"messages"`
	Tools []struct {
		Type     string `json:"type"`
		Function *struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
			Strict      bool            `json:"strict"`
		} `json:"function"`
	} `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	MaxTokens           int             `json:"max_tokens"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	N                   int             `json:"n"`
	Seed                *int            `json:"seed"`
	Stop                json.RawMessage `json:"stop"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	ResponseFormat      *struct {
		Type string `json:"type"`
	} `json:"response_format"`
}

type oaToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

func (b *callBuilder) openai(body json.RawMessage) error {
	var req oaRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return err
	}
	b.unknownFields(body, "model", "messages", "tools", "tool_choice", "max_tokens", "max_completion_tokens",
		"temperature", "top_p", "n", "seed", "stop", "frequency_penalty", "presence_penalty",
		"response_format", "stream", "stream_options")
	for i, m := range req.Messages {
		parts := b.openaiContent(m.Content)
		switch m.Role {
		case "system", "developer":
			b.add(llms.ChatMessageTypeSystem, parts...)
		case "user":
			b.add(llms.ChatMessageTypeHuman, parts...)
		case "assistant":
			for _, tc := range m.ToolCalls {
				typ := tc.Type
				if typ == "" {
					typ = "function"
				}
				parts = append(parts, llms.ToolCall{ID: tc.ID, Type: typ,
					FunctionCall: &llms.FunctionCall{Name: tc.Function.Name, Arguments: tc.Function.Arguments}})
			}
			b.add(llms.ChatMessageTypeAI, parts...)
		case "tool":
			name := ""
			if m.Name != nil {
				name = *m.Name
			}
			b.add(llms.ChatMessageTypeTool, llms.ToolCallResponse{ToolCallID: m.ToolCallID, Name: name, Content: textOf(parts)})
		default:
			return fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
	}
	var tools []llms.Tool
	for _, t := range req.Tools {
		if t.Function == nil || t.Type != "" && t.Type != "function" {
			b.drop("openai tool of type " + t.Type)
			continue
		}
		tools = append(tools, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
			Name: t.Function.Name, Description: t.Function.Description,
			Parameters: schema(t.Function.Parameters), Strict: t.Function.Strict}})
	}
	if len(tools) > 0 {
		b.opt(llms.WithTools(tools))
	}
	if !isEmptyJSON(req.ToolChoice) {
		var s string
		var obj struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		switch {
		case json.Unmarshal(req.ToolChoice, &s) == nil:
			b.opt(llms.WithToolChoice(s))
		case json.Unmarshal(req.ToolChoice, &obj) == nil && obj.Function.Name != "":
			b.opt(llms.WithToolChoice(llms.ToolChoice{Type: "function", Function: &llms.FunctionReference{Name: obj.Function.Name}}))
		default:
			b.drop("tool_choice " + jsonText(req.ToolChoice))
		}
	}
	if n := max(req.MaxTokens, req.MaxCompletionTokens); n > 0 {
		b.opt(llms.WithMaxTokens(n))
	}
	b.sampling(req.Temperature, req.TopP, nil)
	if req.N > 1 {
		b.opt(llms.WithN(req.N))
	}
	if req.Seed != nil {
		b.opt(llms.WithSeed(*req.Seed))
	}
	if req.FrequencyPenalty != nil {
		b.opt(llms.WithFrequencyPenalty(*req.FrequencyPenalty))
	}
	if req.PresencePenalty != nil {
		b.opt(llms.WithPresencePenalty(*req.PresencePenalty))
	}
	if stop := stopWords(req.Stop); len(stop) > 0 {
		b.opt(llms.WithStopWords(stop))
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			b.opt(llms.WithJSONMode())
		case "text", "":
		default:
			b.drop("response_format " + rf.Type)
		}
	}
	return nil
}

func (b *callBuilder) sampling(temperature, topP *float64, topK *int) {
	if temperature != nil {
		b.opt(llms.WithTemperature(*temperature))
	}
	if topP != nil {
		b.opt(llms.WithTopP(*topP))
	}
	if topK != nil {
		b.opt(llms.WithTopK(*topK))
	}
}

func stopWords(v json.RawMessage) []string {
	var one string
	if json.Unmarshal(v, &one) == nil {
		if one == "" {
			return nil
		}
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(v, &many)
	return many
}

// openaiContent reads a message's content: a string, null or an array of parts.
func (b *callBuilder) openaiContent(v json.RawMessage) []llms.ContentPart {
	var s string
	if json.Unmarshal(v, &s) == nil {
		if s == "" {
			return nil
		}
		return []llms.ContentPart{llms.TextContent{Text: s}}
	}
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL *struct {
			URL    string `json:"url"`
			Detail string `json:"detail"`
		} `json:"image_url"`
	}
	if json.Unmarshal(v, &parts) != nil {
		return nil
	}
	var out []llms.ContentPart
	for _, p := range parts {
		switch {
		case p.Type == "text":
			out = append(out, llms.TextContent{Text: p.Text})
		case p.Type == "image_url" && p.ImageURL != nil:
			out = append(out, llms.ImageURLContent{URL: p.ImageURL.URL, Detail: p.ImageURL.Detail})
		default:
			b.drop("openai content part " + p.Type)
		}
	}
	return out
}

// textOf joins the text parts of parts.
func textOf(parts []llms.ContentPart) string {
	var sb strings.Builder
	for _, p := range parts {
		if t, ok := p.(llms.TextContent); ok {
			sb.WriteString(t.Text)
		}
	}
	return sb.String()
}

// ---- Anthropic messages ----

type anBlock struct {
	Type         string `json:"type"`
	Text         string `json:"text"`
	CacheControl *struct {
		Type string `json:"type"`
	} `json:"cache_control"`
	Source *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
		URL       string `json:"url"`
	} `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
}

func (b *callBuilder) anthropic(body json.RawMessage) error {
	var req struct {
		System   json.RawMessage `json:"system"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Type        string          `json:"type"`
			Name        string          `json:"name"`
			Description string          `json:"description"`
			InputSchema json.RawMessage `json:"input_schema"`
		} `json:"tools"`
		ToolChoice    json.RawMessage `json:"tool_choice"`
		MaxTokens     int             `json:"max_tokens"`
		Temperature   *float64        `json:"temperature"`
		TopP          *float64        `json:"top_p"`
		TopK          *int            `json:"top_k"`
		StopSequences []string        `json:"stop_sequences"`
		Thinking      *struct {
			Type         string `json:"type"`
			BudgetTokens int    `json:"budget_tokens"`
		} `json:"thinking"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return err
	}
	b.unknownFields(body, "model", "system", "messages", "tools", "tool_choice", "max_tokens", "temperature",
		"top_p", "top_k", "stop_sequences", "thinking", "stream")
	if !isEmptyJSON(req.System) {
		blocks, err := anthropicBlocks(req.System)
		if err != nil {
			return fmt.Errorf("system: %w", err)
		}
		var parts []llms.ContentPart
		for _, bl := range blocks {
			if bl.Type != "text" {
				b.drop("anthropic system block " + bl.Type)
				continue
			}
			parts = append(parts, cached(llms.TextContent{Text: bl.Text}, bl.CacheControl != nil, bl.cacheType()))
		}
		b.add(llms.ChatMessageTypeSystem, parts...)
	}
	for i, m := range req.Messages {
		blocks, err := anthropicBlocks(m.Content)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		var role llms.ChatMessageType
		switch m.Role {
		case "user":
			role = llms.ChatMessageTypeHuman
		case "assistant":
			role = llms.ChatMessageTypeAI
		default:
			return fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
		var parts []llms.ContentPart
		flush := func() { b.add(role, parts...); parts = nil }
		for _, bl := range blocks {
			switch bl.Type {
			case "text":
				parts = append(parts, cached(llms.TextContent{Text: bl.Text}, bl.CacheControl != nil, bl.cacheType()))
			case "image":
				if p, ok := anthropicImage(bl); ok {
					parts = append(parts, p)
				} else {
					b.drop("anthropic image source")
				}
			case "tool_use":
				parts = append(parts, llms.ToolCall{ID: bl.ID, Type: "function",
					FunctionCall: &llms.FunctionCall{Name: bl.Name, Arguments: jsonText(bl.Input)}})
			case "tool_result":
				// langchaingo sends a tool result as a message of its own (a user
				// message holding the tool_result block).
				flush()
				b.add(llms.ChatMessageTypeTool, llms.ToolCallResponse{ToolCallID: bl.ToolUseID, Content: b.anthropicResultText(bl.Content)})
			default: // thinking, redacted_thinking, document, server tool blocks
				b.drop("anthropic " + bl.Type + " block")
			}
		}
		flush()
	}
	var tools []llms.Tool
	for _, t := range req.Tools {
		if t.Type != "" && t.Type != "custom" {
			b.drop("anthropic server tool " + t.Type)
			continue
		}
		tools = append(tools, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
			Name: t.Name, Description: t.Description, Parameters: schema(t.InputSchema)}})
	}
	if len(tools) > 0 {
		b.opt(llms.WithTools(tools))
	}
	if !isEmptyJSON(req.ToolChoice) {
		b.drop("tool_choice (langchaingo's anthropic client does not send it)")
	}
	if req.MaxTokens > 0 {
		b.opt(llms.WithMaxTokens(req.MaxTokens))
	}
	b.sampling(req.Temperature, req.TopP, req.TopK)
	if len(req.StopSequences) > 0 {
		b.opt(llms.WithStopWords(req.StopSequences))
	}
	if t := req.Thinking; t != nil && t.Type == "enabled" {
		b.opt(llms.WithThinking(&llms.ThinkingConfig{Mode: llms.ThinkingModeAuto, BudgetTokens: t.BudgetTokens}))
	}
	return nil
}

func (bl anBlock) cacheType() string {
	if bl.CacheControl == nil {
		return ""
	}
	return bl.CacheControl.Type
}

func cached(p llms.ContentPart, isCached bool, typ string) llms.ContentPart {
	if !isCached {
		return p
	}
	return llms.WithCacheControl(p, &llms.CacheControl{Type: typ})
}

// anthropicBlocks reads content that is a string or an array of blocks.
func anthropicBlocks(v json.RawMessage) ([]anBlock, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return []anBlock{{Type: "text", Text: s}}, nil
	}
	var blocks []anBlock
	if err := json.Unmarshal(v, &blocks); err != nil {
		return nil, err
	}
	return blocks, nil
}

func anthropicImage(bl anBlock) (llms.ContentPart, bool) {
	if bl.Source == nil {
		return nil, false
	}
	switch bl.Source.Type {
	case "base64":
		data, err := base64.StdEncoding.DecodeString(bl.Source.Data)
		if err != nil {
			return nil, false
		}
		return llms.BinaryContent{MIMEType: bl.Source.MediaType, Data: data}, true
	case "url":
		return llms.ImageURLContent{URL: bl.Source.URL}, true
	}
	return nil, false
}

// anthropicResultText is the text of a tool_result's content (a string or blocks).
func (b *callBuilder) anthropicResultText(v json.RawMessage) string {
	if isEmptyJSON(v) {
		return ""
	}
	blocks, err := anthropicBlocks(v)
	if err != nil {
		return string(v)
	}
	var sb strings.Builder
	for _, bl := range blocks {
		if bl.Type == "text" {
			sb.WriteString(bl.Text)
		} else {
			b.drop("anthropic tool_result " + bl.Type + " block")
		}
	}
	return sb.String()
}

// ---- Gemini generateContent ----

type gmContent struct {
	Role  string   `json:"role"`
	Parts []gmPart `json:"parts"`
}

// gmPart is one part of a Gemini content. The API takes protobuf JSON, so a field
// may come in lowerCamelCase or in its proto name (snake_case): both are read.
type gmPart struct {
	Text             *string
	Thought          bool
	ThoughtSignature string
	InlineData       *gmBlob
	FileData         *struct {
		MimeType string `json:"mimeType"`
		FileURI  string `json:"fileUri"`
	}
	FunctionCall     *gmFunctionCall
	FunctionResponse *gmFunctionResponse
}

type gmBlob struct {
	MimeType  string `json:"mimeType"`
	MimeType2 string `json:"mime_type"`
	Data      string `json:"data"`
}

type gmFunctionCall struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type gmFunctionResponse struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

func (p *gmPart) UnmarshalJSON(b []byte) error {
	var w struct {
		Text              *string             `json:"text"`
		Thought           bool                `json:"thought"`
		ThoughtSignature  string              `json:"thoughtSignature"`
		ThoughtSignature2 string              `json:"thought_signature"`
		InlineData        *gmBlob             `json:"inlineData"`
		InlineData2       *gmBlob             `json:"inline_data"`
		FunctionCall      *gmFunctionCall     `json:"functionCall"`
		FunctionCall2     *gmFunctionCall     `json:"function_call"`
		FunctionResponse  *gmFunctionResponse `json:"functionResponse"`
		FunctionResponse2 *gmFunctionResponse `json:"function_response"`
		FileData          *struct {
			MimeType string `json:"mimeType"`
			FileURI  string `json:"fileUri"`
		} `json:"fileData"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = gmPart{Text: w.Text, Thought: w.Thought, ThoughtSignature: cmp.Or(w.ThoughtSignature, w.ThoughtSignature2),
		InlineData: cmp.Or(w.InlineData, w.InlineData2), FunctionCall: cmp.Or(w.FunctionCall, w.FunctionCall2),
		FunctionResponse: cmp.Or(w.FunctionResponse, w.FunctionResponse2), FileData: w.FileData}
	if p.InlineData != nil {
		p.InlineData.MimeType = cmp.Or(p.InlineData.MimeType, p.InlineData.MimeType2)
	}
	return nil
}

type gmFunctionDecl struct {
	Name                  string          `json:"name"`
	Description           string          `json:"description"`
	Parameters            json.RawMessage `json:"parameters"`
	ParametersJSONSchema  json.RawMessage `json:"parametersJsonSchema"`
	ParametersJSONSchema2 json.RawMessage `json:"parameters_json_schema"`
}

type gmTool struct {
	FunctionDeclarations  []gmFunctionDecl `json:"functionDeclarations"`
	FunctionDeclarations2 []gmFunctionDecl `json:"function_declarations"`
}

// geminiTools reads "tools": an array of tools, or one tool.
func geminiTools(v json.RawMessage) ([]gmTool, error) {
	if isEmptyJSON(v) {
		return nil, nil
	}
	var many []gmTool
	if err := json.Unmarshal(v, &many); err == nil {
		return many, nil
	}
	var one gmTool
	if err := json.Unmarshal(v, &one); err != nil {
		return nil, fmt.Errorf("tools: %w", err)
	}
	return []gmTool{one}, nil
}

func (b *callBuilder) gemini(body json.RawMessage) error {
	var req struct {
		Contents          []gmContent     `json:"contents"`
		SystemInstruction *gmContent      `json:"systemInstruction"`
		Tools             json.RawMessage `json:"tools"`
		ToolConfig        json.RawMessage `json:"toolConfig"`
		GenerationConfig  struct {
			MaxOutputTokens  int             `json:"maxOutputTokens"`
			Temperature      *float64        `json:"temperature"`
			TopP             *float64        `json:"topP"`
			TopK             *float64        `json:"topK"`
			CandidateCount   int             `json:"candidateCount"`
			StopSequences    []string        `json:"stopSequences"`
			ResponseMimeType string          `json:"responseMimeType"`
			ResponseSchema   json.RawMessage `json:"responseSchema"`
			ResponseJSON     json.RawMessage `json:"responseJsonSchema"`
			ThinkingConfig   json.RawMessage `json:"thinkingConfig"`
		} `json:"generationConfig"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return err
	}
	b.unknownFields(body, "contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
		"safetySettings", "labels")
	if s := req.SystemInstruction; s != nil {
		parts, _ := b.geminiParts(*s, false)
		b.add(llms.ChatMessageTypeSystem, parts...)
	}
	for i, c := range req.Contents {
		switch c.Role {
		case "user", "":
			parts, results := b.geminiParts(c, false)
			b.add(llms.ChatMessageTypeHuman, parts...)
			for _, r := range results {
				b.add(llms.ChatMessageTypeTool, r)
			}
		case "model":
			parts, _ := b.geminiParts(c, true)
			b.add(llms.ChatMessageTypeAI, parts...)
		default:
			return fmt.Errorf("content %d: unknown role %q", i, c.Role)
		}
	}
	gtools, err := geminiTools(req.Tools)
	if err != nil {
		return err
	}
	var tools []llms.Tool
	for _, t := range gtools {
		decls := append(t.FunctionDeclarations, t.FunctionDeclarations2...)
		if len(decls) == 0 {
			b.drop("gemini non-function tool")
		}
		for _, f := range decls {
			params := f.Parameters
			if isEmptyJSON(params) {
				params = f.ParametersJSONSchema
			}
			if isEmptyJSON(params) {
				params = f.ParametersJSONSchema2
			}
			tools = append(tools, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
				Name: f.Name, Description: f.Description, Parameters: geminiSchema(schema(params))}})
		}
	}
	if len(tools) > 0 {
		b.opt(llms.WithTools(tools))
	}
	if !isEmptyJSON(req.ToolConfig) {
		b.drop("toolConfig (langchaingo's googleai client does not send it)")
	}
	g := req.GenerationConfig
	if g.MaxOutputTokens > 0 {
		b.opt(llms.WithMaxTokens(g.MaxOutputTokens))
	}
	var topK *int
	if g.TopK != nil {
		k := int(*g.TopK)
		topK = &k
	}
	b.sampling(g.Temperature, g.TopP, topK)
	if g.CandidateCount > 1 {
		b.opt(llms.WithCandidateCount(g.CandidateCount))
	}
	if len(g.StopSequences) > 0 {
		b.opt(llms.WithStopWords(g.StopSequences))
	}
	if g.ResponseMimeType != "" {
		b.opt(llms.WithResponseMIMEType(g.ResponseMimeType))
	}
	if !isEmptyJSON(g.ResponseSchema) || !isEmptyJSON(g.ResponseJSON) {
		b.drop("generationConfig response schema")
	}
	if !isEmptyJSON(g.ThinkingConfig) {
		b.drop("generationConfig thinkingConfig")
	}
	return nil
}

// geminiParts converts one content's parts; the function responses of a user
// content come back apart, as langchaingo sends each as a tool message.
func (b *callBuilder) geminiParts(c gmContent, model bool) (parts []llms.ContentPart, results []llms.ContentPart) {
	for _, p := range c.Parts {
		if p.ThoughtSignature != "" {
			b.drop("gemini thought signature")
		}
		switch {
		case p.Thought:
			b.drop("gemini thought part")
		case p.Text != nil:
			parts = append(parts, llms.TextContent{Text: *p.Text})
		case p.InlineData != nil:
			data, err := base64.StdEncoding.DecodeString(p.InlineData.Data)
			if err != nil {
				b.drop("gemini inlineData that is not base64")
				continue
			}
			parts = append(parts, llms.BinaryContent{MIMEType: p.InlineData.MimeType, Data: data})
		case p.FunctionCall != nil:
			parts = append(parts, llms.ToolCall{ID: p.FunctionCall.ID, Type: "function",
				FunctionCall: &llms.FunctionCall{Name: p.FunctionCall.Name, Arguments: jsonText(p.FunctionCall.Args)}})
		case p.FunctionResponse != nil && !model:
			results = append(results, llms.ToolCallResponse{ToolCallID: p.FunctionResponse.ID,
				Name: p.FunctionResponse.Name, Content: jsonText(p.FunctionResponse.Response)})
		case p.FileData != nil:
			b.drop("gemini fileData")
		case p.ThoughtSignature == "":
			b.drop("gemini part of another kind")
		}
	}
	return parts, results
}

// geminiSchema adapts a schema to what langchaingo's googleai client converts: type
// names in lower case (Gemini's own schemas say "STRING"), one type where JSON Schema
// allows a list (the first that is not "null"), property values that are objects,
// and a top-level object with properties.
func geminiSchema(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return map[string]any{}
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[k] = x
	}
	switch t := m["type"].(type) {
	case string:
		out["type"] = strings.ToLower(t)
	case []any:
		out["type"] = "string"
		for _, e := range t {
			if s, ok := e.(string); ok && s != "null" {
				out["type"] = strings.ToLower(s)
				break
			}
		}
	case nil:
	default:
		delete(out, "type")
	}
	if props, ok := m["properties"].(map[string]any); ok {
		np := make(map[string]any, len(props))
		for k, p := range props {
			np[k] = geminiSchema(p)
		}
		out["properties"] = np
	} else if _, has := m["properties"]; has || out["type"] == "object" {
		out["properties"] = map[string]any{}
	}
	if items, ok := m["items"]; ok {
		out["items"] = geminiSchema(items)
	}
	return out
}
