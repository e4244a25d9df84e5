package providertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// NewOpenAI starts a server speaking OpenAI's chat completions API at
// POST {URL}/chat/completions (and /v1/chat/completions), and its embeddings API at
// POST {URL}/embeddings (and /v1/embeddings).
//
// A non-streaming request gets one choice per "n" (at least one; above 128 it is
// refused with a 400, as OpenAI does), each with Text and ToolCalls, and a usage
// object {prompt_tokens, completion_tokens, total_tokens,
// prompt_tokens_details.cached_tokens, completion_tokens_details.reasoning_tokens}.
// A request with "stream": true gets SSE chunks (text in word pieces, tool calls as an
// opening delta then argument pieces, finish_reason on the last chunk of each choice),
// then, when stream_options.include_usage is set (langchaingo always sets it), a
// final chunk with empty choices and the usage, then "data: [DONE]". Errors are
// {"error": {"message", "type", "param", "code"}}.
//
// An embeddings request ({"model", "input": [texts]}, as langchaingo's client sends
// it; a single string is accepted too) is seen by the Script with Request.Messages =
// the number of texts, and answered {"object": "list", "data": [{"object":
// "embedding", "index", "embedding"}], "model", "usage": {"prompt_tokens",
// "total_tokens"}}: one Embedding(text) per text, in order, and Usage.Prompt as the
// usage (zeros for a nil Usage: OpenAI always sends the object).
func NewOpenAI(s Script) *Server { return newServer(s, (*Server).serveOpenAI) }

type oaUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
		AudioTokens  int `json:"audio_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens          int `json:"reasoning_tokens"`
		AudioTokens              int `json:"audio_tokens"`
		AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
		RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
	} `json:"completion_tokens_details"`
}

func openAIUsage(u *Usage) *oaUsage {
	if u == nil {
		return nil
	}
	o := &oaUsage{PromptTokens: u.Prompt, CompletionTokens: u.Completion, TotalTokens: u.Prompt + u.Completion}
	o.PromptTokensDetails.CachedTokens = u.CachedPrompt
	o.CompletionTokensDetails.ReasoningTokens = u.Reasoning
	return o
}

type oaFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type oaToolCall struct {
	Index    *int       `json:"index,omitempty"` // stream deltas only
	ID       string     `json:"id,omitempty"`
	Type     string     `json:"type,omitempty"`
	Function oaFunction `json:"function"`
}

type oaMessage struct {
	Role      string       `json:"role"`
	Content   *string      `json:"content"`
	Refusal   *string      `json:"refusal"`
	ToolCalls []oaToolCall `json:"tool_calls,omitempty"`
}

type oaChoice struct {
	Index        int       `json:"index"`
	Message      oaMessage `json:"message"`
	Logprobs     any       `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
}

type oaResponse struct {
	ID                string     `json:"id"`
	Object            string     `json:"object"`
	Created           int64      `json:"created"`
	Model             string     `json:"model"`
	Choices           []oaChoice `json:"choices"`
	Usage             *oaUsage   `json:"usage,omitempty"`
	SystemFingerprint string     `json:"system_fingerprint"`
}

type oaDelta struct {
	Role      string       `json:"role,omitempty"`
	Content   *string      `json:"content,omitempty"`
	ToolCalls []oaToolCall `json:"tool_calls,omitempty"`
}

