package llmwrap

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// maxReportedTokens is the largest token count UsageOf believes. A provider's count
// above it (2^40, about a trillion) is taken for garbage and treated as missing, so
// that one bad report cannot drain or overflow a budget.
const maxReportedTokens = 1 << 40

// UsageOf returns the token usage the provider reported in resp, normalized, and
// false when it reported none.
//
// It reads the GenerationInfo that langchaingo v0.1.14's providers fill in:
//
//   - openai (and every OpenAI-compatible server), ollama, maritaca, googleai:
//     "PromptTokens", "CompletionTokens"; openai adds "PromptCachedTokens" and
//     "ReasoningTokens" (else "ThinkingTokens"), googleai adds "CachedTokens" (int32
//     values). Their prompt count already includes cached tokens. Ollama's
//     "CachedTokens" (its client-side context cache, marked by "CacheHit") is not a
//     provider count and is ignored.
//   - anthropic: "InputTokens", "OutputTokens", "CacheReadInputTokens",
//     "CacheCreationInputTokens". InputTokens excludes the cache, so
//     PromptTokens = InputTokens + CacheReadInputTokens + CacheCreationInputTokens and
//     CachedPromptTokens = CacheReadInputTokens, CacheWriteTokens =
//     CacheCreationInputTokens.
//   - googleai/vertex and bedrock (anthropic, meta, amazon, nova, ai21):
//     "input_tokens", "output_tokens". Bedrock's ai21 gives one choice per
//     completion, each with its own "output_tokens" (marked by "id"): those are
//     summed.
//   - mistral: "usage", the UsageInfo struct value of
//     github.com/gage-technologies/mistral-go (fields PromptTokens and
//     CompletionTokens, read by reflection so llmwrap need not import the SDK); a
//     pointer to such a struct or a map with "prompt_tokens" / "completion_tokens"
//     is read too.
//   - cloudflare, cohere, ernie, huggingface, llamafile, local, googleai/palm,
//     watsonx and bedrock's cohere report no usage: UsageOf returns false for them.
//
// Gemini (googleai and vertex, recognized by their "safety" key) bills its thinking
// models' thoughts as output tokens (usageMetadata.thoughtsTokenCount; see
// https://ai.google.dev/gemini-api/docs/thinking#pricing), and the genai SDKs under
// langchaingo (generative-ai-go v0.15.1, cloud.google.com/go/vertexai v0.12.0) have no
// field for them: their "CompletionTokens" / "output_tokens" is candidatesTokenCount
// alone. The total they pass on ("TotalTokens" / "total_tokens") does count them, so
// when it exceeds prompt + candidates, CompletionTokens is total − prompt and
// ReasoningTokens the difference (the thoughts). The prompt of Google's built-in
// tools (toolUsePromptTokenCount, for search grounding or code execution) is in the
// total too and is counted as output this way; it is 0 for function calling.
//
// The usage is request-level: openai copies it into every choice when N > 1 and
// anthropic emits one choice per content block, so it is read once, from the first
// choice that reports a non-zero count, never summed across choices (ai21 aside).
//
// Counts may be any Go integer or float type, json.Number or a numeric string
// (named numeric types and pointers to numbers are accepted too). A negative,
// fractional, NaN, infinite or non-numeric count, or one above 2^40 (about a trillion:
// garbage, which must not drain or overflow a budget), is
// treated as missing (0). CachedPromptTokens is capped at PromptTokens and
// ReasoningTokens at CompletionTokens. When PromptTokens and CompletionTokens are
// both 0 (openai and ollama report 0/0 when the server sent no usage) the result is
// (Usage{}, false). A nil resp, nil or empty choices and nil GenerationInfo give
// (Usage{}, false). UsageOf never panics and does not allocate for the providers'
// own value types.
//
// A report can be partial or stale: a count of 0 next to output that must have cost
// tokens, or googleai's first stream chunk. UsageOf returns it as it is;
// ReportedUsage says which part is missing.
func UsageOf(resp *llms.ContentResponse) (Usage, bool) {
	u, ok := usageOf(resp)
	return u.Usage, ok
}

