package price_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/price"
)

const excerpt = "testdata/model_prices_excerpt.json"

func readExcerpt(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(excerpt)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestParseLiteLLMExcerpt: the real entries give exactly the rates their decimal
// text says, in micro-USD per million tokens, and the entries that are not billed by
// tokens (or are listed without a price, or at $0) stay out of the table.
func TestParseLiteLLMExcerpt(t *testing.T) {
	tab, err := price.ParseLiteLLM(bytes.NewReader(readExcerpt(t)))
	if err != nil {
		t.Fatal(err)
	}
	sonnet4Tier := price.Tier{Above: 200_000, Rates: price.Rates{Input: 6_000_000, Output: 22_500_000, CacheRead: 600_000, CacheWrite: 7_500_000}}
	want := price.Table{
		"gpt-4o":      {Rates: price.Rates{Input: 2_500_000, Output: 10_000_000, CacheRead: 1_250_000}},
		"gpt-4o-mini": {Rates: price.Rates{Input: 150_000, Output: 600_000, CacheRead: 75_000}},
		"claude-haiku-4-5": {Rates: price.Rates{Input: 1_000_000, Output: 5_000_000, CacheRead: 100_000,
			CacheWrite: 1_250_000, CacheWrite1h: 2_000_000}},
		"claude-4-sonnet-20250514": {Rates: price.Rates{Input: 3_000_000, Output: 15_000_000, CacheRead: 300_000,
			CacheWrite: 3_750_000}, Tiers: []price.Tier{sonnet4Tier}},
		"claude-sonnet-4-5-20250929": {Rates: price.Rates{Input: 3_000_000, Output: 15_000_000, CacheRead: 300_000,
			CacheWrite: 3_750_000, CacheWrite1h: 6_000_000},
			Tiers: []price.Tier{{Above: 200_000, Rates: price.Rates{Input: 6_000_000, Output: 22_500_000, CacheRead: 600_000,
				CacheWrite: 7_500_000, CacheWrite1h: 12_000_000}}}},
		"gemini/gemini-2.5-pro": {Rates: price.Rates{Input: 1_250_000, Output: 10_000_000, CacheRead: 125_000},
			Tiers: []price.Tier{{Above: 200_000, Rates: price.Rates{Input: 2_500_000, Output: 15_000_000, CacheRead: 250_000}}}},
		"text-embedding-3-small":      {Rates: price.Rates{Input: 20_000}},
		"text-embedding-preview-0409": {Rates: price.Rates{Input: 6_250}},
	}
	if !reflect.DeepEqual(tab, want) {
		for name := range tab {
			if !reflect.DeepEqual(tab[name], want[name]) {
				t.Errorf("%s: got %+v, want %+v", name, tab[name], want[name])
			}
		}
		for name := range want {
			if _, ok := tab[name]; !ok {
				t.Errorf("%s: missing", name)
			}
		}
	}
}

// TestLiteLLMChargesTheFileRates: for an OpenAI, an Anthropic and a Gemini model,
// the table's cost of a call is exactly what the file's decimal rates give for its
// counts (worked out here with big rationals from the file's own text), rounded up to
// a micro-USD; below and above the long-context threshold.
func TestLiteLLMChargesTheFileRates(t *testing.T) {
	data := readExcerpt(t)
	tab, err := price.ParseLiteLLM(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	// fileCost: Σ count × the field's rate (USD per token), in micro-USD, rounded up.
	fileCost := func(model string, counts map[string]uint64) *big.Int {
		sum := new(big.Rat)
		for field, n := range counts {
			v, ok := new(big.Rat).SetString(string(raw[model][field]))
			if !ok {
				t.Fatalf("%s: no %s in the file", model, field)
			}
			sum.Add(sum, v.Mul(v, new(big.Rat).SetInt64(int64(n))))
		}
		sum.Mul(sum, big.NewRat(1_000_000, 1))
		q, m := new(big.Int).QuoRem(sum.Num(), sum.Denom(), new(big.Int))
		if m.Sign() != 0 {
			q.Add(q, big.NewInt(1))
		}
		return q
	}
	for _, tc := range []struct {
		model  string
		u      llmwrap.Usage
		counts map[string]uint64
	}{
		{"gpt-4o", llmwrap.Usage{PromptTokens: 1_234, CachedPromptTokens: 1_024, CompletionTokens: 77},
			map[string]uint64{"input_cost_per_token": 210, "cache_read_input_token_cost": 1_024, "output_cost_per_token": 77}},
		{"gpt-4o-mini", llmwrap.Usage{PromptTokens: 7, CompletionTokens: 1}, // 7×0.15 + 0.6 = 1.65 → 2
			map[string]uint64{"input_cost_per_token": 7, "output_cost_per_token": 1}},
		{"claude-sonnet-4-5-20250929", llmwrap.Usage{PromptTokens: 12_000, CacheWriteTokens: 4_000, CachedPromptTokens: 6_000, CompletionTokens: 321},
			map[string]uint64{"input_cost_per_token": 2_000, "cache_creation_input_token_cost": 4_000,
				"cache_read_input_token_cost": 6_000, "output_cost_per_token": 321}},
		{"claude-sonnet-4-5-20250929", llmwrap.Usage{PromptTokens: 250_000, CacheWriteTokens: 10_000, CachedPromptTokens: 200_000, CompletionTokens: 999},
			map[string]uint64{"input_cost_per_token_above_200k_tokens": 40_000, "cache_creation_input_token_cost_above_200k_tokens": 10_000,
				"cache_read_input_token_cost_above_200k_tokens": 200_000, "output_cost_per_token_above_200k_tokens": 999}},
		{"gemini/gemini-2.5-pro", llmwrap.Usage{PromptTokens: 200_000, CachedPromptTokens: 3, CompletionTokens: 1_000},
			map[string]uint64{"input_cost_per_token": 199_997, "cache_read_input_token_cost": 3, "output_cost_per_token": 1_000}},
		{"gemini/gemini-2.5-pro", llmwrap.Usage{PromptTokens: 200_001, CompletionTokens: 1_000, ReasoningTokens: 600},
			map[string]uint64{"input_cost_per_token_above_200k_tokens": 200_001, "output_cost_per_token_above_200k_tokens": 1_000}},
		{"text-embedding-3-small", llmwrap.Usage{PromptTokens: 123},
			map[string]uint64{"input_cost_per_token": 123}},
	} {
		want := fileCost(tc.model, tc.counts)
		if got := tab.Cost(tc.model, tc.u); !want.IsUint64() || got != want.Uint64() {
			t.Errorf("%s %+v: charged %d µ$, the file's rates give %s", tc.model, tc.u, got, want)
		}
	}
}

// TestParseLiteLLMBadFiles: every bad file is refused with an error naming what is
// wrong (the entry when one is at fault), and no table.
func TestParseLiteLLMBadFiles(t *testing.T) {
	ok := `"gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05}`
	for _, tc := range []struct {
		name, file, want string
	}{
		{"empty", ``, "not a JSON object"},
		{"array", `[1, 2]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"truncated", `{` + ok, "not a JSON object"},
		{"trailing data", `{` + ok + `} {}`, "data after"},
		{"no priced model", `{"x": {"mode": "image_generation", "output_cost_per_image": 0.04}}`, "prices no model"},
		{"entry not an object", `{` + ok + `, "bad-model": 3}`, `"bad-model": not a JSON object`},
		{"rate a string", `{` + ok + `, "m": {"input_cost_per_token": "2.5e-06"}}`, `"m": input_cost_per_token: "2.5e-06": not a JSON number`},
		{"rate a bool", `{"m": {"output_cost_per_token": true}, ` + ok + `}`, `"m": output_cost_per_token: true`},
		{"negative rate", `{` + ok + `, "m": {"cache_read_input_token_cost": -1e-07}}`, `"m": cache_read_input_token_cost: -1e-07: negative`},
		{"negative tier", `{` + ok + `, "m": {"input_cost_per_token_above_200k_tokens": -1}}`, `"m": input_cost_per_token_above_200k_tokens`},
		{"rate too large", `{` + ok + `, "m": {"input_cost_per_token": 1e30}}`, `"m": input_cost_per_token: 1e30: too large`},
		{"bad 1h rate in a skipped entry", `{` + ok + `, "img": {"mode": "image_generation", "cache_creation_input_token_cost_above_1hr": {}}}`, `"img": cache_creation_input_token_cost_above_1hr`},
		{"mode not a string", `{` + ok + `, "m": {"mode": 1}}`, `"m": mode: not a string`},
	} {
		tab, err := price.ParseLiteLLM(strings.NewReader(tc.file))
		if err == nil || tab != nil {
			t.Errorf("%s: got %v, %v; want an error", tc.name, tab, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.want)
		}
	}
	if _, err := price.ParseLiteLLM(nil); err == nil {
		t.Error("nil reader: no error")
	}
	readErr := errors.New("disk on fire")
	if _, err := price.ParseLiteLLM(iotest.ErrReader(readErr)); !errors.Is(err, readErr) {
		t.Errorf("read error: %v, want it wrapped", err)
	}
	big := strings.NewReader(`{"m": {"x": "` + strings.Repeat("a", 64<<20) + `"}}`)
	if _, err := price.ParseLiteLLM(big); err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Errorf("65 MiB file: %v", err)
	}
}

// TestParseLiteLLMLeniency: what the format allows is accepted: nulls, unknown
// fields and modes, other thresholds, integers, no mode at all.
func TestParseLiteLLMLeniency(t *testing.T) {
	tab, err := price.ParseLiteLLM(strings.NewReader(`{
		"a": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "cache_read_input_token_cost": null,
		      "input_cost_per_token_above_128k_tokens": 2e-06, "input_cost_per_token_above_200k_tokens_priority": "x",
		      "input_cost_per_character_above_128k_tokens": "x", "output_cost_per_token_above_272k_tokens": 4e-06,
		      "input_cost_per_token_above_0200k_tokens": "ignored: not one spelling", "anything": [1, {"b": null}]},
		"b": {"input_cost_per_token": 0, "output_cost_per_token": 1},
		"c": {"mode": "rerank", "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
		"d": {"mode": "embedding", "input_cost_per_token": 1e-07}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := price.Table{
		"a": {Rates: price.Rates{Input: 1_000_000, Output: 2_000_000}, Tiers: []price.Tier{
			{Above: 128_000, Rates: price.Rates{Input: 2_000_000}},
			{Above: 272_000, Rates: price.Rates{Output: 4_000_000}},
		}},
		"d": {Rates: price.Rates{Input: 100_000}},
	}
	if !reflect.DeepEqual(tab, want) {
		t.Errorf("got %+v\nwant %+v", tab, want)
	}
}

// renderLiteLLM writes t back in LiteLLM's format, each rate as an exact decimal.
func renderLiteLLM(t price.Table) []byte {
	dec := func(v uint64) string { return fmt.Sprintf("%de-12", v) }
	fields := func(prefix string, r price.Rates, suffix string, m map[string]string) {
		for f, v := range map[string]uint64{"input_cost_per_token": r.Input, "output_cost_per_token": r.Output,
			"cache_read_input_token_cost": r.CacheRead, "cache_creation_input_token_cost": r.CacheWrite,
			"cache_creation_input_token_cost_above_1hr": r.CacheWrite1h} {
			if v != 0 {
				m[prefix+f+suffix] = dec(v)
			}
		}
	}
	var b bytes.Buffer
	b.WriteString("{")
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	slices.Sort(names)
	for i, name := range names {
		p := t[name]
		m := map[string]string{}
		fields("", p.Rates, "", m)
		for _, tier := range p.Tiers {
			fields("", tier.Rates, fmt.Sprintf("_above_%dk_tokens", tier.Above/1000), m)
		}
		if p.Output == 0 {
			m["mode"] = `"embedding"`
		}
		if i > 0 {
			b.WriteString(",")
		}
		q, _ := json.Marshal(name)
		b.Write(q)
		b.WriteString(":{")
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for j, k := range keys {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%q:%s", k, m[k])
		}
		b.WriteString("}")
	}
	b.WriteString("}")
	return b.Bytes()
}

// FuzzParseLiteLLM: any input is parsed or refused, never a panic; a table it gives
// has only priced models (a non-zero input rate), and written back in the same
// format it parses to the same table.
func FuzzParseLiteLLM(f *testing.F) {
	f.Add(readExcerpt(f))
	f.Add([]byte(`{"m": {"input_cost_per_token": 1e-13, "output_cost_per_token": 1, "input_cost_per_token_above_1k_tokens": 0.5}}`))
	f.Add([]byte(`{"m": {"mode": "embedding", "input_cost_per_token": 6.25e-09}, "n": null}`))
	f.Add([]byte(`{"m": {"input_cost_per_token": -0, "output_cost_per_token": 18446744.073709551615}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := price.ParseLiteLLM(bytes.NewReader(data))
		if err != nil {
			if tab != nil {
				t.Fatalf("error %v with a table", err)
			}
			return
		}
		for name, p := range tab {
			if p.Input == 0 {
				t.Fatalf("%q: priced with a zero input rate", name)
			}
			for _, tier := range p.Tiers {
				if tier.Above%1000 != 0 {
					t.Fatalf("%q: threshold %d", name, tier.Above)
				}
			}
		}
		again, err := price.ParseLiteLLM(bytes.NewReader(renderLiteLLM(tab)))
		if err != nil || !reflect.DeepEqual(again, tab) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, again, tab)
		}
	})
}
