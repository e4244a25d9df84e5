package llmwrap_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

// The maps below copy, key for key and type for type, what each langchaingo v0.1.14
// provider puts into GenerationInfo (see the file named in each case).

// openaiInfo is llms/openai/openaillm.go's GenerationInfo (ChatUsage fields are int).
func openaiInfo(prompt, completion, cached, reasoning int) map[string]any {
	return map[string]any{
		"CompletionTokens":                   completion,
		"PromptTokens":                       prompt,
		"TotalTokens":                        prompt + completion,
		"ReasoningTokens":                    reasoning,
		"PromptAudioTokens":                  0,
		"ThinkingContent":                    "",
		"ThinkingTokens":                     reasoning,
		"PromptCachedTokens":                 cached,
		"CompletionAudioTokens":              0,
		"CompletionReasoningTokens":          reasoning,
		"CompletionAcceptedPredictionTokens": 0,
		"CompletionRejectedPredictionTokens": 0,
	}
}

// anthropicTextInfo and anthropicToolInfo are llms/anthropic/anthropicllm.go's maps
// for a text block and a tool_use block.
func anthropicTextInfo(in, out, create, read int) map[string]any {
	return map[string]any{
		"InputTokens":              in,
		"OutputTokens":             out,
		"CacheCreationInputTokens": create,
		"CacheReadInputTokens":     read,
		"ThinkingContent":          "",
		"OutputContent":            "text",
	}
}

func anthropicToolInfo(in, out, create, read int) map[string]any {
	return map[string]any{
		"InputTokens":              in,
		"OutputTokens":             out,
		"CacheCreationInputTokens": create,
		"CacheReadInputTokens":     read,
	}
}

// ollamaInfo is llms/ollama/ollamallm.go's map (Metrics fields are int).
func ollamaInfo(prompt, completion int) map[string]any {
	return map[string]any{
		"CompletionTokens": completion,
		"PromptTokens":     prompt,
		"TotalTokens":      completion + prompt,
		"ThinkingContent":  "",
		"ThinkingTokens":   0,
	}
}

// googleaiInfo is llms/googleai/googleai.go's map: genai.UsageMetadata counts are int32.
func googleaiInfo(prompt, completion, cached int32) map[string]any {
	m := map[string]any{
		"citations":        nil,
		"safety":           nil,
		"input_tokens":     prompt,
		"output_tokens":    completion,
		"total_tokens":     prompt + completion,
		"PromptTokens":     prompt,
		"CompletionTokens": completion,
		"TotalTokens":      prompt + completion,
		"ThinkingContent":  "",
		"ThinkingTokens":   0,
	}
	if cached > 0 {
		m["CachedTokens"] = cached
		m["CacheReadInputTokens"] = cached
		m["NonCachedInputTokens"] = prompt - cached
	}
	return m
}

// mistralUsageInfo has the shape of github.com/gage-technologies/mistral-go's
// UsageInfo, which llms/mistral stores by value under "usage".
type mistralUsageInfo struct {
	PromptTokens     int `json:"prompt_tokens"`
	TotalTokens      int `json:"total_tokens"`
	CompletionTokens int `json:"completion_tokens,omitempty"`
}

func respWith(infos ...map[string]any) *llms.ContentResponse {
	r := &llms.ContentResponse{}
	for _, gi := range infos {
		r.Choices = append(r.Choices, &llms.ContentChoice{GenerationInfo: gi})
	}
	return r
}

// embedsUsage promotes mistral's fields through an embedded pointer.
type embedsUsage struct{ *mistralUsageInfo }

type usageCase struct {
	name string
	resp *llms.ContentResponse
	want llmwrap.Usage
	ok   bool
}

