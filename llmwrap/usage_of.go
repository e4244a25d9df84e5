package llmwrap

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// MaxReportedTokens is the largest token count UsageOf believes. A provider's count
// above it (2^40, about a trillion) is taken for garbage and treated as missing, so
// that one bad report cannot drain or overflow a budget.
const MaxReportedTokens = 1 << 40

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
// The usage is request-level: openai copies it into every choice when N > 1 and
// anthropic emits one choice per content block, so it is read once, from the first
// choice that reports a non-zero count, never summed across choices (ai21 aside).
//
// Counts may be any Go integer or float type, json.Number or a numeric string
// (named numeric types and pointers to numbers are accepted too). A negative,
// fractional, NaN, infinite or non-numeric count, or one above MaxReportedTokens, is
// treated as missing (0). CachedPromptTokens is capped at PromptTokens and
// ReasoningTokens at CompletionTokens. When PromptTokens and CompletionTokens are
// both 0 (openai and ollama report 0/0 when the server sent no usage) the result is
// (Usage{}, false). A nil resp, nil or empty choices and nil GenerationInfo give
// (Usage{}, false). UsageOf never panics and does not allocate for the providers'
// own value types.
//
// A report can be partial: a count of 0 next to output that must have cost tokens.
// UsageOf returns it as it is; ReportedUsage says which part is missing.
func UsageOf(resp *llms.ContentResponse) (Usage, bool) {
	if resp == nil {
		return Usage{}, false
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
			return r, true
		}
	}
	return Usage{}, false
}

// Missing says which parts of a usage report are absent, as a bit set.
type Missing uint8

const (
	// MissingPrompt: the prompt count is absent or 0. Every call sends a prompt, so
	// 0 is never a real count (Ollama leaves prompt_eval_count out when its cache
	// held the whole prompt).
	MissingPrompt Missing = 1 << iota
	// MissingCompletion: the completion count is absent or 0 although the response
	// holds output (text, reasoning or a tool call). langchaingo v0.1.14's googleai
	// client does this for every streamed call and every call with more than one
	// message: the genai SDK (v0.15.1, joinResponses) keeps the first stream chunk's
	// usageMetadata, which has the prompt count and no candidates count.
	MissingCompletion
	// MissingAll: nothing was reported (no usage keys, or all counts 0).
	MissingAll = MissingPrompt | MissingCompletion
)

// ReportedUsage returns what UsageOf reads from resp together with the parts of it
// that are missing, so that a caller can estimate those and keep the rest. It applies
// one rule to every provider: a prompt count of 0 is missing, and a completion count
// of 0 is missing when some choice has non-empty Content, ReasoningContent, ToolCalls
// or FuncCall (a completion of 0 tokens with no output is a real report). When both
// are missing the result is (Usage{}, MissingAll), exactly when UsageOf reports
// false. The returned Usage keeps every count that was reported; a missing count is
// 0 in it. Like UsageOf it never panics and does not allocate for the providers' own
// value types; a nil resp gives MissingAll.
func ReportedUsage(resp *llms.ContentResponse) (Usage, Missing) {
	u, ok := UsageOf(resp)
	if !ok {
		return Usage{}, MissingAll
	}
	var m Missing
	if u.PromptTokens == 0 {
		m |= MissingPrompt
	}
	if u.CompletionTokens == 0 && hasOutput(resp) {
		m |= MissingCompletion
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

// usageFromInfo reads one GenerationInfo; ok is false when it has no usage keys.
// The provider is recognized by which keys are present, because some providers set
// another's keys for "compatibility" (googleai sets CacheReadInputTokens next to
// PromptTokens, which must not be added to its prompt count the anthropic way).
func usageFromInfo(gi map[string]any) (rawUsage, bool) {
	var u rawUsage
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
		return u, true
	}
	if in, ok := gi["InputTokens"]; ok {
		read, write := count(gi["CacheReadInputTokens"]), count(gi["CacheCreationInputTokens"])
		// Each part is at most MaxReportedTokens, so the sum cannot overflow.
		p := count(in) + read + write
		if p > MaxReportedTokens {
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
		return u, true
	}
	if v, ok := gi["usage"]; ok && v != nil {
		u.PromptTokens, u.CompletionTokens = usageValue(v)
		return u, true
	}
	return u, false
}

// sumAI21Output adds up the per-completion output counts of bedrock's ai21 choices,
// saturating at MaxReportedTokens.
func sumAI21Output(choices []*llms.ContentChoice) uint64 {
	var sum uint64
	for _, c := range choices {
		if c == nil {
			continue
		}
		sum += count(c.GenerationInfo["output_tokens"])
		if sum > MaxReportedTokens {
			return MaxReportedTokens
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
	if x < 0 || x > MaxReportedTokens {
		return 0
	}
	return uint64(x)
}

func fromUint(x uint64) uint64 {
	if x > MaxReportedTokens {
		return 0
	}
	return x
}

func fromFloat(x float64) uint64 {
	// NaN fails every comparison, so it lands in the first branch.
	if !(x >= 0 && x <= MaxReportedTokens) || x != math.Trunc(x) {
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
