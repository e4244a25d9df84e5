package realbills_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/internal/realbills"
)

func records(t testing.TB) []realbills.Record {
	t.Helper()
	recs, err := realbills.Records()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// The embedded file holds what testdata/README.md says: 286 calls, split by provider.
func TestRecords(t *testing.T) {
	recs := records(t)
	count := map[string]int{}
	ids := map[string]bool{}
	for _, r := range recs {
		count[r.Provider]++
		if ids[r.ID] {
			t.Errorf("id %s twice", r.ID)
		}
		ids[r.ID] = true
		if r.Billed.Prompt == 0 || r.Model == "" {
			t.Errorf("%s: billed prompt %d, model %q", r.ID, r.Billed.Prompt, r.Model)
		}
	}
	want := map[string]int{realbills.OpenAI: 38, realbills.Anthropic: 35, realbills.Gemini: 104, realbills.OpenAICompat: 109}
	if len(recs) != 286 || len(count) != len(want) {
		t.Fatalf("%d records by provider %v, want 286: %v", len(recs), count, want)
	}
	for p, n := range want {
		if count[p] != n {
			t.Errorf("%s: %d records, want %d", p, count[p], n)
		}
	}
	// Records returns a copy: changing it does not change the next call's.
	recs[0].ID = "changed"
	if records(t)[0].ID == "changed" {
		t.Error("Records shares its slice with the caller")
	}
}

// Every recorded request rebuilds into a langchaingo call, and every OpenAI-style and
// Anthropic one goes through the real client to the server, which answers it with the
// recorded response.
func TestEveryRecordReplays(t *testing.T) {
	for _, rec := range records(t) {
		c, err := rec.Call()
		if err != nil {
			t.Errorf("%s: %v", rec.ID, err)
			continue
		}
		if len(c.Messages) == 0 {
			t.Errorf("%s: no messages", rec.ID)
		}
		if rec.Provider == realbills.Gemini {
			continue // replayed in internal/geminitest, with the Google clients
		}
		m, srv := realbills.Replay(t, &rec)
		resp, err := m.GenerateContent(context.Background(), c.Messages, c.Options...)
		if err != nil || resp == nil || len(resp.Choices) == 0 {
			t.Errorf("%s (%s): %v", rec.ID, rec.Provider, err)
			continue
		}
		if got := srv.Requests(); len(got) != 1 || !json.Valid(got[0].Body) {
			t.Errorf("%s: server saw %d requests", rec.ID, len(got))
		}
	}
}

func find(t *testing.T, ok func(*realbills.Record) bool) *realbills.Record {
	t.Helper()
	for _, r := range records(t) {
		if ok(&r) {
			return &r
		}
	}
	t.Fatal("no such record")
	return nil
}

// A replay that asks for the wrong kind of answer fails loudly.
func TestStreamMismatchIsAnError(t *testing.T) {
	rec := find(t, func(r *realbills.Record) bool { return r.Provider == realbills.OpenAI && !r.Stream })
	m, _ := realbills.Replay(t, rec)
	_, err := m.GenerateContent(context.Background(), []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hi")},
		llms.WithStreamingFunc(func(context.Context, []byte) error { return nil }))
	if err == nil || !strings.Contains(err.Error(), "recorded with stream=false") {
		t.Fatalf("err = %v, want the server's stream mismatch", err)
	}
}

// A Gemini stream is served as the JSON array the genai SDK's REST transport reads,
// one element per recorded event; a Gemini record that was not streamed is served to
// a stream request as a one-element array.
func TestGeminiStreamFraming(t *testing.T) {
	for _, streamed := range []bool{true, false} {
		rec := find(t, func(r *realbills.Record) bool { return r.Provider == realbills.Gemini && r.Stream == streamed })
		srv := realbills.Serve(t, rec)
		resp, err := srv.HTTPClient().Post(srv.URL+"/v1beta/models/"+rec.Model+":streamGenerateContent?%24alt=json",
			"application/json", bytes.NewReader(rec.Request))
		if err != nil {
			t.Fatal(err)
		}
		var chunks []json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&chunks)
		resp.Body.Close()
		want := 1
		if streamed {
			want = len(realbills.SSEData(rec.ResponseSSE))
		}
		if err != nil || resp.StatusCode != http.StatusOK || len(chunks) != want || want == 0 {
			t.Errorf("stream %v: status %d, %d chunks (%v), want %d", streamed, resp.StatusCode, len(chunks), err, want)
		}
	}
}

func TestSSEData(t *testing.T) {
	got := realbills.SSEData(": comment\n\nevent: a\ndata: {\"x\":1}\n\ndata: one\r\ndata: two\r\n\r\ndata:three")
	want := []string{`{"x":1}`, "one\ntwo", "three"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("SSEData = %q, want %q", got, want)
	}
}