type oaChunkChoice struct {
	Index        int     `json:"index"`
	Delta        oaDelta `json:"delta"`
	Logprobs     any     `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
}

type oaChunk struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	SystemFingerprint string          `json:"system_fingerprint"`
	Choices           []oaChunkChoice `json:"choices"`
	// Usage is written as null on every chunk but the last when the client asked
	// for usage, as OpenAI does; withUsage controls whether the key appears.
	Usage     *oaUsage `json:"-"`
	withUsage bool
}

func (c oaChunk) MarshalJSON() ([]byte, error) {
	type plain oaChunk
	if !c.withUsage {
		return json.Marshal(plain(c))
	}
	return json.Marshal(struct {
		plain
		Usage *oaUsage `json:"usage"`
	}{plain(c), c.Usage})
}

func openAIError(w http.ResponseWriter, status int, msg string) {
	typ, code := "invalid_request_error", any(nil)
	switch {
	case status == http.StatusUnauthorized:
		code = "invalid_api_key"
	case status == http.StatusNotFound:
		code = "model_not_found"
	case status == http.StatusTooManyRequests:
		typ, code = "requests", "rate_limit_exceeded"
	case status >= 500:
		typ = "server_error"
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": code,
	}})
}

func (s *Server) serveOpenAI(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/v1")
	req, ok := s.accept(w, r, p == "/chat/completions" || p == "/embeddings", "Invalid URL (POST "+r.URL.Path+")", openAIError)
	if !ok {
		return
	}
	if p == "/embeddings" {
		s.serveOpenAIEmbeddings(w, r, req)
		return
	}
	body := req.Body
	var in struct {
		Model               string            `json:"model"`
		Messages            []json.RawMessage `json:"messages"`
		MaxTokens           int               `json:"max_tokens"`
		MaxCompletionTokens int               `json:"max_completion_tokens"`
		N                   int               `json:"n"`
		Stream              bool              `json:"stream"`
		StreamOptions       *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		Tools     []json.RawMessage `json:"tools"`
		Functions []json.RawMessage `json:"functions"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		s.record(req)
		openAIError(w, http.StatusBadRequest, "We could not parse the JSON body of your request: "+err.Error())
		return
	}
	if in.N > 128 { // OpenAI's own limit; it also keeps the server's memory bounded
		s.record(req)
		openAIError(w, http.StatusBadRequest, fmt.Sprintf("%d is greater than the maximum of 128 - 'n'", in.N))
		return
	}
	req.Model, req.Stream, req.N = in.Model, in.Stream, in.N
	req.MaxTokens = in.MaxCompletionTokens
	if req.MaxTokens == 0 {
		req.MaxTokens = in.MaxTokens
	}
	req.Messages = len(in.Messages)
	req.Tools = len(in.Tools) + len(in.Functions)
	s.record(req)

	rep := s.reply(r, req)
	if failed(rep) {
		openAIError(w, rep.Status, errText(rep))
		return
	}
	n := max(in.N, 1)
	finish := rep.FinishReason
	if finish == "" {
		finish = "stop"
		if len(rep.ToolCalls) > 0 {
			finish = "tool_calls"
		}
	}
	id := fmt.Sprintf("chatcmpl-%d", s.nextID())
	created := time.Now().Unix()
	model := in.Model
	if model == "" {
		model = "gpt-4o-mini"
	}
	calls := make([]oaToolCall, len(rep.ToolCalls))
	for i, tc := range rep.ToolCalls {
		cid := tc.ID
		if cid == "" {
			cid = fmt.Sprintf("call_%d", s.nextID())
		}
		calls[i] = oaToolCall{ID: cid, Type: "function", Function: oaFunction{Name: tc.Name, Arguments: argsString(tc.Arguments)}}
	}

	if !in.Stream {
		out := oaResponse{ID: id, Object: "chat.completion", Created: created, Model: model,
			Usage: openAIUsage(rep.Usage), SystemFingerprint: "fp_providertest"}
		for i := range n {
			var content *string
			if rep.Text != "" || len(calls) == 0 {
				t := rep.Text
				content = &t
			}
			out.Choices = append(out.Choices, oaChoice{Index: i, FinishReason: finish,
				Message: oaMessage{Role: "assistant", Content: content, ToolCalls: calls}})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}

	includeUsage := in.StreamOptions != nil && in.StreamOptions.IncludeUsage
	ev := newSSE(w)
	chunk := func(c oaChunkChoice) {
		ev.event("", oaChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model,
			SystemFingerprint: "fp_providertest", Choices: []oaChunkChoice{c}, withUsage: includeUsage})
	}
	for i := range n {
		empty := ""
		chunk(oaChunkChoice{Index: i, Delta: oaDelta{Role: "assistant", Content: &empty}})
		for _, piece := range chunks(rep.Text) {
			chunk(oaChunkChoice{Index: i, Delta: oaDelta{Content: &piece}})
		}
		for k, tc := range calls {
			chunk(oaChunkChoice{Index: i, Delta: oaDelta{ToolCalls: []oaToolCall{{
				Index: &k, ID: tc.ID, Type: "function", Function: oaFunction{Name: tc.Function.Name},
			}}}})
			for _, a := range argChunks(tc.Function.Arguments) {
				chunk(oaChunkChoice{Index: i, Delta: oaDelta{ToolCalls: []oaToolCall{{
					Index: &k, Function: oaFunction{Arguments: a},
				}}}})
			}
		}
		f := finish
		chunk(oaChunkChoice{Index: i, FinishReason: &f})
	}
	if includeUsage && rep.Usage != nil {
		ev.event("", oaChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model,
			SystemFingerprint: "fp_providertest", Choices: []oaChunkChoice{}, Usage: openAIUsage(rep.Usage), withUsage: true})
	}
	ev.raw("", []byte("[DONE]"))
}
