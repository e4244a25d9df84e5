package otel

import (
	"encoding/json"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/tmc/langchaingo/llms"
)

// The message shapes of the GenAI conventions' input and output JSON schemas
// (gen-ai-input-messages.json, gen-ai-output-messages.json). Each part type is its own
// struct so that required fields are written even when empty.

type textPart struct {
	Type    string `json:"type"` // "text" or "reasoning"
	Content string `json:"content"`
}

type toolCallPart struct {
	Type      string `json:"type"` // "tool_call"
	ID        string `json:"id,omitempty"`
	Name      string `json:"name"`
	Arguments any    `json:"arguments,omitempty"`
}

type toolResponsePart struct {
	Type     string `json:"type"` // "tool_call_response"
	ID       string `json:"id,omitempty"`
	Response any    `json:"response"`
}

type uriPart struct {
	Type     string `json:"type"` // "uri"
	Modality string `json:"modality"`
	URI      string `json:"uri"`
}

type blobPart struct {
	Type     string `json:"type"` // "blob"
	MimeType string `json:"mime_type,omitempty"`
	Modality string `json:"modality"`
	Content  []byte `json:"content"` // base64, as encoding/json writes []byte
}

type inputMessage struct {
	Role  string `json:"role"`
	Parts []any  `json:"parts"`
}

type outputMessage struct {
	Role         string `json:"role"`
	Parts        []any  `json:"parts"`
	FinishReason string `json:"finish_reason"`
}

// appendContent adds gen_ai.input.messages and gen_ai.output.messages.
func appendContent(a []attribute.KeyValue, msgs []llms.MessageContent, resp *llms.ContentResponse, oneGen bool) []attribute.KeyValue {
	if in, ok := marshal(inputMessages(msgs)); ok {
		a = append(a, semconv.GenAIInputMessagesKey.String(in))
	}
	if resp != nil {
		if out, ok := marshal(outputMessages(resp, oneGen)); ok {
			a = append(a, semconv.GenAIOutputMessagesKey.String(out))
		}
	}
	return a
}

func marshal(v any) (string, bool) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(b), true
}

func role(t llms.ChatMessageType) string {
	switch t {
	case llms.ChatMessageTypeSystem:
		return "system"
	case llms.ChatMessageTypeAI:
		return "assistant"
	case llms.ChatMessageTypeTool, llms.ChatMessageTypeFunction:
		return "tool"
	default: // human, generic, unknown
		return "user"
	}
}

func inputMessages(msgs []llms.MessageContent) []inputMessage {
	out := make([]inputMessage, 0, len(msgs))
	for _, m := range msgs {
		parts := make([]any, 0, len(m.Parts))
		for _, p := range m.Parts {
			if jp := inputPart(p); jp != nil {
				parts = append(parts, jp)
			}
		}
		out = append(out, inputMessage{Role: role(m.Role), Parts: parts})
	}
	return out
}

func inputPart(p llms.ContentPart) any {
	switch p := p.(type) {
	case llms.TextContent:
		return textPart{Type: "text", Content: p.Text}
	case *llms.TextContent:
		if p != nil {
			return textPart{Type: "text", Content: p.Text}
		}
	case llms.ImageURLContent:
		return uriPart{Type: "uri", Modality: "image", URI: p.URL}
	case *llms.ImageURLContent:
		if p != nil {
			return uriPart{Type: "uri", Modality: "image", URI: p.URL}
		}
	case llms.BinaryContent:
		return blobPart{Type: "blob", MimeType: p.MIMEType, Modality: modality(p.MIMEType), Content: p.Data}
	case *llms.BinaryContent:
		if p != nil {
			return blobPart{Type: "blob", MimeType: p.MIMEType, Modality: modality(p.MIMEType), Content: p.Data}
		}
	case llms.ToolCall:
		return toolCall(p)
	case *llms.ToolCall:
		if p != nil {
			return toolCall(*p)
		}
	case llms.ToolCallResponse:
		return toolResponsePart{Type: "tool_call_response", ID: p.ToolCallID, Response: p.Content}
	case *llms.ToolCallResponse:
		if p != nil {
			return toolResponsePart{Type: "tool_call_response", ID: p.ToolCallID, Response: p.Content}
		}
	}
	return nil
}

func modality(mime string) string {
	major, _, _ := strings.Cut(mime, "/")
	switch major {
	case "image", "audio", "video":
		return major
	}
	return "image" // langchaingo's binary parts are images in practice
}

func toolCall(tc llms.ToolCall) toolCallPart {
	p := toolCallPart{Type: "tool_call", ID: tc.ID}
	if tc.FunctionCall != nil {
		p.Name = tc.FunctionCall.Name
		p.Arguments = arguments(tc.FunctionCall.Arguments)
	}
	return p
}

// arguments keeps a JSON object as an object and anything else as a string, as the
// conventions ask ("the instrumentation SHOULD do the best effort to deserialize it").
func arguments(s string) any {
	if s == "" {
		return nil
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	return s
}

func outputMessages(resp *llms.ContentResponse, oneGen bool) []outputMessage {
	var out []outputMessage
	for _, ch := range resp.Choices {
		if ch == nil {
			continue
		}
		if oneGen && len(out) == 1 {
			out[0].Parts = appendChoiceParts(out[0].Parts, ch)
			continue
		}
		out = append(out, outputMessage{
			Role:         "assistant",
			Parts:        appendChoiceParts(make([]any, 0, 1+len(ch.ToolCalls)), ch),
			FinishReason: finishReason(ch.StopReason),
		})
	}
	if out == nil {
		out = []outputMessage{}
	}
	return out
}

func appendChoiceParts(parts []any, ch *llms.ContentChoice) []any {
	if ch.ReasoningContent != "" {
		parts = append(parts, textPart{Type: "reasoning", Content: ch.ReasoningContent})
	}
	if ch.Content != "" {
		parts = append(parts, textPart{Type: "text", Content: ch.Content})
	}
	for _, tc := range ch.ToolCalls {
		parts = append(parts, toolCall(tc))
	}
	if len(ch.ToolCalls) == 0 && ch.FuncCall != nil {
		parts = append(parts, toolCallPart{Type: "tool_call", Name: ch.FuncCall.Name, Arguments: arguments(ch.FuncCall.Arguments)})
	}
	return parts
}

// finishReason maps a provider's stop reason to the conventions' values (stop,
// length, content_filter, tool_call, error), keeping unknown ones as they are.
func finishReason(r string) string {
	switch strings.ToLower(r) {
	case "", "stop", "end_turn", "stop_sequence", "eos", "finish_reason_stop":
		return "stop"
	case "length", "max_tokens", "finish_reason_max_tokens":
		return "length"
	case "tool_calls", "tool_use", "function_call":
		return "tool_call"
	case "content_filter", "safety":
		return "content_filter"
	}
	return r
}