// usageOf is UsageOf, with what the report says about its own reliability.
func usageOf(resp *llms.ContentResponse) (rawUsage, bool) {
	if resp == nil {
		return rawUsage{}, false
	}
	for i, c := range resp.Choices {
		if c == nil || len(c.GenerationInfo) == 0 {
			continue
		}
		u, ok := usageFromInfo(c.GenerationInfo)
		if !ok {
			continue
		}
		if u.ai21 {
			u.CompletionTokens = sumAI21Output(resp.Choices[i:])
		}
		if r, ok := u.finish(); ok {
			u.Usage = r
			return u, true
		}
	}
	return rawUsage{}, false
}

// Missing says which parts of a usage report are absent, as a bit set.
type Missing uint8

const (
	// MissingPrompt: the prompt count is absent or 0 (every call sends a prompt, so
	// 0 is never a real count: Ollama leaves prompt_eval_count out when its cache
	// held the whole prompt), or it is provisional (a googleai stream chunk before
	// the last).
	MissingPrompt Missing = 1 << iota
	// MissingCompletion: the completion count is absent or 0 although the response
	// holds output (text, reasoning or a tool call), or it may be stale (googleai's
	// first stream chunk, see ReportedUsage).
	MissingCompletion
	// MissingAll: nothing usable was reported (no usage keys, all counts 0, or only
	// provisional ones).
	MissingAll = MissingPrompt | MissingCompletion
)

// ReportedUsage returns what UsageOf reads from resp together with the parts of it
// that are missing, so that a caller can estimate those and keep the rest. A count is
// missing when it is absent or cannot be right, for every provider: a prompt count of
// 0, and a completion count of 0 when some choice has non-empty Content,
// ReasoningContent, ToolCalls or FuncCall (a completion of 0 tokens with no output is
// a real report).
//
// A count can also be stale. langchaingo's googleai client reads a streamed answer
// through the genai SDK (v0.15.1), which keeps the usageMetadata of the stream's
// first chunk and drops the later ones (joinResponses: "TODO: Take the last
// UsageMetadata"). That chunk's counts are final only when it is the last one: a
// chunk before it has no candidates count, or one of the output so far (a recorded
// Gemini 2.5 call passed on 31 of the 115 output tokens billed), and even its prompt
// count is provisional (a recorded Gemini 2.0 stream's first chunk said 169 where 79
// were billed). The response cannot tell, and the SDK streams a call with a
// streaming function or with other than exactly one message (ChatSession.SendMessage
// reads a stream too); only a single-message call without one is answered in one
// body. ReportedUsage does not see the call, so for a googleai response it always
// takes the completion count for missing, and the prompt count too when the chunk
// had no candidates count while the response holds output (it was not the last);
// Wrap, which sees the call, keeps googleai's counts as reported for the calls the
// SDK does not stream.
//
// When both are missing the result is (Usage{}, MissingAll). The returned Usage
// keeps every count that was read, a stale one included (a lower bound of the
// output); a count that is absent is 0 in it. Like UsageOf it never panics and does
// not allocate for the providers' own value types; a nil resp gives MissingAll.
func ReportedUsage(resp *llms.ContentResponse) (Usage, Missing) {
	return reportedUsage(resp, true)
}

// callUsage is ReportedUsage for a call whose messages and streaming are known:
// googleai's usage is a stream's first chunk only when the genai SDK streamed the
// call (see ReportedUsage).
func callUsage(resp *llms.ContentResponse, msgs []llms.MessageContent, streamed bool) (Usage, Missing) {
	return reportedUsage(resp, streamed || len(msgs) != 1)
}

