package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"
)

// FuzzJSONToolArguments: whatever arguments a model produced, the messages sent to
// Anthropic carry valid JSON, the text survives inside it, and the caller's messages
// are left alone.
func FuzzJSONToolArguments(f *testing.F) {
	for _, s := range []string{"", "UTC", `{"__arg1": "x"}`, `{"a":`, "3 * 4", `"quoted"`, "null", "\xff\xfe", "[1, 2]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, args string) {
		msgs := []llms.MessageContent{{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{
			llms.ToolCall{ID: "1", Type: "function", FunctionCall: &llms.FunctionCall{Name: "clock", Arguments: args}},
		}}}
		got := jsonToolArguments(msgs)[0].Parts[0].(llms.ToolCall).FunctionCall.Arguments
		if !json.Valid([]byte(got)) {
			t.Fatalf("arguments %q became %q, not JSON", args, got)
		}
		if json.Valid([]byte(args)) {
			if got != args {
				t.Fatalf("valid JSON %q changed to %q", args, got)
			}
		} else {
			var m map[string]string
			if err := json.Unmarshal([]byte(got), &m); err != nil || m["__arg1"] != string([]rune(args)) { // each invalid byte becomes U+FFFD, as in json.Marshal
				t.Fatalf("arguments %q wrapped as %q (%v)", args, got, err)
			}
		}
		if back := msgs[0].Parts[0].(llms.ToolCall).FunctionCall.Arguments; back != args {
			t.Fatalf("the caller's arguments changed from %q to %q", args, back)
		}
	})
}

// FuzzOllamaURL: any OLLAMA_HOST gives a URL with a scheme, never a panic.
func FuzzOllamaURL(f *testing.F) {
	for _, s := range []string{"", "localhost", "0.0.0.0:11434", "https://x:1/", "[::1]:11434", " h ", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if u := ollamaURL(host); !strings.Contains(u, "://") {
			t.Fatalf("ollamaURL(%q) = %q, no scheme", host, u)
		}
	})
}
