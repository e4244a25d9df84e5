package providertest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/openai"

	"github.com/spendguard/spendguard/internal/providertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var human = []llms.MessageContent{
	llms.TextParts(llms.ChatMessageTypeSystem, "be brief"),
	llms.TextParts(llms.ChatMessageTypeHuman, "hello there"),
}

var weatherTool = llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
	Name: "weather", Description: "weather in a city",
	Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
}}

func collect(buf *strings.Builder, mu *sync.Mutex) llms.CallOption {
	return llms.WithStreamingFunc(func(_ context.Context, chunk []byte) error {
		mu.Lock()
		buf.Write(chunk)
		mu.Unlock()
		return nil
	})
}

func wantInfo(t *testing.T, gi map[string]any, want map[string]int) {
	t.Helper()
	for k, v := range want {
		got, ok := gi[k].(int)
		if !ok || got != v {
			t.Errorf("GenerationInfo[%q] = %#v, want %d", k, gi[k], v)
		}
	}
}

func sameArgs(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("arguments %q are not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("arguments = %s, want %s", gb, wb)
	}
}

var fullUsage = &providertest.Usage{Prompt: 120, Completion: 30, CachedPrompt: 64, Reasoning: 12}

func TestOpenAINonStream(t *testing.T) {
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: "Hi! How are you?", Usage: fullUsage}))
	defer srv.Close()
	llm, err := srv.OpenAIClient(openai.WithModel("gpt-4o-mini"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := llm.GenerateContent(context.Background(), human, llms.WithMaxTokens(50), llms.WithTools([]llms.Tool{weatherTool}))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 {
		t.Fatalf("choices = %d, want 1", len(resp.Choices))
	}
	c := resp.Choices[0]
	if c.Content != "Hi! How are you?" || c.StopReason != "stop" || len(c.ToolCalls) != 0 {
		t.Errorf("choice = %+v", c)
	}
	wantInfo(t, c.GenerationInfo, map[string]int{
		"PromptTokens": 120, "CompletionTokens": 30, "TotalTokens": 150,
		"PromptCachedTokens": 64, "ReasoningTokens": 12, "CompletionReasoningTokens": 12,
	})
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d", len(reqs))
	}
	r := reqs[0]
	if r.Model != "gpt-4o-mini" || r.MaxTokens != 50 || r.Stream || r.N != 0 || r.Messages != 2 || r.Tools != 1 ||
		r.Path != "/chat/completions" || !json.Valid(r.Body) {
		t.Errorf("request = %+v", r)
	}
}

func TestOpenAINChoicesAndToolCalls(t *testing.T) {
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{
		ToolCalls: []providertest.ToolCall{
			{ID: "call_a", Name: "weather", Arguments: `{"city":"Paris"}`},
			{Name: "weather", Arguments: `{"city":"Rome"}`},
		},
		Usage: &providertest.Usage{Prompt: 80, Completion: 20},
	}))
	defer srv.Close()
	llm, err := srv.OpenAIClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := llm.GenerateContent(context.Background(), human, llms.WithN(2), llms.WithTools([]llms.Tool{weatherTool}))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 2 {
		t.Fatalf("choices = %d, want 2", len(resp.Choices))
	}
	for _, c := range resp.Choices {
		if c.StopReason != "tool_calls" || len(c.ToolCalls) != 2 {
			t.Fatalf("choice = %+v", c)
		}
		if c.ToolCalls[0].ID != "call_a" || c.ToolCalls[1].ID == "" || c.ToolCalls[0].FunctionCall.Name != "weather" {
			t.Errorf("tool calls = %+v", c.ToolCalls)
		}
		sameArgs(t, c.ToolCalls[1].FunctionCall.Arguments, `{"city":"Rome"}`)
		wantInfo(t, c.GenerationInfo, map[string]int{"PromptTokens": 80, "CompletionTokens": 20, "PromptCachedTokens": 0})
	}
	if r := srv.Requests()[0]; r.N != 2 {
		t.Errorf("request N = %d", r.N)
	}
}