// Each wire format's parts land in the langchaingo call that sends them.
func TestCallRebuildsTheRequest(t *testing.T) {
	cases := []struct {
		rec     realbills.Record
		roles   string // the messages' roles, in order
		tools   int
		maxTok  int
		dropped string
	}{
		{realbills.Record{ID: "oa", Provider: realbills.OpenAI, Model: "gpt-4o", Request: json.RawMessage(`{
			"messages": [{"role": "system", "content": "be brief"},
				{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]},
				{"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
				{"role": "tool", "tool_call_id": "c1", "content": "42"}],
			"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}],
			"max_completion_tokens": 100, "response_format": {"type": "json_schema"}, "logprobs": true}`)},
			"system human ai tool", 1, 100, "request field logprobs|response_format json_schema"},
		{realbills.Record{ID: "an", Provider: realbills.Anthropic, Model: "claude", Request: json.RawMessage(`{
			"system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
			"messages": [{"role": "user", "content": "q"},
				{"role": "assistant", "content": [{"type": "thinking", "thinking": "hm"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
				{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}, {"type": "text", "text": "and?"}]}],
			"tools": [{"name": "f", "input_schema": {"type": "object"}}, {"type": "web_search_20250305", "name": "web_search"}],
			"max_tokens": 50, "thinking": {"type": "enabled", "budget_tokens": 1024}}`)},
			"system human ai tool human", 1, 50, "anthropic server tool web_search_20250305|anthropic thinking block"},
		{realbills.Record{ID: "gm", Provider: realbills.Gemini, Model: "gemini-2.5-flash", Stream: true, ResponseSSE: "data: {}\n\n", Request: json.RawMessage(`{
			"systemInstruction": {"parts": [{"text": "sys"}]},
			"contents": [{"role": "user", "parts": [{"text": "q"}]},
				{"role": "model", "parts": [{"function_call": {"name": "f", "args": {"a": 1}}, "thought_signature": "xx"}]},
				{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"r": 2}}}]}],
			"tools": {"function_declarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties": {"a": {"type": ["INTEGER", "null"]}}}}]},
			"generationConfig": {"maxOutputTokens": 64, "topK": 40.0, "thinkingConfig": {"thinkingBudget": 0}}}`)},
			"system human ai tool", 1, 64, "gemini thought signature|generationConfig thinkingConfig"},
	}
	for _, c := range cases {
		call, err := c.rec.Call()
		if err != nil {
			t.Fatalf("%s: %v", c.rec.ID, err)
		}
		var roles []string
		for _, m := range call.Messages {
			roles = append(roles, string(m.Role))
		}
		var o llms.CallOptions
		for _, opt := range call.Options {
			opt(&o)
		}
		if got := strings.Join(roles, " "); got != c.roles {
			t.Errorf("%s: roles %q, want %q", c.rec.ID, got, c.roles)
		}
		if len(o.Tools) != c.tools || o.MaxTokens != c.maxTok || o.Model != c.rec.Model || (o.StreamingFunc != nil) != c.rec.Stream {
			t.Errorf("%s: options %d tools, max %d, model %q, stream %v", c.rec.ID, len(o.Tools), o.MaxTokens, o.Model, o.StreamingFunc != nil)
		}
		if got := strings.Join(call.Dropped, "|"); got != c.dropped {
			t.Errorf("%s: dropped %q, want %q", c.rec.ID, got, c.dropped)
		}
	}
}

// A request that is none of the three formats is an error, never a panic.
func TestCallBadInput(t *testing.T) {
	for _, r := range []realbills.Record{
		{ID: "a", Provider: realbills.OpenAI, Request: json.RawMessage(`not json`)},
		{ID: "b", Provider: realbills.OpenAI, Request: json.RawMessage(`{"messages": []}`)},
		{ID: "c", Provider: realbills.Anthropic, Request: json.RawMessage(`{"messages": [{"role": "bot", "content": "x"}]}`)},
		{ID: "d", Provider: realbills.Gemini, Request: json.RawMessage(`{"contents": [{"role": "robot", "parts": []}]}`)},
		{ID: "e", Provider: "other", Request: json.RawMessage(`{}`)},
	} {
		if _, err := r.Call(); err == nil {
			t.Errorf("%s: no error", r.ID)
		}
	}
}

// FuzzCall: Record.Call on any body, for every provider, returns a call or an error.
func FuzzCall(f *testing.F) {
	for _, r := range records(f)[:40] {
		f.Add(r.Provider, []byte(r.Request))
	}
	f.Add(realbills.Gemini, []byte(`{"contents":[{"parts":[{"text":null,"inline_data":{"data":"@@"}}]}],"tools":7}`))
	f.Fuzz(func(t *testing.T, provider string, body []byte) {
		r := realbills.Record{ID: "fuzz", Provider: provider, Model: "m", Request: body}
		c, err := r.Call()
		if err == nil && len(c.Messages) == 0 {
			t.Fatal("a call without messages and no error")
		}
	})
}