func checkUsage(t *testing.T, cases []usageCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := llmwrap.UsageOf(tc.resp)
			if got != tc.want || ok != tc.ok {
				t.Errorf("UsageOf = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestUsageOfProviders(t *testing.T) {
	u := func(p, c, cached, reasoning uint64) llmwrap.Usage {
		return llmwrap.Usage{PromptTokens: p, CompletionTokens: c, CachedPromptTokens: cached, ReasoningTokens: reasoning}
	}
	checkUsage(t, []usageCase{
		{"openai", respWith(openaiInfo(1200, 300, 1024, 128)), u(1200, 300, 1024, 128), true},
		{"openai no usage sent", respWith(openaiInfo(0, 0, 0, 0)), llmwrap.Usage{}, false},
		{"openai N=3 counted once", respWith(openaiInfo(50, 10, 0, 0), openaiInfo(50, 10, 0, 0), openaiInfo(50, 10, 0, 0)), u(50, 10, 0, 0), true},
		{"anthropic text", respWith(anthropicTextInfo(20, 40, 0, 0)), u(20, 40, 0, 0), true},
		{"anthropic cache read and write", respWith(anthropicTextInfo(100, 40, 300, 2000)), withWrite(u(2400, 40, 2000, 0), 300), true},
		{"anthropic text+tool_use counted once", respWith(anthropicTextInfo(100, 40, 0, 500), anthropicToolInfo(100, 40, 0, 500)), u(600, 40, 500, 0), true},
		{"anthropic thinking block", respWith(map[string]any{
			"ThinkingContent": "hmm", "ThinkingSignature": "sig", "InputTokens": 10, "OutputTokens": 90,
			"CacheCreationInputTokens": 0, "CacheReadInputTokens": 0,
		}, anthropicTextInfo(10, 90, 0, 0)), u(10, 90, 0, 0), true},
		{"ollama", respWith(ollamaInfo(33, 9)), u(33, 9, 0, 0), true},
		{"ollama no counts", respWith(ollamaInfo(0, 0)), llmwrap.Usage{}, false},
		{"ollama context cache is not a provider count", respWith(func() map[string]any {
			m := ollamaInfo(33, 9)
			m["CachedTokens"], m["CacheHit"] = 30, true
			return m
		}()), u(33, 9, 0, 0), true},
		{"googleai", respWith(googleaiInfo(700, 80, 0)), u(700, 80, 0, 0), true},
		{"googleai cached already in prompt", respWith(googleaiInfo(700, 80, 512)), u(700, 80, 512, 0), true},
		{"googleai two candidates", respWith(googleaiInfo(70, 8, 0), googleaiInfo(70, 8, 0)), u(70, 8, 0, 0), true},
		{"vertex", respWith(map[string]any{"citations": nil, "safety": nil,
			"input_tokens": int32(15), "output_tokens": int32(5), "total_tokens": int32(20)}), u(15, 5, 0, 0), true},
		{"vertex without usage", respWith(map[string]any{"citations": nil, "safety": nil}), llmwrap.Usage{}, false},
		{"bedrock anthropic", respWith(map[string]any{"input_tokens": 25, "output_tokens": 12}), u(25, 12, 0, 0), true},
		{"bedrock anthropic stream", respWith(map[string]any{"input_tokens": 25, "output_tokens": 12}), u(25, 12, 0, 0), true},
		{"bedrock nova", respWith(map[string]any{"input_tokens": 8, "output_tokens": 4}), u(8, 4, 0, 0), true},
		{"bedrock ai21 sums completions", respWith(
			map[string]any{"id": "a", "input_tokens": 6, "output_tokens": 10},
			map[string]any{"id": "a", "input_tokens": 6, "output_tokens": 14},
		), u(6, 24, 0, 0), true},
		{"bedrock cohere has no usage", respWith(map[string]any{"generation_id": "g", "index": 0}), llmwrap.Usage{}, false},
		{"mistral struct", respWith(map[string]any{"created": 1, "model": "m",
			"usage": mistralUsageInfo{PromptTokens: 17, TotalTokens: 21, CompletionTokens: 4}}), u(17, 4, 0, 0), true},
		{"mistral pointer", respWith(map[string]any{"usage": &mistralUsageInfo{PromptTokens: 17, CompletionTokens: 4}}), u(17, 4, 0, 0), true},
		{"mistral nil pointer", respWith(map[string]any{"usage": (*mistralUsageInfo)(nil)}), llmwrap.Usage{}, false},
		{"mistral zero (stream without usage)", respWith(map[string]any{"usage": mistralUsageInfo{}}), llmwrap.Usage{}, false},
		{"usage struct promoted through a nil pointer", respWith(map[string]any{"usage": embedsUsage{}}), llmwrap.Usage{}, false},
		{"usage struct promoted through a pointer", respWith(map[string]any{"usage": embedsUsage{&mistralUsageInfo{PromptTokens: 2, CompletionTokens: 1}}}),
			u(2, 1, 0, 0), true},
		{"usage struct with odd fields", respWith(map[string]any{"usage": struct {
			PromptTokens     *float64
			CompletionTokens any
		}{CompletionTokens: "12"}}), u(0, 12, 0, 0), true},
		{"usage map", respWith(map[string]any{"usage": map[string]any{"prompt_tokens": 3.0, "completion_tokens": json.Number("2")}}), u(3, 2, 0, 0), true},
		{"maritaca", respWith(map[string]any{"CompletionTokens": 50, "PromptTokens": 10, "TotalTokens": 60}), u(10, 50, 0, 0), true},
	})
}

func TestUsageOfEdges(t *testing.T) {
	checkUsage(t, []usageCase{
		{"nil response", nil, llmwrap.Usage{}, false},
		{"no choices", &llms.ContentResponse{}, llmwrap.Usage{}, false},
		{"nil choice", &llms.ContentResponse{Choices: []*llms.ContentChoice{nil}}, llmwrap.Usage{}, false},
		{"nil GenerationInfo", respWith(nil), llmwrap.Usage{}, false},
		{"no known keys", respWith(map[string]any{"foo": 1}), llmwrap.Usage{}, false},
		{"first choice empty, second reports", &llms.ContentResponse{Choices: []*llms.ContentChoice{
			nil, {}, {GenerationInfo: openaiInfo(0, 0, 0, 0)}, {GenerationInfo: openaiInfo(9, 1, 0, 0)},
		}}, llmwrap.Usage{PromptTokens: 9, CompletionTokens: 1}, true},
		{"cached capped at prompt", respWith(openaiInfo(10, 5, 99, 99)),
			llmwrap.Usage{PromptTokens: 10, CompletionTokens: 5, CachedPromptTokens: 10, ReasoningTokens: 5}, true},
		{"prompt only", respWith(map[string]any{"PromptTokens": 7}), llmwrap.Usage{PromptTokens: 7}, true},
		{"completion only", respWith(map[string]any{"InputTokens": 0, "OutputTokens": 3}), llmwrap.Usage{CompletionTokens: 3}, true},
		{"anthropic absurd sum is missing", respWith(anthropicTextInfo(1<<40, 5, 1<<40, 1)),
			llmwrap.Usage{CompletionTokens: 5}, true},
		{"ai21 sum saturates", respWith(
			map[string]any{"id": "a", "input_tokens": 1, "output_tokens": 1 << 40},
			map[string]any{"id": "a", "input_tokens": 1, "output_tokens": 1 << 40},
		), llmwrap.Usage{PromptTokens: 1, CompletionTokens: 1 << 40}, true},
	})
}

type namedCount int64

func TestUsageOfValueTypes(t *testing.T) {
	seven := 7
	var nilInt *int
	good := []any{
		int(7), int8(7), int16(7), int32(7), int64(7), uint(7), uint8(7), uint16(7), uint32(7), uint64(7), uintptr(7),
		float32(7), float64(7), json.Number("7"), "7", " 7 ", "7.0", "7e0", "+7", namedCount(7), &seven,
	}
	for _, v := range good {
		got, ok := llmwrap.UsageOf(respWith(map[string]any{"PromptTokens": v, "CompletionTokens": 1}))
		if !ok || got.PromptTokens != 7 {
			t.Errorf("PromptTokens %T(%v): got %+v, %v; want 7", v, v, got, ok)
		}
	}
	bad := []any{
		-1, int64(-7), float64(-1), 7.5, float32(0.5), math.NaN(), math.Inf(1), math.Inf(-1),
		int64(1<<40 + 1), uint64(math.MaxUint64), float64(1 << 41), 1e300, "abc", "", "-3", "7.5", "1e400",
		"NaN", "Inf", json.Number("-1"), json.Number("nope"), true, nilInt, []int{7}, map[string]int{"a": 7},
		struct{ N int }{7}, "99999999999999999999999999999999999999", namedCount(-3),
	}
	for _, v := range bad {
		got, ok := llmwrap.UsageOf(respWith(map[string]any{"PromptTokens": v, "CompletionTokens": 1}))
		if !ok || got.PromptTokens != 0 || got.CompletionTokens != 1 {
			t.Errorf("PromptTokens %T(%v): got %+v, %v; want it treated as missing", v, v, got, ok)
		}
	}
	got, _ := llmwrap.UsageOf(respWith(map[string]any{"PromptTokens": int64(1 << 40)}))
	if got.PromptTokens != 1<<40 {
		t.Errorf("2^40 itself must be accepted, got %d", got.PromptTokens)
	}
}

func TestUsageOfDoesNotAllocate(t *testing.T) {
	for name, r := range map[string]*llms.ContentResponse{
		"openai":    respWith(openaiInfo(1200, 300, 1024, 128)),
		"anthropic": respWith(anthropicTextInfo(100, 40, 300, 2000), anthropicToolInfo(100, 40, 300, 2000)),
		"googleai":  respWith(googleaiInfo(700, 80, 512)),
		"bedrock":   respWith(map[string]any{"input_tokens": 25, "output_tokens": 12}),
		"mistral":   respWith(map[string]any{"usage": mistralUsageInfo{PromptTokens: 17, CompletionTokens: 4}}),
	} {
		if n := testing.AllocsPerRun(100, func() { llmwrap.UsageOf(r) }); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}

func ExampleUsageOf() {
	// What langchaingo's anthropic client returns for a text block and a tool_use
	// block: the request's usage copied into both choices.
	info := map[string]any{
		"InputTokens": 120, "OutputTokens": 45,
		"CacheReadInputTokens": 1000, "CacheCreationInputTokens": 0,
	}
	resp := &llms.ContentResponse{Choices: []*llms.ContentChoice{
		{Content: "Let me look that up.", GenerationInfo: info},
		{ToolCalls: []llms.ToolCall{{ID: "toolu_1"}}, GenerationInfo: info},
	}}
	u, ok := llmwrap.UsageOf(resp)
	fmt.Println(ok, u.PromptTokens, u.CompletionTokens, u.CachedPromptTokens)
	// Output: true 1120 45 1000
}

func withWrite(u llmwrap.Usage, write uint64) llmwrap.Usage {
	u.CacheWriteTokens = write
	return u
}
