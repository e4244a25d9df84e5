package providertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// NewOllama starts a server speaking Ollama's POST {URL}/api/chat.
//
// Like Ollama, it streams NDJSON unless the request says "stream": false
// (langchaingo leaves the field out when it does not stream, and reads the stream
// back into one answer). Text goes out in word pieces, tool calls in one message
// (langchaingo v0.1.14 ignores them), and the final "done": true line carries
// done_reason, prompt_eval_count (Usage.Prompt) and eval_count (Usage.Completion).
// With "stream": false the same final object is sent whole, holding all the text.
// A nil Usage leaves both counts out. Errors are {"error": "message"}.
func NewOllama(s Script) *Server { return newServer(s, (*Server).serveOllama) }

type olToolCall struct {
	Function struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

type olMessage struct {
	Role      string       `json:"role"`
	Content   string       `json:"content"`
	ToolCalls []olToolCall `json:"tool_calls,omitempty"`
}

type olResponse struct {
	Model              string    `json:"model"`
	CreatedAt          string    `json:"created_at"`
	Message            olMessage `json:"message"`
	DoneReason         string    `json:"done_reason,omitempty"`
	Done               bool      `json:"done"`
	TotalDuration      int64     `json:"total_duration,omitempty"`
	LoadDuration       int64     `json:"load_duration,omitempty"`
	PromptEvalCount    *int      `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64     `json:"prompt_eval_duration,omitempty"`
	EvalCount          *int      `json:"eval_count,omitempty"`
	EvalDuration       int64     `json:"eval_duration,omitempty"`
}

func ollamaError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) serveOllama(w http.ResponseWriter, r *http.Request) {
	req, ok := s.accept(w, r, r.URL.Path == "/api/chat", "404 page not found", ollamaError)
	if !ok {
		return
	}
	body := req.Body
	var in struct {
		Model    string            `json:"model"`
		Messages []json.RawMessage `json:"messages"`
		Stream   *bool             `json:"stream"`
		Options  struct {
			NumPredict int `json:"num_predict"`
		} `json:"options"`
		Tools []json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		s.record(req)
		ollamaError(w, http.StatusBadRequest, "invalid character in request: "+err.Error())
		return
	}
	req.Model, req.MaxTokens = in.Model, in.Options.NumPredict
	req.Stream = in.Stream != nil && *in.Stream
	req.Messages, req.Tools = len(in.Messages), len(in.Tools)
	s.record(req)

	rep := s.reply(r, req)
	if failed(rep) {
		ollamaError(w, rep.Status, errText(rep))
		return
	}
	done := rep.FinishReason
	if done == "" {
		done = "stop"
	}
	created := time.Now().UTC().Format(time.RFC3339Nano)
	var calls []olToolCall
	for _, tc := range rep.ToolCalls {
		var c olToolCall
		c.Function.Name, c.Function.Arguments = tc.Name, argsObject(tc.Arguments)
		calls = append(calls, c)
	}
	final := olResponse{Model: in.Model, CreatedAt: created, Message: olMessage{Role: "assistant"},
		DoneReason: done, Done: true, TotalDuration: 1_500_000, LoadDuration: 100_000,
		PromptEvalDuration: 400_000, EvalDuration: 1_000_000}
	if rep.Usage != nil {
		p, c := rep.Usage.Prompt, rep.Usage.Completion
		final.PromptEvalCount, final.EvalCount = &p, &c
	}

	if in.Stream != nil && !*in.Stream {
		final.Message.Content, final.Message.ToolCalls = rep.Text, calls
		writeJSON(w, http.StatusOK, final)
		return
	}

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	line := func(v olResponse) {
		b, err := json.Marshal(v)
		if err != nil {
			return
		}
		_, _ = fmt.Fprintf(w, "%s\n", b)
		_ = rc.Flush()
	}
	for _, piece := range chunks(rep.Text) {
		line(olResponse{Model: in.Model, CreatedAt: created, Message: olMessage{Role: "assistant", Content: piece}})
	}
	if len(calls) > 0 {
		line(olResponse{Model: in.Model, CreatedAt: created, Message: olMessage{Role: "assistant", ToolCalls: calls}})
	}
	line(final)
}
