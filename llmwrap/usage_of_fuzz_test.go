package llmwrap_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

var fuzzKeys = []string{
	"PromptTokens", "CompletionTokens", "PromptCachedTokens", "CachedTokens", "CacheHit", "ReasoningTokens",
	"ThinkingTokens", "InputTokens", "OutputTokens", "CacheReadInputTokens", "CacheCreationInputTokens",
	"input_tokens", "output_tokens", "id", "usage", "TotalTokens", "model", "safety", "total_tokens",
}

// fuzzBytes hands out the fuzz input piece by piece, zeros once it runs out.
type fuzzBytes struct{ b []byte }

func (f *fuzzBytes) byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

func (f *fuzzBytes) u64() uint64 {
	var buf [8]byte
	n := copy(buf[:], f.b)
	f.b = f.b[n:]
	return binary.LittleEndian.Uint64(buf[:])
}

func (f *fuzzBytes) str() string {
	n := min(int(f.byte()%24), len(f.b))
	s := string(f.b[:n])
	f.b = f.b[n:]
	return s
}

func (f *fuzzBytes) value(depth int) any {
	x := f.u64()
	switch f.byte() % 25 {
	case 0:
		return nil
	case 1:
		return int(x)
	case 2:
		return int32(x)
	case 3:
		return int64(x)
	case 4:
		return x
	case 5:
		return math.Float64frombits(x)
	case 6:
		return math.Float32frombits(uint32(x))
	case 7:
		return json.Number(f.str())
	case 8:
		return f.str()
	case 9:
		return strconv.FormatInt(int64(x), 10)
	case 10:
		return x&1 == 1
	case 11:
		return namedCount(x)
	case 12:
		n := int(x)
		if x&1 == 0 {
			return (*int)(nil)
		}
		return &n
	case 13:
		return mistralUsageInfo{PromptTokens: int(x), CompletionTokens: int(f.u64())}
	case 14:
		if x&1 == 0 {
			return (*mistralUsageInfo)(nil)
		}
		return &mistralUsageInfo{PromptTokens: int(x >> 1), CompletionTokens: int(f.u64())}
	case 15:
		if depth > 1 {
			return nil
		}
		return map[string]any{"prompt_tokens": f.value(depth + 1), "completion_tokens": f.value(depth + 1)}
	case 16:
		return []int{int(x)}
	case 17:
		return int8(x)
	case 18:
		return uint8(x)
	case 19:
		return uintptr(x)
	case 20:
		return float64(x % 5000)
	case 21:
		return int(x % 5000)
	case 22:
		return struct{ PromptTokens string }{strconv.FormatUint(x, 10)}
	case 23:
		if x&1 == 0 {
			return embedsUsage{}
		}
		return embedsUsage{&mistralUsageInfo{PromptTokens: int(x >> 1)}}
	default:
		return math.Inf(int(x%3) - 1)
	}
}

// fuzzResponse builds a response with up to 4 choices (some nil, some without
// GenerationInfo) whose maps hold known keys with values of many types.
func fuzzResponse(data []byte) *llms.ContentResponse {
	f := &fuzzBytes{b: data}
	head := f.byte()
	if head == 255 {
		return nil
	}
	r := &llms.ContentResponse{}
	for range head % 5 {
		switch f.byte() % 8 {
		case 0:
			r.Choices = append(r.Choices, nil)
			continue
		case 1:
			r.Choices = append(r.Choices, &llms.ContentChoice{})
			continue
		}
		gi := map[string]any{}
		for range f.byte() % 8 {
			gi[fuzzKeys[int(f.byte())%len(fuzzKeys)]] = f.value(0)
		}
		r.Choices = append(r.Choices, &llms.ContentChoice{GenerationInfo: gi})
	}
	// Output for the last choice, read after the usage so that older seeds keep
	// their meaning: text, a tool call, reasoning, a legacy function call.
	if out := f.byte(); len(r.Choices) > 0 && r.Choices[len(r.Choices)-1] != nil {
		c := r.Choices[len(r.Choices)-1]
		if out&1 != 0 {
			c.Content = "The answer is 42."
		}
		if out&2 != 0 {
			c.ToolCalls = []llms.ToolCall{{ID: "c1", FunctionCall: &llms.FunctionCall{Name: "f", Arguments: "{}"}}}
		}
		if out&4 != 0 {
			c.ReasoningContent = "thinking"
		}
		if out&8 != 0 {
			c.FuncCall = &llms.FunctionCall{Name: "f"}
		}
	}
	return r
}

// checkReportedInvariants: ReportedUsage keeps what UsageOf read, and marks the zero
// counts that cannot be real (a 0 prompt; a 0 completion next to output), and other
// counts only for googleai's reports (which may be a stream's first chunk).
func checkReportedInvariants(t *testing.T, resp *llms.ContentResponse) {
	t.Helper()
	u, ok := llmwrap.UsageOf(resp)
	r, m := llmwrap.ReportedUsage(resp)
	if !ok && m != llmwrap.MissingAll {
		t.Fatalf("missing %b but UsageOf ok=%v (%+v)", m, ok, u)
	}
	if m == llmwrap.MissingAll {
		if r != (llmwrap.Usage{}) {
			t.Fatalf("nothing reported but usage %+v", r)
		}
		if ok && !googleai(resp) && u.PromptTokens > 0 && (u.CompletionTokens > 0 || !llmwrap.HasOutput(resp)) {
			t.Fatalf("usage %+v marked all missing", u)
		}
		return
	}
	if r != u {
		t.Fatalf("ReportedUsage %+v differs from UsageOf %+v", r, u)
	}
	if r.PromptTokens == 0 && m&llmwrap.MissingPrompt == 0 {
		t.Fatalf("missing %b with prompt %d", m, r.PromptTokens)
	}
	if r.CompletionTokens == 0 && llmwrap.HasOutput(resp) && m&llmwrap.MissingCompletion == 0 {
		t.Fatalf("missing %b with completion %d and output", m, r.CompletionTokens)
	}
	if !googleai(resp) {
		wantC := r.CompletionTokens == 0 && llmwrap.HasOutput(resp)
		if (m&llmwrap.MissingPrompt != 0) != (r.PromptTokens == 0) || (m&llmwrap.MissingCompletion != 0) != wantC {
			t.Fatalf("missing %b with usage %+v, output %v", m, r, llmwrap.HasOutput(resp))
		}
	} else if m&llmwrap.MissingCompletion == 0 {
		t.Fatalf("googleai report with its completion taken as whole: %+v", r)
	}
}

