package main

import (
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spendguard/spendguard/llmwrap"
)

// liteLLMFile is the price package's excerpt of LiteLLM's price file, entries copied
// verbatim (see its README for the commit and licence).
const liteLLMFile = "../../price/testdata/model_prices_excerpt.json"

// fileRate reads one rate of model from the file as the exact rational its decimal
// text says, USD per token, independently of price.ParseLiteLLM.
func fileRate(t *testing.T, model, field string) *big.Rat {
	t.Helper()
	data, err := os.ReadFile(liteLLMFile)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	r, ok := new(big.Rat).SetString(string(raw[model][field]))
	if !ok {
		t.Fatalf("%s: %s is %q in the file", model, field, raw[model][field])
	}
	return r
}

// TestPricesFileChargesItsRates: with -money -prices FILE -model M, the scripted
// server answers as M, and every call is charged exactly what the file's rates give
// for the counts the server reported, rounded up to a micro-dollar, for an OpenAI,
// an Anthropic and a Gemini model.
func TestPricesFileChargesItsRates(t *testing.T) {
	for _, model := range []string{"gpt-4o", "claude-sonnet-4-5-20250929", "gemini/gemini-2.5-pro"} {
		t.Run(strings.ReplaceAll(model, "/", "_"), func(t *testing.T) {
			inRate, outRate := fileRate(t, model, "input_cost_per_token"), fileRate(t, model, "output_cost_per_token")
			out, rec, err := runScripted(t, "-json", "-money", "-prices", liteLLMFile, "-model", model)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			var rep report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("-json: %v\n%s", err, out)
			}
			if rep.StoppedBy != stoppedByBudget || rep.Unit != "micro-USD" || rep.Model != model {
				t.Fatalf("stopped by %q, unit %q, model %q; want budget, micro-USD, %s", rep.StoppedBy, rep.Unit, rep.Model, model)
			}
			for _, r := range rec.hook.Server.Requests() {
				if r.Model != model { // the server answers as the model asked for
					t.Errorf("the server was asked for model %q, want %q", r.Model, model)
				}
			}
			replies := rec.sent()
			var sent int
			var charged uint64
			for _, c := range rep.Calls {
				if !c.Sent {
					if !c.Denied || c.Charged != 0 {
						t.Errorf("call %d not sent: %+v; want a denial charging nothing", c.Call, c)
					}
					continue
				}
				u := replies[sent].Usage
				sent++
				if c.UsageSource != string(llmwrap.UsageReported) || c.PromptTokens != uint64(u.Prompt) || c.CompletionTokens != uint64(u.Completion) {
					t.Fatalf("call %d: %s usage %d + %d, the server reported %d + %d", c.Call, c.UsageSource, c.PromptTokens, c.CompletionTokens, u.Prompt, u.Completion)
				}
				cost := new(big.Rat).Mul(inRate, new(big.Rat).SetInt64(int64(u.Prompt)))
				cost.Add(cost, new(big.Rat).Mul(outRate, new(big.Rat).SetInt64(int64(u.Completion))))
				cost.Mul(cost, big.NewRat(1_000_000, 1)) // micro-USD
				want, rem := new(big.Int).QuoRem(cost.Num(), cost.Denom(), new(big.Int))
				if rem.Sign() != 0 {
					want.Add(want, big.NewInt(1))
				}
				if !want.IsUint64() || c.Charged != want.Uint64() {
					t.Errorf("call %d: %d in + %d out charged %d µ$; the file's rates give %s (%s exactly)", c.Call, u.Prompt, u.Completion, c.Charged, want, cost.FloatString(6))
				}
				charged += c.Charged
			}
			if sent < 3 || sent != len(replies) {
				t.Fatalf("%d calls sent, %d replies; want at least 3, one reply each", sent, len(replies))
			}
			if rep.Consumed != charged {
				t.Errorf("budget consumed %d µ$, the calls were charged %d", rep.Consumed, charged)
			}
		})
	}
}

// TestBadPricesFile: a price file that cannot be read or parsed, or does not price
// -model, and -prices without what it needs, fail with an error naming the problem
// before the scripted server is started.
func TestBadPricesFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"gpt-4o": {"input_cost_per_token": "2.5e-06"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(dir, "truncated.json")
	if err := os.WriteFile(notJSON, []byte(`{"gpt-4o": {"input_cost_per_token": 2.5e-06,`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-money", "-prices", filepath.Join(dir, "missing.json"), "-model", "gpt-4o"}, "missing.json: no such file"},
		{[]string{"-money", "-prices", bad, "-model", "gpt-4o"}, `LiteLLM entry "gpt-4o": input_cost_per_token: "2.5e-06": not a JSON number`},
		{[]string{"-money", "-prices", notJSON, "-model", "gpt-4o"}, "not a JSON object of model entries"},
		{[]string{"-money", "-prices", liteLLMFile, "-model", "gpt-5"}, `-model "gpt-5" has no price in`},
		{[]string{"-money", "-prices", liteLLMFile, "-model", "1024-x-1024/dall-e-2"}, "has no price in"},
		{[]string{"-money", "-prices", liteLLMFile}, "-prices needs -model"},
		{[]string{"-prices", liteLLMFile, "-model", "gpt-4o"}, "-prices is for -money"},
		{[]string{"-fallback", "-prices", liteLLMFile, "-model", "gpt-4o"}, "-fallback is for the made-up prices"},
	} {
		out, rec, err := runScripted(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want one containing %q", tc.args, err, tc.want)
		}
		if rec.hook != nil || out != "" {
			t.Errorf("%q: the run started (server %v) and printed %q", tc.args, rec.hook != nil, out)
		}
	}
}
