package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"
)

// ragReport is the part of the example's -json report TestRAGTraceInJaeger reads.
type ragReport struct {
	Service   string `json:"service"`
	TraceID   string `json:"trace_id"`
	StoppedBy string `json:"stopped_by"`
	Calls     []struct {
		Model        string `json:"model"`
		Operation    string `json:"operation"`
		Reserved     uint64 `json:"reserved"`
		Charged      uint64 `json:"charged"`
		PromptTokens uint64 `json:"prompt_tokens"`
		UsageSource  string `json:"usage_source"`
		Denied       bool   `json:"denied"`
	} `json:"calls"`
}

// TestRAGTraceInJaeger: a -scenario rag run exports an `embeddings {model}` span per
// embedding batch (gen_ai.operation.name=embeddings) with the spend attributes the
// example printed, under the run's span; a run whose budget is too small for the
// second batch exports that batch's span as a denial, with no usage.
func TestRAGTraceInJaeger(t *testing.T) {
	otlp, query := jaeger(t)
	bin := buildAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	run := func(prefix string, args ...string) (ragReport, []*span, *span) {
		t.Helper()
		service, stdout := runAgent(ctx, t, bin, otlp, prefix, []string{"OTEL_TRACES_SAMPLER=always_on"},
			append([]string{"-json", "-scenario", "rag"}, args...)...)
		var rep ragReport
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("agent -json: %v\n%s", err, stdout.String())
		}
		if rep.Service != service || len(rep.TraceID) != 32 {
			t.Fatalf("agent exported trace %q of service %q; want service %q", rep.TraceID, rep.Service, service)
		}
		tr := pollTrace(ctx, t, query, service, 1+len(rep.Calls)) // the run, and each call (no tool runs)
		var root *span
		var embeds []*span
		for i := range tr.Spans {
			s := &tr.Spans[i]
			switch {
			case s.OperationName == "invoke_agent spendguard-demo":
				root = s
			case s.tag("gen_ai.operation.name") == "embeddings":
				embeds = append(embeds, s)
			}
		}
		if root == nil {
			t.Fatal("no run span")
		}
		slices.SortFunc(embeds, func(a, b *span) int { return cmp.Compare(a.StartTime, b.StartTime) })
		return rep, embeds, root
	}

	rep, embeds, root := run("spendguard-e2e-rag-")
	if rep.StoppedBy != "finished" || len(rep.Calls) != 5 || len(embeds) != 4 {
		t.Fatalf("stopped by %q after %d calls, %d embeddings spans; want finished, 5 calls, 4 embeddings spans", rep.StoppedBy, len(rep.Calls), len(embeds))
	}
	for i, s := range embeds {
		c := rep.Calls[i]
		if c.Operation != "embeddings" || s.OperationName != "embeddings "+c.Model || s.parent() != root.SpanID {
			t.Errorf("span %d %q (parent %s) for call %+v; want `embeddings %s` under the run's span %s", i+1, s.OperationName, s.parent(), c, c.Model, root.SpanID)
		}
		if s.tag("span.kind") != "client" || s.tag("spendguard.usage.source") != "estimated" || s.tag("error.type") != nil {
			t.Errorf("span %d: span.kind %v, usage source %v, error.type %v; want client, estimated, none", i+1, s.tag("span.kind"), s.tag("spendguard.usage.source"), s.tag("error.type"))
		}
		if in, res, ch := s.intTag(t, "gen_ai.usage.input_tokens"), s.intTag(t, "spendguard.reserved.tokens"), s.intTag(t, "spendguard.charged.tokens"); in != c.PromptTokens || res != c.Reserved || ch != c.Charged || ch == 0 {
			t.Errorf("span %d: %d input tokens, reserved %d, charged %d; the agent printed %d, %d, %d", i+1, in, res, ch, c.PromptTokens, c.Reserved, c.Charged)
		}
	}

	rep, embeds, _ = run("spendguard-e2e-rag-denied-", "-budget", strconv.FormatUint(rep.Calls[0].Charged+1, 10))
	if rep.StoppedBy != "budget" || len(rep.Calls) != 2 || !rep.Calls[1].Denied || len(embeds) != 2 {
		t.Fatalf("stopped by %q after %d calls, %d embeddings spans; want the budget at the second batch", rep.StoppedBy, len(rep.Calls), len(embeds))
	}
	d := embeds[1]
	if d.tag("spendguard.budget.denied") != true || d.tag("error.type") != "budget_denied" || d.tag("gen_ai.usage.input_tokens") != nil {
		t.Errorf("denied batch's span: denied %v, error.type %v, usage %v; want a denial with no usage",
			d.tag("spendguard.budget.denied"), d.tag("error.type"), d.tag("gen_ai.usage.input_tokens"))
	}
}