// googleai reports whether some choice carries googleai's keys (PromptTokens next to
// the "safety" key both Google clients set).
func googleai(resp *llms.ContentResponse) bool {
	if resp == nil {
		return false
	}
	for _, c := range resp.Choices {
		if c == nil {
			continue
		}
		_, p := c.GenerationInfo["PromptTokens"]
		_, s := c.GenerationInfo["safety"]
		if p && s {
			return true
		}
	}
	return false
}

func checkUsageInvariants(t *testing.T, resp *llms.ContentResponse) {
	t.Helper()
	u, ok := llmwrap.UsageOf(resp)
	for name, v := range map[string]uint64{
		"PromptTokens": u.PromptTokens, "CompletionTokens": u.CompletionTokens,
		"CachedPromptTokens": u.CachedPromptTokens, "ReasoningTokens": u.ReasoningTokens,
	} {
		if v > llmwrap.MaxReportedTokens {
			t.Fatalf("%s = %d > 2^40 (usage %+v)", name, v, u)
		}
	}
	if ok != (u.PromptTokens > 0 || u.CompletionTokens > 0) {
		t.Fatalf("ok = %v with usage %+v", ok, u)
	}
	if !ok && u != (llmwrap.Usage{}) {
		t.Fatalf("not ok but usage %+v", u)
	}
	if u.CachedPromptTokens > u.PromptTokens || u.ReasoningTokens > u.CompletionTokens {
		t.Fatalf("details exceed totals: %+v", u)
	}
	if u2, ok2 := llmwrap.UsageOf(resp); u2 != u || ok2 != ok {
		t.Fatalf("not deterministic: %+v,%v then %+v,%v", u, ok, u2, ok2)
	}
}

func FuzzUsageOf(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{255})
	f.Add([]byte{1, 2, 2, 0, 100, 0, 0, 0, 0, 0, 0, 0, 21, 1, 7, 0, 0, 0, 0, 0, 0, 0, 21})
	f.Add([]byte{3, 2, 3, 7, 1, 0, 0, 0, 0, 0, 0, 0, 5, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf8, 0x7f, 5, 0, 2, 2, 1})
	f.Add([]byte{2, 3, 1, 14, 9, 0, 0, 0, 0, 0, 0, 0, 13, 3, 0, 0, 0, 0, 0, 0, 0, 1, 3, 1, 7, 8, 0, 0, 0, 0, 0, 0, 0, 15})
	f.Add([]byte("\x04\x02\x05\x07\x00\x00\x00\x00\x00\x00\x00\x08\x0312a\x08\x00\x00\x00\x00\x00\x00\x00\x07\x041e12"))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp := fuzzResponse(data)
		checkUsageInvariants(t, resp)
		checkReportedInvariants(t, resp)
	})
}

// TestUsageOfRandomProviderMaps builds random but well-formed provider maps,
// duplicated across choices the way the providers do, and checks the exact result.
func TestUsageOfRandomProviderMaps(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	defer func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
		}
	}()
	small := func() int { return rng.IntN(1 << uint(rng.IntN(31))) }
	for i := range 5000 {
		p, c, cached, reasoning := small(), small(), small(), small()
		var gi map[string]any
		var want llmwrap.Usage
		switch i % 4 {
		case 0:
			cached, reasoning = min(cached, p), min(reasoning, c)
			gi = openaiInfo(p, c, cached, reasoning)
			want = llmwrap.Usage{PromptTokens: uint64(p), CompletionTokens: uint64(c),
				CachedPromptTokens: uint64(cached), ReasoningTokens: uint64(reasoning)}
		case 1:
			create := small()
			gi = anthropicTextInfo(p, c, create, cached)
			want = llmwrap.Usage{PromptTokens: uint64(p + create + cached), CompletionTokens: uint64(c), CachedPromptTokens: uint64(cached), CacheWriteTokens: uint64(create)}
		case 2:
			cached = min(cached, p)
			gi = googleaiInfo(int32(p), int32(c), int32(cached))
			want = llmwrap.Usage{PromptTokens: uint64(p), CompletionTokens: uint64(c), CachedPromptTokens: uint64(cached)}
		case 3:
			gi = map[string]any{"usage": mistralUsageInfo{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c}}
			want = llmwrap.Usage{PromptTokens: uint64(p), CompletionTokens: uint64(c)}
		}
		n := 1 + rng.IntN(4)
		infos := make([]map[string]any, n)
		for k := range infos {
			infos[k] = gi
		}
		r := respWith(infos...)
		got, ok := llmwrap.UsageOf(r)
		wantOK := want.PromptTokens > 0 || want.CompletionTokens > 0
		if !wantOK {
			want = llmwrap.Usage{}
		}
		if got != want || ok != wantOK {
			t.Fatalf("case %d (%d choices) %v: got %+v,%v want %+v,%v", i, n, gi, got, ok, want, wantOK)
		}
		checkUsageInvariants(t, r)
	}
}
