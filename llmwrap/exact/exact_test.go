package exact_test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/tmc/langchaingo/llms"
	"go.uber.org/goleak"

	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/llmwrap/exact"
)

// TestMain proves the encoders load offline: tiktoken-go's default loader would
// download the BPE files (through the proxy from the environment, here a closed
// port) and cache them in TIKTOKEN_CACHE_DIR, here a directory that must stay empty.
func TestMain(m *testing.M) {
	cache, err := os.MkdirTemp("", "tiktoken-cache")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(cache)
	for k, v := range map[string]string{
		"TIKTOKEN_CACHE_DIR": cache, "DATA_GYM_CACHE_DIR": cache,
		"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "",
		"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "no_proxy": "",
	} {
		os.Setenv(k, v)
	}
	code := m.Run()
	if entries, _ := os.ReadDir(cache); len(entries) > 0 {
		fmt.Fprintf(os.Stderr, "exact: %d files were downloaded into the tiktoken cache\n", len(entries))
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.RemoveAll(cache)
	os.Exit(code)
}

func mustNew(t testing.TB, opts ...exact.Option) *exact.Estimator {
	t.Helper()
	e, err := exact.New(opts...)
	if err != nil {
		t.Fatalf("exact.New: %v", err)
	}
	return e
}

func TestCountTextKnownValues(t *testing.T) {
	e := mustNew(t)
	if e.Encoding() != "o200k_base" {
		t.Fatalf("default encoding = %q, want %q", e.Encoding(), "o200k_base")
	}
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"", 0},
		{"hello world", 2},
		{"The quick brown fox jumps over the lazy dog.", 10},
		{"<|endoftext|>", 7}, // special tokens are plain text in user input, never a panic
	} {
		if got := e.CountText(tc.in); got != tc.want {
			t.Errorf("CountText(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	cl := mustNew(t, exact.WithEncoding("cl100k_base"))
	// o200k has a token for " 世界"; cl100k splits CJK into bytes more often.
	if o, c := e.CountText("大语言模型的成本控制"), cl.CountText("大语言模型的成本控制"); o >= c {
		t.Errorf("o200k_base = %d tokens, cl100k_base = %d: want o200k smaller on Chinese", o, c)
	}
}

func TestNewOptions(t *testing.T) {
	if _, err := exact.New(exact.WithEncoding("gpt2")); err == nil {
		t.Error("New with an unknown encoding: no error")
	}
	if _, err := exact.New(exact.WithEncoding("")); err == nil {
		t.Error("New with an empty encoding: no error")
	}
	if e := mustNew(t, nil); e.Encoding() != "o200k_base" {
		t.Errorf("nil option changed the encoding to %q", e.Encoding())
	}
	for model, want := range map[string]string{
		"gpt-4o":                 "o200k_base",
		"gpt-4o-mini-2024-07-18": "o200k_base",
		"gpt-4.1-nano":           "o200k_base",
		"gpt-4":                  "cl100k_base",
		"gpt-4-0613":             "cl100k_base",
		"gpt-3.5-turbo-0125":     "cl100k_base",
		"text-davinci-003":       "p50k_base",
		"davinci":                "r50k_base",
		"o3-mini":                "o200k_base", // unknown to tiktoken-go: the default
		"claude-3-5-haiku":       "o200k_base",
		"gpt2":                   "o200k_base", // tiktoken-go names it but cannot load it
		"":                       "o200k_base",
	} {
		e, err := exact.New(exact.ForModel(model))
		if err != nil {
			t.Errorf("ForModel(%q): %v", model, err)
			continue
		}
		if e.Encoding() != want {
			t.Errorf("ForModel(%q) = %q, want %q", model, e.Encoding(), want)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Must with a bad encoding did not panic")
			}
		}()
		exact.Must(exact.WithEncoding("nope"))
	}()
}

// The exact estimator shares package estimate's accounting: for the same messages, the two
// differ exactly by how their texts count.
func TestEstimateSharesAccounting(t *testing.T) {
	e := mustNew(t)
	texts := []string{"You are a careful assistant.", "What's the weather in Lisbon on Friday?", "Sunny, 19°C."}
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, texts[0]),
		llms.TextParts(llms.ChatMessageTypeHuman, texts[1]),
		{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{ToolCallID: "c", Name: "weather", Content: texts[2]}}},
		{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{llms.ImageURLContent{URL: "https://example.com/a.png", Detail: "low"}}},
	}
	var exactText, defaultText uint64
	for _, s := range append(texts, "weather", "system", "human", "tool", "human") {
		exactText += e.CountText(s)
		defaultText += estimate.Text(s)
	}
	ge, gd := e.Estimate(msgs, nil), estimate.Default().Estimate(msgs, nil)
	if ge-exactText != gd-defaultText {
		t.Errorf("framing differs: exact %d-%d, default %d-%d", ge, exactText, gd, defaultText)
	}
	if got := e.Estimate(nil, nil); got != 0 {
		t.Errorf("Estimate(nil, nil) = %d, want 0", got)
	}
	var nilEst *exact.Estimator
	if got, want := nilEst.Estimate(msgs, nil), estimate.Default().Estimate(msgs, nil); got != want {
		t.Errorf("nil Estimator = %d, want the default's %d", got, want)
	}
	if got, want := nilEst.CountText("hello world"), estimate.Text("hello world"); got != want {
		t.Errorf("nil Estimator CountText = %d, want %d", got, want)
	}
	if nilEst.Encoding() != "" {
		t.Errorf("nil Estimator has encoding %q", nilEst.Encoding())
	}
	var _ estimate.ProviderEstimator = e
}

func TestConcurrentUse(t *testing.T) {
	texts := []string{strings.Repeat("concurrent tokenizer use ", 40), "大语言模型", "func f() { return }", "{\"a\": [1, 2]}"}
	want := make([]uint64, len(texts))
	e := mustNew(t)
	for i, s := range texts {
		want[i] = e.CountText(s)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := mustNew(t) // New on many goroutines shares one encoder
			for i := 0; i < 50; i++ {
				k := (g + i) % len(texts)
				if got := e.CountText(texts[k]); got != want[k] {
					t.Errorf("concurrent CountText = %d, want %d", got, want[k])
					return
				}
			}
		}()
	}
	wg.Wait()
}

func newForFuzz() (*exact.Estimator, error) { return exact.New() }