// reportedUsage is ReportedUsage; firstChunk says whether a googleai report may be
// the first chunk of a stream.
func reportedUsage(resp *llms.ContentResponse, firstChunk bool) (Usage, Missing) {
	raw, ok := usageOf(resp)
	if !ok {
		return Usage{}, MissingAll
	}
	u := raw.Usage
	var m Missing
	if u.PromptTokens == 0 {
		m |= MissingPrompt
	}
	out := hasOutput(resp)
	if u.CompletionTokens == 0 && out {
		m |= MissingCompletion
	}
	if raw.genai && firstChunk {
		m |= MissingCompletion
		if raw.candidates == 0 && out {
			m |= MissingPrompt
		}
	}
	if m == MissingAll {
		return Usage{}, MissingAll
	}
	return u, m
}

// hasOutput reports whether any choice of resp has non-empty Content,
// ReasoningContent, ToolCalls or FuncCall. A nil resp or nil choices have none.
func hasOutput(resp *llms.ContentResponse) bool {
	if resp == nil {
		return false
	}
	for _, c := range resp.Choices {
		if c != nil && (c.Content != "" || c.ReasoningContent != "" || len(c.ToolCalls) > 0 || c.FuncCall != nil) {
			return true
		}
	}
	return false
}

type rawUsage struct {
	Usage
	ai21 bool
	// genai: the report is googleai's (the genai SDK's usageMetadata, possibly a
	// stream's first chunk); candidates is its candidatesTokenCount, before the
	// thoughts are added to CompletionTokens.
	genai      bool
	candidates uint64
}

// finish caps the detail counts at their totals and applies the all-zero rule.
func (u rawUsage) finish() (Usage, bool) {
	r := u.Usage
	r.CachedPromptTokens = min(r.CachedPromptTokens, r.PromptTokens)
	r.CacheWriteTokens = min(r.CacheWriteTokens, r.PromptTokens-r.CachedPromptTokens)
	r.ReasoningTokens = min(r.ReasoningTokens, r.CompletionTokens)
	if r.PromptTokens == 0 && r.CompletionTokens == 0 {
		return Usage{}, false
	}
	return r, true
}

// addThoughts applies Gemini's total: prompt + candidates + thoughts (see UsageOf).
// Each count is at most maxReportedTokens, so the sum cannot overflow.
func (u *rawUsage) addThoughts(total uint64) {
	u.candidates = u.CompletionTokens
	if total > u.PromptTokens+u.CompletionTokens {
		u.CompletionTokens = total - u.PromptTokens
		u.ReasoningTokens = u.CompletionTokens - u.candidates
	}
}

// usageFromInfo reads one GenerationInfo; ok is false when it has no usage keys.
// The provider is recognized by which keys are present, because some providers set
// another's keys for "compatibility" (googleai sets CacheReadInputTokens next to
// PromptTokens, which must not be added to its prompt count the anthropic way).
func usageFromInfo(gi map[string]any) (rawUsage, bool) {
	var u rawUsage
	_, google := gi["safety"] // googleai and vertex set it on every choice
	if p, ok := gi["PromptTokens"]; ok {
		u.PromptTokens = count(p)
		u.CompletionTokens = count(gi["CompletionTokens"])
		if c, ok := gi["PromptCachedTokens"]; ok {
			u.CachedPromptTokens = count(c)
		} else if c, ok := gi["CachedTokens"]; ok {
			if _, ollamaCache := gi["CacheHit"]; !ollamaCache {
				u.CachedPromptTokens = count(c)
			}
		}
		if r, ok := gi["ReasoningTokens"]; ok {
			u.ReasoningTokens = count(r)
		} else {
			u.ReasoningTokens = count(gi["ThinkingTokens"])
		}
		if google {
			u.genai = true
			u.addThoughts(count(gi["TotalTokens"]))
		}
		return u, true
	}
	if in, ok := gi["InputTokens"]; ok {
		read, write := count(gi["CacheReadInputTokens"]), count(gi["CacheCreationInputTokens"])
		// Each part is at most maxReportedTokens, so the sum cannot overflow.
		p := count(in) + read + write
		if p > maxReportedTokens {
			p, read, write = 0, 0, 0
		}
		u.PromptTokens, u.CachedPromptTokens, u.CacheWriteTokens = p, read, write
		u.CompletionTokens = count(gi["OutputTokens"])
		return u, true
	}
	if in, ok := gi["input_tokens"]; ok {
		u.PromptTokens = count(in)
		u.CompletionTokens = count(gi["output_tokens"])
		_, u.ai21 = gi["id"]
		if google { // vertex
			u.addThoughts(count(gi["total_tokens"]))
		}
		return u, true
	}
	if v, ok := gi["usage"]; ok && v != nil {
		u.PromptTokens, u.CompletionTokens = usageValue(v)
		return u, true
	}
	return u, false
}

