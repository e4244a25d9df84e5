package providertest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHandlers sends arbitrary request bodies to each handler: it must never panic,
// must refuse what it cannot decode with a JSON error, and everything it streams
// back must be well-formed JSON, line by line.
func FuzzHandlers(f *testing.F) {
	f.Add(uint8(0), []byte(`{"model":"gpt","messages":[{"role":"user","content":"hi"}],"n":2}`))
	f.Add(uint8(0), []byte(`{"model":"gpt","messages":[],"stream":true,"stream_options":{"include_usage":true}}`))
	f.Add(uint8(1), []byte(`{"model":"claude","messages":[],"max_tokens":5,"stream":true}`))
	f.Add(uint8(1), []byte(`{"model":"{\"a\":1}","messages":[]}`))
	f.Add(uint8(2), []byte(`{"model":"llama","messages":[],"stream":false}`))
	f.Add(uint8(2), []byte(`{"model":"llama","messages":[]}`))
	f.Add(uint8(2), []byte(`{"model": `))
	f.Add(uint8(0), []byte(`{"n":-3,"messages":null}`))
	f.Add(uint8(3), []byte(`{"contents":[{"parts":[{"text":"hi"}],"role":"user"}]}`))
	f.Add(uint8(7), []byte(`{"contents":[],"tools":[{"functionDeclarations":[{"name":"f"}]}]}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		// The reply echoes the request, so the fuzzer reaches text, tool-call
		// arguments and model names of its own making.
		script := func(r Request) Reply {
			return Reply{Text: r.Model, FinishReason: "", Usage: &Usage{Prompt: r.Messages, Completion: r.N},
				ToolCalls: []ToolCall{{Name: r.Model, Arguments: r.Model}}}
		}
		s := &Server{script: script, closing: make(chan struct{})}
		h, path := (*Server).serveOpenAI, "/chat/completions"
		switch which % 4 {
		case 1:
			h, path = (*Server).serveAnthropic, "/messages"
		case 2:
			h, path = (*Server).serveOllama, "/api/chat"
		case 3:
			h, path = (*Server).serveGemini, "/v1beta/models/gemini:generateContent"
			if which&4 != 0 {
				path = "/v1beta/models/gemini:streamGenerateContent"
			}
		}
		w := httptest.NewRecorder()
		h(s, w, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
		if got := len(s.Requests()); got != 1 {
			t.Fatalf("recorded %d requests", got)
		}
		out := w.Body.Bytes()
		if w.Code != http.StatusOK {
			if w.Code != http.StatusBadRequest || !json.Valid(out) {
				t.Fatalf("status %d body %q", w.Code, out)
			}
			return
		}
		if which%4 == 3 { // Gemini streams one JSON array
			if !json.Valid(out) {
				t.Fatalf("invalid JSON %q", out)
			}
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := strings.TrimPrefix(sc.Text(), "data: ")
			if line == "" || strings.HasPrefix(line, "event: ") || line == "[DONE]" {
				continue
			}
			if !json.Valid([]byte(line)) {
				t.Fatalf("invalid JSON line %q", line)
			}
		}
	})
}
