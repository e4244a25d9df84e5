package providertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// NewAnthropic starts a server speaking Anthropic's messages API at
// POST {URL}/messages (langchaingo appends /messages to its base URL) and
// {URL}/v1/messages.
//
// A non-streaming request gets one message whose content holds a text block (when
// Text is set, or when there is nothing else to say) followed by one tool_use block
// per ToolCall; langchaingo turns each block into its own choice. Its usage is
// {input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens},
// input_tokens excluding the cache (see the package doc). A request with
// "stream": true gets the SSE events message_start (input and cache usage),
// content_block_start / content_block_delta (text_delta, input_json_delta) /
// content_block_stop per block, a ping, message_delta (stop_reason and output_tokens)
// and message_stop. Errors are {"type": "error", "error": {"type", "message"}}.
func NewAnthropic(s Script) *Server { return newServer(s, (*Server).serveAnthropic) }

type anUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

func anthropicUsage(u *Usage) *anUsage {
	if u == nil {
		return nil
	}
	return &anUsage{
		InputTokens:              max(u.Prompt-u.CachedPrompt-u.CacheWrite, 0),
		CacheReadInputTokens:     u.CachedPrompt,
		CacheCreationInputTokens: u.CacheWrite,
		OutputTokens:             u.Completion,
	}
}

type anBlock struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

type anMessage struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Role         string    `json:"role"`
	Model        string    `json:"model"`
	Content      []anBlock `json:"content"`
	StopReason   *string   `json:"stop_reason"`
	StopSequence *string   `json:"stop_sequence"`
	Usage        *anUsage  `json:"usage,omitempty"`
}

func anthropicError(w http.ResponseWriter, status int, msg string) {
	typ := "api_error"
	switch status {
	case http.StatusBadRequest:
		typ = "invalid_request_error"
	case http.StatusUnauthorized:
		typ = "authentication_error"
	case http.StatusForbidden:
		typ = "permission_error"
	case http.StatusNotFound:
		typ = "not_found_error"
	case http.StatusRequestEntityTooLarge:
		typ = "request_too_large"
	case http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case 529:
		typ = "overloaded_error"
	}
	writeJSON(w, status, map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}})
}

func (s *Server) serveAnthropic(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/v1")
	req, ok := s.accept(w, r, p == "/messages", "Not Found", anthropicError)
	if !ok {
		return
	}
	body := req.Body
	var in struct {
		Model     string            `json:"model"`
		Messages  []json.RawMessage `json:"messages"`
		MaxTokens int               `json:"max_tokens"`
		Stream    bool              `json:"stream"`
		Tools     []json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		s.record(req)
		anthropicError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return
	}
	req.Model, req.MaxTokens, req.Stream = in.Model, in.MaxTokens, in.Stream
	req.Messages, req.Tools = len(in.Messages), len(in.Tools)
	s.record(req)

	rep := s.reply(r, req)
	if failed(rep) {
		anthropicError(w, rep.Status, errText(rep))
		return
	}
	stop := rep.FinishReason
	if stop == "" {
		stop = "end_turn"
		if len(rep.ToolCalls) > 0 {
			stop = "tool_use"
		}
	}
	model := in.Model
	if model == "" {
		model = "claude-3-5-sonnet-20240620"
	}
	var blocks []anBlock
	if rep.Text != "" || len(rep.ToolCalls) == 0 {
		t := rep.Text
		blocks = append(blocks, anBlock{Type: "text", Text: &t})
	}
	for _, tc := range rep.ToolCalls {
		id := tc.ID
		if id == "" {
			id = fmt.Sprintf("toolu_%d", s.nextID())
		}
		blocks = append(blocks, anBlock{Type: "tool_use", ID: id, Name: tc.Name, Input: argsObject(tc.Arguments)})
	}
	msg := anMessage{ID: fmt.Sprintf("msg_%d", s.nextID()), Type: "message", Role: "assistant", Model: model}

	if !in.Stream {
		msg.Content, msg.StopReason, msg.Usage = blocks, &stop, anthropicUsage(rep.Usage)
		writeJSON(w, http.StatusOK, msg)
		return
	}

	// langchaingo's stream parser fails without usage in message_start and
	// message_delta, and Anthropic always sends it: a nil Usage goes out as zeros.
	u := anthropicUsage(rep.Usage)
	if u == nil {
		u = &anUsage{}
	}
	start := *u
	start.OutputTokens = min(1, u.OutputTokens) // Anthropic counts the first token here
	msg.Content, msg.Usage = []anBlock{}, &start
	ev := newSSE(w)
	ev.event("message_start", map[string]any{"type": "message_start", "message": msg})
	for i, b := range blocks {
		switch b.Type {
		case "text":
			empty := ""
			ev.event("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": anBlock{Type: "text", Text: &empty}})
			if i == 0 {
				ev.event("ping", map[string]any{"type": "ping"})
			}
			for _, piece := range chunks(*b.Text) {
				ev.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i,
					"delta": map[string]any{"type": "text_delta", "text": piece}})
			}
		case "tool_use":
			ev.event("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": anBlock{Type: "tool_use", ID: b.ID, Name: b.Name, Input: json.RawMessage(`{}`)}})
			for _, a := range argChunks(string(b.Input)) {
				ev.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i,
					"delta": map[string]any{"type": "input_json_delta", "partial_json": a}})
			}
		}
		ev.event("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
	}
	ev.event("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": u.OutputTokens}})
	ev.event("message_stop", map[string]any{"type": "message_stop"})
}