// sumAI21Output adds up the per-completion output counts of bedrock's ai21 choices,
// saturating at maxReportedTokens.
func sumAI21Output(choices []*llms.ContentChoice) uint64 {
	var sum uint64
	for _, c := range choices {
		if c == nil {
			continue
		}
		sum += count(c.GenerationInfo["output_tokens"])
		if sum > maxReportedTokens {
			return maxReportedTokens
		}
	}
	return sum
}

// usageValue reads mistral's usage: a struct (or pointer to one) with PromptTokens
// and CompletionTokens fields, or a map with snake_case keys.
func usageValue(v any) (prompt, completion uint64) {
	switch m := v.(type) {
	case map[string]any:
		return count(m["prompt_tokens"]), count(m["completion_tokens"])
	case map[string]int:
		return count(m["prompt_tokens"]), count(m["completion_tokens"])
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return 0, 0
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return 0, 0
	}
	return countField(rv, "PromptTokens"), countField(rv, "CompletionTokens")
}

// countField reads a numeric field of struct value rv. FieldByIndexErr, unlike
// FieldByName, does not panic when the field is promoted through a nil embedded
// pointer.
func countField(rv reflect.Value, name string) uint64 {
	f, ok := rv.Type().FieldByName(name)
	if !ok {
		return 0
	}
	fv, err := rv.FieldByIndexErr(f.Index)
	if err != nil {
		return 0
	}
	return countValue(fv, 1)
}

// count converts one reported count, returning 0 for anything that is not a
// plausible token count.
func count(v any) uint64 {
	switch x := v.(type) {
	case nil:
		return 0
	case int:
		return fromInt(int64(x))
	case int32:
		return fromInt(int64(x))
	case int64:
		return fromInt(x)
	case float64:
		return fromFloat(x)
	case uint64:
		return fromUint(x)
	case uint:
		return fromUint(uint64(x))
	case uint32:
		return fromUint(uint64(x))
	case int8:
		return fromInt(int64(x))
	case int16:
		return fromInt(int64(x))
	case uint8:
		return fromUint(uint64(x))
	case uint16:
		return fromUint(uint64(x))
	case uintptr:
		return fromUint(uint64(x))
	case float32:
		return fromFloat(float64(x))
	case json.Number:
		return fromString(string(x))
	case string:
		return fromString(x)
	case bool:
		return 0
	}
	return countValue(reflect.ValueOf(v), 1)
}

// countValue handles named numeric types and pointers (one level deep) by kind.
func countValue(rv reflect.Value, depth int) uint64 {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fromInt(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return fromUint(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return fromFloat(rv.Float())
	case reflect.String:
		return fromString(rv.String())
	case reflect.Pointer, reflect.Interface:
		if depth <= 0 || rv.IsNil() {
			return 0
		}
		return countValue(rv.Elem(), depth-1)
	}
	return 0
}

func fromInt(x int64) uint64 {
	if x < 0 || x > maxReportedTokens {
		return 0
	}
	return uint64(x)
}

func fromUint(x uint64) uint64 {
	if x > maxReportedTokens {
		return 0
	}
	return x
}

func fromFloat(x float64) uint64 {
	// NaN fails every comparison, so it lands in the first branch.
	if !(x >= 0 && x <= maxReportedTokens) || x != math.Trunc(x) {
		return 0
	}
	return uint64(x)
}

func fromString(s string) uint64 {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 {
		return 0
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return fromUint(n)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return fromFloat(f)
}
