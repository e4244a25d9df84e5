package providertest

import (
	"encoding/json"
	"net/http"
	"strings"
)

// NewGemini starts a server speaking the Gemini API's REST form, as the genai SDK
// under langchaingo's googleai client (github.com/google/generative-ai-go v0.15.1)
// calls it: POST {URL}/v1beta/models/{model}:generateContent and
// :streamGenerateContent, protobuf JSON (camelCase) in and out.
//
// A generateContent request gets one candidate with the text and one functionCall
// part per ToolCall, and the whole usageMetadata {promptTokenCount,
// candidatesTokenCount, totalTokenCount}. A streamGenerateContent request gets a JSON
// array of chunks (the SDK's REST stream reads an array), text in word pieces: like
// Gemini 2.5 and 3, every chunk carries the usage so far (the prompt count, and the
// candidates count of the output so far, a share of Completion, at least 1), and the
// last one (finishReason STOP) the whole usage. (Gemini 2.0 left the candidates count
// out of every chunk but the last, and its early prompt counts can be provisional:
// internal/realbills has recordings of both.) The SDK keeps the first chunk's usage
// (joinResponses), which is what langchaingo reports for a streamed call and for
// every call with more than one message (the SDK's chat session always streams). A
// nil Usage leaves usageMetadata out. Errors are
// {"error": {"code", "message", "status"}}.
func NewGemini(s Script) *Server { return newServer(s, (*Server).serveGemini) }

type gmPart struct {
	Text         *string         `json:"text,omitempty"`
	FunctionCall *gmFunctionCall `json:"functionCall,omitempty"`
}

type gmFunctionCall struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type gmCandidate struct {
	Content struct {
		Parts []gmPart `json:"parts"`
		Role  string   `json:"role"`
	} `json:"content"`
	FinishReason string `json:"finishReason,omitempty"`
	Index        int    `json:"index"`
}

type gmUsage struct {
	PromptTokenCount     int `json:"promptTokenCount"`
	CandidatesTokenCount int `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount      int `json:"totalTokenCount"`
}

type gmResponse struct {
	Candidates    []gmCandidate `json:"candidates"`
	UsageMetadata *gmUsage      `json:"usageMetadata,omitempty"`
}

func geminiError(w http.ResponseWriter, status int, msg string) {
	st := "INTERNAL"
	switch status {
	case http.StatusBadRequest:
		st = "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		st = "UNAUTHENTICATED"
	case http.StatusForbidden:
		st = "PERMISSION_DENIED"
	case http.StatusNotFound:
		st = "NOT_FOUND"
	case http.StatusTooManyRequests:
		st = "RESOURCE_EXHAUSTED"
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg, "status": st}})
}

func (s *Server) serveGemini(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	model, method, _ := strings.Cut(strings.TrimPrefix(p, "/v1beta/models/"), ":")
	ok := strings.HasPrefix(p, "/v1beta/models/") && (method == "generateContent" || method == "streamGenerateContent")
	req, ok := s.accept(w, r, ok, "Not Found", geminiError)
	if !ok {
		return
	}
	var in struct {
		Contents         []json.RawMessage `json:"contents"`
		GenerationConfig struct {
			MaxOutputTokens int `json:"maxOutputTokens"`
			CandidateCount  int `json:"candidateCount"`
		} `json:"generationConfig"`
		Tools []struct {
			FunctionDeclarations []json.RawMessage `json:"functionDeclarations"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(req.Body, &in); err != nil {
		s.record(req)
		geminiError(w, http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
		return
	}
	req.Model, req.MaxTokens = model, in.GenerationConfig.MaxOutputTokens
	req.Stream, req.Messages = method == "streamGenerateContent", len(in.Contents)
	for _, t := range in.Tools {
		req.Tools += len(t.FunctionDeclarations)
	}
	s.record(req)

	rep := s.reply(r, req)
	if failed(rep) {
		geminiError(w, rep.Status, errText(rep))
		return
	}
	finish := rep.FinishReason
	if finish == "" {
		finish = "STOP"
	}
	var usage *gmUsage
	if u := rep.Usage; u != nil {
		usage = &gmUsage{PromptTokenCount: u.Prompt, CandidatesTokenCount: u.Completion, TotalTokenCount: u.Prompt + u.Completion}
	}
	calls := make([]gmPart, 0, len(rep.ToolCalls))
	for _, tc := range rep.ToolCalls {
		calls = append(calls, gmPart{FunctionCall: &gmFunctionCall{Name: tc.Name, Args: argsObject(tc.Arguments)}})
	}
	candidate := func(parts []gmPart, finish string) gmCandidate {
		var c gmCandidate
		c.Content.Parts, c.Content.Role, c.FinishReason = parts, "model", finish
		return c
	}

	if !req.Stream {
		var parts []gmPart
		if rep.Text != "" || len(calls) == 0 {
			t := rep.Text
			parts = append(parts, gmPart{Text: &t})
		}
		parts = append(parts, calls...)
		writeJSON(w, http.StatusOK, gmResponse{Candidates: []gmCandidate{candidate(parts, finish)}, UsageMetadata: usage})
		return
	}

	var out []gmResponse
	for _, piece := range chunks(rep.Text) {
		out = append(out, gmResponse{Candidates: []gmCandidate{candidate([]gmPart{{Text: &piece}}, "")}})
	}
	last := gmResponse{Candidates: []gmCandidate{candidate(calls, finish)}, UsageMetadata: usage}
	if len(calls) == 0 {
		empty := ""
		last.Candidates[0].Content.Parts = []gmPart{{Text: &empty}}
	}
	out = append(out, last)
	if usage != nil {
		for i := range out[:len(out)-1] {
			sofar := 0
			if c := usage.CandidatesTokenCount; c > 0 {
				sofar = max(1, c*(i+1)/len(out))
			}
			out[i].UsageMetadata = &gmUsage{PromptTokenCount: usage.PromptTokenCount, CandidatesTokenCount: sofar,
				TotalTokenCount: usage.PromptTokenCount + sofar}
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for i, c := range out {
		b, err := json.Marshal(c)
		if err != nil {
			return
		}
		sep := ",\r\n"
		if i == 0 {
			sep = "["
		}
		_, _ = w.Write(append([]byte(sep), b...))
		_ = rc.Flush()
	}
	_, _ = w.Write([]byte("]"))
}
