package realbills

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

//go:embed testdata/bills.jsonl.gz
var billsGz []byte

// The providers a Record names.
const (
	OpenAI       = "openai"        // OpenAI chat completions (api.openai.com)
	Anthropic    = "anthropic"     // Anthropic messages
	Gemini       = "gemini"        // Gemini API (generativelanguage) and Vertex AI (aiplatform)
	OpenAICompat = "openai-compat" // an OpenAI-style chat completions API on another host
)

// Record is one recorded call.
type Record struct {
	ID       string `json:"id"`
	Source   Source `json:"source"`
	Provider string `json:"provider"` // OpenAI, Anthropic, Gemini or OpenAICompat
	Host     string `json:"host"`
	Path     string `json:"path"`
	Model    string `json:"model"` // the model the request named
	Stream   bool   `json:"stream"`
	// Request is the request body as sent.
	Request json.RawMessage `json:"request"`
	// Response is the JSON response body; nil for a stream.
	Response json.RawMessage `json:"response,omitempty"`
	// ResponseSSE is the event stream as recorded; "" unless Stream.
	ResponseSSE string `json:"response_sse,omitempty"`
	// Billed is the usage the provider reported.
	Billed Billed `json:"billed"`
	// EstimateExcluded is set (to the reason) when the request holds something billed
	// that langchaingo cannot send: use the record for usage, not for prompt estimates.
	EstimateExcluded string `json:"estimate_excluded,omitempty"`
}

// Source says where a record was taken from.
type Source struct {
	Repo        string `json:"repo"`
	Commit      string `json:"commit"`
	Path        string `json:"path"`        // the cassette file
	Interaction int    `json:"interaction"` // the index of the call in it
}

// Billed is the usage a provider reported for one call, read from its response.
type Billed struct {
	// Prompt is every input token billed: Anthropic's input + cache writes + cache
	// reads; Gemini's promptTokenCount (cached content included); OpenAI's
	// prompt_tokens.
	Prompt uint64 `json:"prompt"`
	// Input is Anthropic's input_tokens (the uncached part); 0 for the others.
	Input uint64 `json:"input"`
	// Completion is every output token billed, reasoning included: for Gemini
	// candidatesTokenCount + thoughtsTokenCount.
	Completion uint64 `json:"completion"`
	// Cached is the part of Prompt read from a cache (OpenAI cached_tokens, Gemini
	// cachedContentTokenCount, Anthropic cache_read_input_tokens).
	Cached uint64 `json:"cached"`
	// CacheRead and CacheCreation are Anthropic's cache_read_input_tokens and
	// cache_creation_input_tokens.
	CacheRead     uint64 `json:"cache_read"`
	CacheCreation uint64 `json:"cache_creation"`
	// Reasoning is the part of Completion spent thinking, where the provider reports
	// it apart (OpenAI reasoning_tokens, Gemini thoughtsTokenCount, Anthropic
	// output_tokens_details.thinking_tokens).
	Reasoning uint64 `json:"reasoning"`
	// Candidates, Thoughts and ToolUsePrompt are Gemini's candidatesTokenCount,
	// thoughtsTokenCount and toolUsePromptTokenCount.
	Candidates    uint64 `json:"candidates"`
	Thoughts      uint64 `json:"thoughts"`
	ToolUsePrompt uint64 `json:"tool_use_prompt"`
	// Where names the response field that held the usage.
	Where string `json:"where"`
}

// Vertex reports whether r went to Vertex AI rather than the Gemini API.
func (r *Record) Vertex() bool {
	return r.Provider == Gemini && (strings.Contains(r.Host, "aiplatform") || strings.Contains(r.Path, "/publishers/google/"))
}

var loaded struct {
	once sync.Once
	recs []Record
	err  error
}

// Records returns every record, in the file's order. They are parsed once and shared:
// callers must not modify a Record's slices. It fails only when the embedded file is
// corrupt.
func Records() ([]Record, error) {
	loaded.once.Do(func() { loaded.recs, loaded.err = parse(billsGz) })
	if loaded.err != nil {
		return nil, loaded.err
	}
	return append([]Record(nil), loaded.recs...), nil
}

// parse reads gzip'd JSON lines; a record without an id, provider or request is an
// error naming its line.
func parse(gz []byte) ([]Record, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("realbills: %w", err)
	}
	defer zr.Close()
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	var recs []Record
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("realbills: line %d: %w", line, err)
		}
		if r.ID == "" || r.Provider == "" || len(r.Request) == 0 {
			return nil, fmt.Errorf("realbills: line %d: record without id, provider or request", line)
		}
		if r.Stream == (r.ResponseSSE == "") || !r.Stream && len(r.Response) == 0 {
			return nil, fmt.Errorf("realbills: line %d (%s): stream %v does not match its response", line, r.ID, r.Stream)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("realbills: %w", err)
	}
	return recs, nil
}