func TestOpenAIStream(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply providertest.Reply
	}{
		{"text", providertest.Reply{Text: "streamed words arrive one by one", Usage: fullUsage}},
		{"tools", providertest.Reply{Text: "calling", Usage: fullUsage, ToolCalls: []providertest.ToolCall{
			{ID: "c1", Name: "weather", Arguments: `{"city":"Lyon","days":3}`},
			{ID: "c2", Name: "time", Arguments: ""},
		}}},
		{"no usage", providertest.Reply{Text: "nothing counted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := providertest.NewOpenAI(providertest.Fixed(tc.reply))
			defer srv.Close()
			llm, err := srv.OpenAIClient()
			if err != nil {
				t.Fatal(err)
			}
			var buf strings.Builder
			var mu sync.Mutex
			resp, err := llm.GenerateContent(context.Background(), human, collect(&buf, &mu))
			if err != nil {
				t.Fatal(err)
			}
			c := resp.Choices[0]
			if c.Content != tc.reply.Text {
				t.Errorf("content = %q, want %q", c.Content, tc.reply.Text)
			}
			if len(tc.reply.ToolCalls) == 0 && buf.String() != tc.reply.Text {
				t.Errorf("streamed = %q", buf.String())
			}
			if len(c.ToolCalls) != len(tc.reply.ToolCalls) {
				t.Fatalf("tool calls = %+v", c.ToolCalls)
			}
			for i, want := range tc.reply.ToolCalls {
				got := c.ToolCalls[i]
				if got.ID != want.ID || got.FunctionCall.Name != want.Name {
					t.Errorf("tool call %d = %+v", i, got)
				}
				w := want.Arguments
				if w == "" {
					w = "{}"
				}
				sameArgs(t, got.FunctionCall.Arguments, w)
			}
			u := providertest.Usage{}
			if tc.reply.Usage != nil {
				u = *tc.reply.Usage
			}
			wantInfo(t, c.GenerationInfo, map[string]int{
				"PromptTokens": u.Prompt, "CompletionTokens": u.Completion,
				"PromptCachedTokens": u.CachedPrompt, "ReasoningTokens": u.Reasoning,
			})
			r := srv.Requests()[0]
			if !r.Stream || !strings.Contains(string(r.Body), `"include_usage":true`) {
				t.Errorf("request = %+v %s", r, r.Body)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	rep := providertest.Fixed(providertest.Reply{Status: http.StatusTooManyRequests, Text: "slow down please"})
	t.Run("openai", func(t *testing.T) {
		srv := providertest.NewOpenAI(rep)
		defer srv.Close()
		llm, _ := srv.OpenAIClient()
		_, err := llm.GenerateContent(context.Background(), human)
		if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "slow down please") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		srv := providertest.NewAnthropic(rep)
		defer srv.Close()
		llm, _ := srv.AnthropicClient()
		for _, opts := range [][]llms.CallOption{nil, {llms.WithStreamingFunc(func(context.Context, []byte) error { return nil })}} {
			_, err := llm.GenerateContent(context.Background(), human, opts...)
			if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "slow down please") {
				t.Errorf("err = %v", err)
			}
		}
	})
	t.Run("ollama", func(t *testing.T) {
		srv := providertest.NewOllama(rep)
		defer srv.Close()
		llm, _ := srv.OllamaClient()
		for _, opts := range [][]llms.CallOption{nil, {llms.WithStreamingFunc(func(context.Context, []byte) error { return nil })}} {
			_, err := llm.GenerateContent(context.Background(), human, opts...)
			if err == nil || !strings.Contains(err.Error(), "slow down please") {
				t.Errorf("err = %v", err)
			}
		}
	})
}

func TestAnthropicNonStream(t *testing.T) {
	u := &providertest.Usage{Prompt: 500, Completion: 40, CachedPrompt: 300, CacheWrite: 100}
	srv := providertest.NewAnthropic(providertest.Fixed(providertest.Reply{
		Text:      "Let me check.",
		ToolCalls: []providertest.ToolCall{{ID: "toolu_1", Name: "weather", Arguments: `{"city":"Oslo"}`}},
		Usage:     u,
	}))
	defer srv.Close()
	llm, err := srv.AnthropicClient(anthropicModel())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := llm.GenerateContent(context.Background(), human, llms.WithMaxTokens(256), llms.WithTools([]llms.Tool{weatherTool}))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 2 {
		t.Fatalf("choices = %d, want 2 (text, tool_use)", len(resp.Choices))
	}
	if resp.Choices[0].Content != "Let me check." || resp.Choices[0].StopReason != "tool_use" {
		t.Errorf("choice 0 = %+v", resp.Choices[0])
	}
	tc := resp.Choices[1].ToolCalls
	if len(tc) != 1 || tc[0].ID != "toolu_1" || tc[0].FunctionCall.Name != "weather" {
		t.Fatalf("tool calls = %+v", tc)
	}
	sameArgs(t, tc[0].FunctionCall.Arguments, `{"city":"Oslo"}`)
	for _, c := range resp.Choices {
		wantInfo(t, c.GenerationInfo, map[string]int{
			"InputTokens": 100, "OutputTokens": 40, "CacheReadInputTokens": 300, "CacheCreationInputTokens": 100,
		})
	}
	r := srv.Requests()[0]
	if r.Model != "claude-test" || r.MaxTokens != 256 || r.Stream || r.Messages != 1 || r.Tools != 1 || r.Path != "/messages" {
		t.Errorf("request = %+v", r)
	}
}

func TestAnthropicStream(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply providertest.Reply
		want  map[string]int
	}{
		{"text", providertest.Reply{Text: "a streamed answer", Usage: &providertest.Usage{Prompt: 50, Completion: 7, CachedPrompt: 20}},
			map[string]int{"InputTokens": 30, "OutputTokens": 7, "CacheReadInputTokens": 20, "CacheCreationInputTokens": 0}},
		{"text and tool", providertest.Reply{Text: "checking", Usage: &providertest.Usage{Prompt: 900, Completion: 55, CacheWrite: 800},
			ToolCalls: []providertest.ToolCall{{Name: "weather", Arguments: `{"city":"Kyiv","units":"metric"}`}}},
			map[string]int{"InputTokens": 100, "OutputTokens": 55, "CacheReadInputTokens": 0, "CacheCreationInputTokens": 800}},
		{"no usage", providertest.Reply{Text: "zeros"},
			map[string]int{"InputTokens": 0, "OutputTokens": 0}},
		{"tools only", providertest.Reply{Usage: &providertest.Usage{Prompt: 10, Completion: 20}, FinishReason: "max_tokens",
			ToolCalls: []providertest.ToolCall{{Name: "a", Arguments: `{"x":[1,2,{"y":null}]}`}, {Name: "b", Arguments: "{}"}}},
			map[string]int{"InputTokens": 10, "OutputTokens": 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := providertest.NewAnthropic(providertest.Fixed(tc.reply))
			defer srv.Close()
			llm, err := srv.AnthropicClient()
			if err != nil {
				t.Fatal(err)
			}
			var buf strings.Builder
			var mu sync.Mutex
			resp, err := llm.GenerateContent(context.Background(), human, collect(&buf, &mu))
			if err != nil {
				t.Fatal(err)
			}
			text := 0
			if tc.reply.Text != "" {
				text = 1
			}
			if want := text + len(tc.reply.ToolCalls); len(resp.Choices) != want {
				t.Fatalf("choices = %d, want %d", len(resp.Choices), want)
			}
			if resp.Choices[0].Content != tc.reply.Text || buf.String() != tc.reply.Text {
				t.Errorf("content %q streamed %q", resp.Choices[0].Content, buf.String())
			}
			wantStop := tc.reply.FinishReason
			if wantStop == "" {
				wantStop = map[bool]string{false: "end_turn", true: "tool_use"}[len(tc.reply.ToolCalls) > 0]
			}
			if got := resp.Choices[0].StopReason; got != wantStop {
				t.Errorf("stop reason %q, want %q", got, wantStop)
			}
			for i, want := range tc.reply.ToolCalls {
				got := resp.Choices[text+i].ToolCalls
				if len(got) != 1 || got[0].ID == "" || got[0].FunctionCall.Name != want.Name {
					t.Fatalf("tool call = %+v", got)
				}
				sameArgs(t, got[0].FunctionCall.Arguments, want.Arguments)
			}
			for _, c := range resp.Choices {
				wantInfo(t, c.GenerationInfo, tc.want)
			}
			if !srv.Requests()[0].Stream {
				t.Error("request not recorded as a stream")
			}
		})
	}
}

