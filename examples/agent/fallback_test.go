package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spendguard/spendguard/llmwrap"
)

// runJSON runs the scripted agent with -json and args and returns its report and the
// models the server was asked for, in order.
func runJSON(t *testing.T, args ...string) (report, []string) {
	t.Helper()
	out, rec, err := runScripted(t, append([]string{"-json"}, args...)...)
	if err != nil {
		t.Fatalf("run %q: %v\n%s", args, err, out)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-json output is not one JSON report: %v\n%s", err, out)
	}
	var models []string
	for _, r := range rec.hook.Server.Requests() {
		models = append(models, r.Model)
	}
	return rep, models
}

// TestFallbackGetsFurther: with the same money budget, -fallback keeps the agent going
// on the cheap model after the expensive one no longer fits, and is denied only when
// even the cheap one does not; every call is charged at the price of the model that
// answered it.
func TestFallbackGetsFurther(t *testing.T) {
	plain, plainModels := runJSON(t, "-money")
	fb, fbModels := runJSON(t, "-fallback")
	if plain.Unit != "micro-USD" || fb.Unit != "micro-USD" || fb.Capacity != moneyBudget || fb.Fallback != smallModel {
		t.Fatalf("reports: %+v / %+v", plain, fb)
	}
	for _, m := range plainModels {
		if m != largeModel {
			t.Fatalf("without -fallback the server was asked for %q", m)
		}
	}
	if fb.Sent <= plain.Sent {
		t.Fatalf("-fallback sent %d calls, without it %d: it should get further", fb.Sent, plain.Sent)
	}

	var sent []string
	switched := false
	for i, c := range fb.Calls {
		if c.Denied {
			if i != len(fb.Calls)-1 {
				t.Fatalf("call %d denied before the end", c.Call)
			}
			if c.Model != smallModel || c.FallbackFrom != largeModel {
				t.Errorf("the denial is on %q (from %q), want the cheap model, tried after the expensive one", c.Model, c.FallbackFrom)
			}
			continue
		}
		sent = append(sent, c.Model)
		switch c.Model {
		case largeModel:
			if switched {
				t.Errorf("call %d went back to %s", c.Call, largeModel)
			}
			if c.FallbackFrom != "" {
				t.Errorf("call %d on the primary says it fell back from %q", c.Call, c.FallbackFrom)
			}
		case smallModel:
			switched = true
			if c.FallbackFrom != largeModel {
				t.Errorf("call %d on %s: fallback_from %q", c.Call, smallModel, c.FallbackFrom)
			}
		default:
			t.Errorf("call %d on %q", c.Call, c.Model)
		}
		want := scriptedPrices[c.Model].Cost(llmwrap.Usage{PromptTokens: c.PromptTokens, CompletionTokens: c.CompletionTokens})
		if c.Charged != want {
			t.Errorf("call %d on %s charged %d, its price is %d", c.Call, c.Model, c.Charged, want)
		}
	}
	if !switched || sent[0] != largeModel {
		t.Fatalf("calls went to %q: want the expensive model first, then the cheap one", sent)
	}
	if strings.Join(sent, ",") != strings.Join(fbModels, ",") {
		t.Errorf("the report says %q, the server saw %q", sent, fbModels)
	}
	if fb.FellBack != len(sent)-strings.Count(strings.Join(sent, ","), largeModel) {
		t.Errorf("fell_back %d for %q", fb.FellBack, sent)
	}
	d := fb.Denial
	if d == nil || d.Requested <= d.Remaining {
		t.Fatalf("denial %+v: want one that did not fit", d)
	}
	if last := fb.Calls[len(fb.Calls)-1]; last.Estimated != d.Requested {
		t.Errorf("the denied call estimated %d on %s, the denial requested %d", last.Estimated, last.Model, d.Requested)
	}
}

func TestFallbackLinesShowTheSwitch(t *testing.T) {
	out, _, err := runScripted(t, "-fallback")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"budget \"agent\" of 60000 micro-USD",
		"Made-up prices per million tokens: scripted-large $10.00 in, $30.00 out; scripted-small $1.00 in, $3.00 out.",
		"µ$  [#---------]   6%\n", // a call on scripted-large: no note
		"%  fell back\n",
		"DENIED on scripted-small (fell back from scripted-large), not sent",
		"micro-USD even on scripted-small, but budget",
		"fell back to scripted-small when scripted-large no longer fitted.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}