func TestOllama(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "generate", true: "stream"}[stream]
		t.Run(name, func(t *testing.T) {
			srv := providertest.NewOllama(providertest.Fixed(providertest.Reply{
				Text: "llamas hum softly", Usage: &providertest.Usage{Prompt: 33, Completion: 9},
			}))
			defer srv.Close()
			llm, err := srv.OllamaClient()
			if err != nil {
				t.Fatal(err)
			}
			var buf strings.Builder
			var mu sync.Mutex
			opts := []llms.CallOption{llms.WithMaxTokens(64)}
			if stream {
				opts = append(opts, collect(&buf, &mu))
			}
			resp, err := llm.GenerateContent(context.Background(), human, opts...)
			if err != nil {
				t.Fatal(err)
			}
			c := resp.Choices[0]
			if c.Content != "llamas hum softly" || (stream && buf.String() != c.Content) {
				t.Errorf("content %q streamed %q", c.Content, buf.String())
			}
			wantInfo(t, c.GenerationInfo, map[string]int{"PromptTokens": 33, "CompletionTokens": 9, "TotalTokens": 42})
			r := srv.Requests()[0]
			if r.Stream != stream || r.Model != "llama3.2" || r.MaxTokens != 64 || r.Messages != 2 || r.Path != "/api/chat" {
				t.Errorf("request = %+v", r)
			}
		})
	}
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOllamaStreamFalseIsOneObject(t *testing.T) {
	srv := providertest.NewOllama(providertest.Fixed(providertest.Reply{
		Text: "whole", Usage: &providertest.Usage{Prompt: 5, Completion: 1},
		ToolCalls: []providertest.ToolCall{{Name: "f", Arguments: "not json"}},
	}))
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()
	code, body := post(t, srv.URL+"/api/chat", `{"model":"m","messages":[],"stream":false}`)
	var out struct {
		Message struct {
			Content   string `json:"content"`
			ToolCalls []struct {
				Function struct {
					Arguments map[string]string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		Done            bool `json:"done"`
		PromptEvalCount int  `json:"prompt_eval_count"`
		EvalCount       int  `json:"eval_count"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &out) != nil {
		t.Fatalf("%d %s", code, body)
	}
	if !out.Done || out.Message.Content != "whole" || out.PromptEvalCount != 5 || out.EvalCount != 1 ||
		len(out.Message.ToolCalls) != 1 || out.Message.ToolCalls[0].Function.Arguments["arguments"] != "not json" {
		t.Errorf("body = %s", body)
	}
}

func TestBadRequests(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	called := false
	script := func(providertest.Request) providertest.Reply { called = true; return providertest.Reply{} }
	for _, tc := range []struct {
		srv  *providertest.Server
		path string
	}{
		{providertest.NewOpenAI(script), "/chat/completions"},
		{providertest.NewAnthropic(script), "/messages"},
		{providertest.NewOllama(script), "/api/chat"},
	} {
		code, body := post(t, tc.srv.URL+tc.path, `{"model": `)
		if code != http.StatusBadRequest || !json.Valid([]byte(body)) {
			t.Errorf("%s malformed: %d %s", tc.path, code, body)
		}
		code, _ = post(t, tc.srv.URL+"/nowhere", `{}`)
		if code != http.StatusNotFound {
			t.Errorf("%s wrong path: %d", tc.path, code)
		}
		if n := len(tc.srv.Requests()); n != 2 {
			t.Errorf("recorded %d requests, want 2", n)
		}
		tc.srv.Close()
		tc.srv.Close() // twice is fine
	}
	if called {
		t.Error("script called for a request it could not decode")
	}
}

func TestConcurrentRequests(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := providertest.NewOpenAI(func(r providertest.Request) providertest.Reply {
		mu.Lock()
		seen[r.Model] = true
		mu.Unlock()
		return providertest.Reply{Text: r.Model, Usage: &providertest.Usage{Prompt: 1, Completion: 1}}
	})
	defer srv.Close()
	llm, err := srv.OpenAIClient()
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			model := "m" + string(rune('a'+i))
			resp, err := llm.GenerateContent(context.Background(), human, llms.WithModel(model))
			if err == nil && resp.Choices[0].Content != model {
				err = &mismatch{model, resp.Choices[0].Content}
			}
			errs <- err
			_ = srv.Requests()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if len(srv.Requests()) != n || len(seen) != n {
		t.Errorf("requests %d, distinct models %d, want %d", len(srv.Requests()), len(seen), n)
	}
}

type mismatch struct{ want, got string }

func (m *mismatch) Error() string { return "got " + m.got + ", want " + m.want }

func TestSequence(t *testing.T) {
	s := providertest.Sequence(providertest.Reply{Text: "1"}, providertest.Reply{Text: "2"})
	var got []string
	for range 4 {
		got = append(got, s(providertest.Request{}).Text)
	}
	if strings.Join(got, ",") != "1,2,2,2" {
		t.Errorf("sequence = %v", got)
	}
	if r := providertest.Sequence()(providertest.Request{}); r.Text != "" || r.Usage != nil {
		t.Errorf("empty sequence = %+v", r)
	}
}

func TestRequestsAreCopies(t *testing.T) {
	srv := providertest.NewOllama(nil)
	defer srv.Close()
	llm, _ := srv.OllamaClient()
	if _, err := llm.GenerateContent(context.Background(), human); err != nil {
		t.Fatal(err)
	}
	a := srv.Requests()
	a[0].Body[0] = 'X'
	a[0].Model = "changed"
	if b := srv.Requests(); b[0].Body[0] == 'X' || b[0].Model == "changed" {
		t.Error("Requests shares memory with the server's record")
	}
}

func anthropicModel() anthropic.Option { return anthropic.WithModel("claude-test") }

func TestHang(t *testing.T) {
	for _, name := range []string{"openai", "anthropic", "ollama"} {
		t.Run(name+" cancel", func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			script := func(providertest.Request) providertest.Reply {
				arrived <- struct{}{}
				return providertest.Reply{Hang: true, Text: "never sent"}
			}
			srv, llm := hangServer(t, name, script)
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-arrived; cancel() }()
			resp, err := llm.GenerateContent(ctx, human)
			if err == nil || resp != nil {
				t.Fatalf("hung request returned %+v, %v", resp, err)
			}
		})
		t.Run(name+" close", func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			script := func(providertest.Request) providertest.Reply {
				arrived <- struct{}{}
				return providertest.Reply{Hang: true}
			}
			srv, llm := hangServer(t, name, script)
			errc := make(chan error, 1)
			go func() {
				_, err := llm.GenerateContent(context.Background(), human)
				errc <- err
			}()
			<-arrived
			srv.Close()
			if err := <-errc; err == nil {
				t.Fatal("request to a closed server succeeded")
			}
		})
	}
}

func hangServer(t *testing.T, name string, s providertest.Script) (*providertest.Server, llms.Model) {
	t.Helper()
	var srv *providertest.Server
	var llm llms.Model
	var err error
	switch name {
	case "openai":
		srv = providertest.NewOpenAI(s)
		llm, err = srv.OpenAIClient()
	case "anthropic":
		srv = providertest.NewAnthropic(s)
		llm, err = srv.AnthropicClient()
	default:
		srv = providertest.NewOllama(s)
		llm, err = srv.OllamaClient()
	}
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	return srv, llm
}
