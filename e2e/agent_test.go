package e2e

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// jaeger returns the OTLP and query base URLs of the Jaeger started by scripts/e2e.sh.
func jaeger(t *testing.T) (otlp, query string) {
	t.Helper()
	v := needEnv(t, "a Jaeger", "SPENDGUARD_JAEGER_OTLP", "SPENDGUARD_JAEGER_QUERY")
	return v[0], v[1]
}

// needEnv returns the values of the environment variables that name a service the
// test needs (scripts/e2e.sh, run by make test, sets them all). When one is empty the
// test fails under SPENDGUARD_REQUIRE_SERVICES=1 and is skipped otherwise, naming the
// variable.
func needEnv(t *testing.T, service string, vars ...string) []string {
	t.Helper()
	vals := make([]string, len(vars))
	for i, name := range vars {
		vals[i] = os.Getenv(name)
		if vals[i] != "" {
			continue
		}
		if os.Getenv("SPENDGUARD_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is empty but SPENDGUARD_REQUIRE_SERVICES=1: the test needs %s", name, service)
		}
		t.Skipf("%s is empty: the test needs %s (scripts/e2e.sh, run by make test, sets it)", name, service)
	}
	return vals
}

// agentReport is the part of the example's -json report the test reads.
type agentReport struct {
	Model   string `json:"model"`
	Service string `json:"service"`
	TraceID string `json:"trace_id"`
	Calls   []struct {
		Call             int    `json:"call"`
		Reserved         uint64 `json:"reserved"`
		PromptTokens     uint64 `json:"prompt_tokens"`
		CompletionTokens uint64 `json:"completion_tokens"`
		UsageSource      string `json:"usage_source"`
		Denied           bool   `json:"denied"`
	} `json:"calls"`
	Denial *struct {
		Budget string `json:"budget"`
	} `json:"denial"`
	ToolCalls   int    `json:"tool_calls"`
	Prompt      uint64 `json:"prompt_tokens"`
	Completion  uint64 `json:"completion_tokens"`
	Budget      string `json:"budget"`
	Capacity    uint64 `json:"capacity"`
	Consumed    uint64 `json:"consumed"`
	Remaining   uint64 `json:"remaining"`
	ExportError string `json:"export_error"`
}

// buildAgent builds ../examples/agent in the root module (its own dependency
// versions, not this module's).
func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agent")
	cmd := exec.Command("go", "build", "-o", bin, "./examples/agent")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the example: %v\n%s", err, out)
	}
	return bin
}

// cleanEnv is the test's environment without any OTEL_* variable, so that only what
// the test sets reaches the example's SDK.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	return env
}

// runAgent runs the built example with args, exporting to the OTLP endpoint otlp as a
// service of its own (prefix and random hex, returned) with env added, and returns
// what it printed; a run that fails fails the test.
func runAgent(ctx context.Context, t *testing.T, bin, otlp, prefix string, env []string, args ...string) (service string, stdout *bytes.Buffer) {
	t.Helper()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	service = prefix + hex.EncodeToString(rnd[:])
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(cleanEnv(),
		"OTEL_EXPORTER_OTLP_ENDPOINT="+otlp,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_SERVICE_NAME="+service,
	), env...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("agent: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	return service, &out
}

func TestAgentTraceInJaeger(t *testing.T) {
	otlp, query := jaeger(t)
	bin := buildAgent(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	service, stdout := runAgent(ctx, t, bin, otlp, "spendguard-e2e-", []string{"OTEL_TRACES_SAMPLER=always_on"}, "-json")
	var rep agentReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("agent -json: %v\n%s", err, stdout.String())
	}
	if rep.Service != service || len(rep.TraceID) != 32 || rep.ExportError != "" {
		t.Fatalf("agent exported trace %q of service %q (export error %q); want service %q", rep.TraceID, rep.Service, rep.ExportError, service)
	}
	if rep.Denial == nil || len(rep.Calls) < 2 || !rep.Calls[len(rep.Calls)-1].Denied {
		t.Fatalf("the run did not end with a denied model call: %s", stdout.String())
	}
	// One span for the run, one per model call (the denied one included), one per
	// tool dispatch.
	want := 1 + len(rep.Calls) + rep.ToolCalls

	tr := pollTrace(ctx, t, query, service, want)
	if tr.TraceID != rep.TraceID {
		t.Errorf("Jaeger's trace %s, the agent's %s", tr.TraceID, rep.TraceID)
	}
	if p, ok := tr.Processes[tr.Spans[0].ProcessID]; !ok || p.ServiceName != service {
		t.Errorf("span process %+v, want service %q", p, service)
	}

	var root *span
	var chats, toolSpans []*span
	for i := range tr.Spans {
		s := &tr.Spans[i]
		switch {
		case s.OperationName == "invoke_agent spendguard-demo":
			root = s
		case s.OperationName == "chat "+rep.Model:
			chats = append(chats, s)
		case strings.HasPrefix(s.OperationName, "execute_tool "):
			toolSpans = append(toolSpans, s)
		default:
			t.Errorf("unexpected span %q", s.OperationName)
		}
	}
	if root == nil || len(chats) != len(rep.Calls) || len(toolSpans) != rep.ToolCalls {
		t.Fatalf("trace has run span %v, %d chat spans, %d tool spans; want one, %d and %d",
			root != nil, len(chats), len(toolSpans), len(rep.Calls), rep.ToolCalls)
	}
	for _, s := range append(slices.Clone(chats), toolSpans...) {
		if s.parent() != root.SpanID {
			t.Errorf("span %q (%s) has parent %q, want the run's span %s", s.OperationName, s.SpanID, s.parent(), root.SpanID)
		}
	}

	slices.SortFunc(chats, func(a, b *span) int { return cmp.Compare(a.StartTime, b.StartTime) })
	var sumIn, sumOut uint64
	for i, c := range rep.Calls {
		s := chats[i]
		if got := s.tag("span.kind"); got != "client" {
			t.Errorf("chat span %d: span.kind %v, want client", i+1, got)
		}
		if c.Denied {
			if got := s.tag("error.type"); got != "budget_denied" {
				t.Errorf("denied call %d: error.type %v, want budget_denied", i+1, got)
			}
			if got := s.tag("spendguard.budget.denied"); got != true {
				t.Errorf("denied call %d: spendguard.budget.denied %v", i+1, got)
			}
			if s.tag("gen_ai.usage.input_tokens") != nil {
				t.Errorf("denied call %d carries usage: it was never sent", i+1)
			}
			continue
		}
		if c.UsageSource != "reported" {
			t.Errorf("call %d: usage %s, the scripted server reports every call's", i+1, c.UsageSource)
		}
		in, out := s.intTag(t, "gen_ai.usage.input_tokens"), s.intTag(t, "gen_ai.usage.output_tokens")
		if in != c.PromptTokens || out != c.CompletionTokens {
			t.Errorf("chat span %d: usage %d in + %d out; the scripted server reported %d + %d", i+1, in, out, c.PromptTokens, c.CompletionTokens)
		}
		if got := s.intTag(t, "spendguard.reserved.tokens"); got != c.Reserved {
			t.Errorf("chat span %d: reserved %d, the agent printed %d", i+1, got, c.Reserved)
		}
		if s.tag("error.type") != nil {
			t.Errorf("chat span %d: error.type %v on a call that went through", i+1, s.tag("error.type"))
		}
		sumIn += in
		sumOut += out
	}
	if sumIn != rep.Prompt || sumOut != rep.Completion || sumIn+sumOut != rep.Consumed {
		t.Errorf("spans add up to %d + %d tokens; the agent reported %d + %d and consumed %d", sumIn, sumOut, rep.Prompt, rep.Completion, rep.Consumed)
	}
	for _, s := range toolSpans {
		name := strings.TrimPrefix(s.OperationName, "execute_tool ")
		if !slices.Contains([]string{"word_count", "calculator", "clock"}, name) {
			t.Errorf("tool span for unknown tool %q", name)
		}
		if s.tag("error.type") != nil {
			t.Errorf("tool span %s: error.type %v", name, s.tag("error.type"))
		}
	}
	if got := root.tag("error.type"); got != "budget_denied" {
		t.Errorf("run span: error.type %v, want budget_denied", got)
	}
	// The library's run span (otel.StartRun): its totals are its chat spans' sums, and
	// its budget attributes the run's summary.
	sent := uint64(0)
	for _, c := range rep.Calls {
		if !c.Denied {
			sent++
		}
	}
	if got := root.tag("gen_ai.operation.name"); got != "invoke_agent" {
		t.Errorf("run span: gen_ai.operation.name %v, want invoke_agent", got)
	}
	for key, want := range map[string]uint64{
		"gen_ai.usage.input_tokens":      sumIn,
		"gen_ai.usage.output_tokens":     sumOut,
		"spendguard.run.calls.sent":      sent,
		"spendguard.run.calls.denied":    uint64(len(rep.Calls)) - sent,
		"spendguard.run.budget.limit":    rep.Capacity,
		"spendguard.run.budget.consumed": rep.Consumed,
	} {
		if got := root.intTag(t, key); got != want {
			t.Errorf("run span: %s = %d, want %d (the sum of its chat spans, or the run's summary)", key, got, want)
		}
	}
	if got := root.tag("spendguard.run.budget.name"); got != rep.Budget {
		t.Errorf("run span: spendguard.run.budget.name %v, want %q", got, rep.Budget)
	}
}

// TestStuckAgentTraceInJaeger: with -scenario stuck the loop guard ends the run; the
// refused call's span says why (error.type loop_detected, the tool, the repeats), and
// so does the run's span.
func TestStuckAgentTraceInJaeger(t *testing.T) {
	otlp, query := jaeger(t)
	bin := buildAgent(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	service, stdout := runAgent(ctx, t, bin, otlp, "spendguard-e2e-stuck-", []string{"OTEL_TRACES_SAMPLER=always_on"}, "-json", "-scenario", "stuck")
	var rep struct {
		agentReport
		StoppedBy string `json:"stopped_by"`
		Loop      *struct {
			Tool    string `json:"tool"`
			Repeats int    `json:"repeats"`
		} `json:"loop"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("agent -json: %v\n%s", err, stdout.String())
	}
	if rep.StoppedBy != "loop" || rep.Loop == nil || rep.Loop.Repeats != 3 || len(rep.Calls) != 4 || rep.ToolCalls != 3 {
		t.Fatalf("the run did not end with a loop stop after 3 rounds: %s", stdout.String())
	}
	tr := pollTrace(ctx, t, query, service, 1+len(rep.Calls)+rep.ToolCalls)
	var root *span
	var chats []*span
	for i := range tr.Spans {
		switch s := &tr.Spans[i]; s.OperationName {
		case "invoke_agent spendguard-demo":
			root = s
		case "chat " + rep.Model:
			chats = append(chats, s)
		}
	}
	if root == nil || len(chats) != 4 {
		t.Fatalf("run span %v, %d chat spans; want one and 4", root != nil, len(chats))
	}
	slices.SortFunc(chats, func(a, b *span) int { return cmp.Compare(a.StartTime, b.StartTime) })
	refused := chats[3]
	if refused.tag("error.type") != "loop_detected" || refused.tag("spendguard.loop.tool") != rep.Loop.Tool ||
		refused.intTag(t, "spendguard.loop.repeats") != 3 || refused.tag("gen_ai.usage.input_tokens") != nil {
		t.Errorf("refused call's span: error.type %v, loop tool %v, usage %v", refused.tag("error.type"),
			refused.tag("spendguard.loop.tool"), refused.tag("gen_ai.usage.input_tokens"))
	}
	for i, s := range chats[:3] {
		if s.tag("error.type") != nil {
			t.Errorf("chat span %d: error.type %v on a call that went through", i+1, s.tag("error.type"))
		}
	}
	if got := root.tag("error.type"); got != "loop_detected" {
		t.Errorf("run span: error.type %v, want loop_detected", got)
	}
}

// Jaeger's query API (/api/traces), the fields the test reads.
type traceDoc struct {
	TraceID   string `json:"traceID"`
	Spans     []span `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type span struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64 `json:"startTime"`
	Tags      []struct {
		Key   string `json:"key"`
		Type  string `json:"type"`
		Value any    `json:"value"`
	} `json:"tags"`
	ProcessID string `json:"processID"`
}

func (s *span) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// tag is the tag's value (string, bool, or json.Number), nil when absent.
func (s *span) tag(key string) any {
	for _, kv := range s.Tags {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

func (s *span) intTag(t *testing.T, key string) uint64 {
	t.Helper()
	n, ok := s.tag(key).(json.Number)
	if !ok {
		t.Errorf("span %q: tag %s is %v, want a number", s.OperationName, key, s.tag(key))
		return 0
	}
	var v uint64
	if _, err := fmt.Sscan(n.String(), &v); err != nil {
		t.Errorf("span %q: tag %s = %s: %v", s.OperationName, key, n, err)
	}
	return v
}

// pollTrace asks Jaeger for the service's traces until one holds want spans (span
// batches may land a little apart), or fails when ctx ends first.
func pollTrace(ctx context.Context, t *testing.T, query, service string, want int) traceDoc {
	t.Helper()
	u := query + "/api/traces?" + url.Values{"service": {service}, "limit": {"20"}, "lookback": {"1h"}}.Encode()
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	last := "nothing yet"
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		docs, err := getTraces(ctx, client, u)
		switch {
		case err != nil:
			last = err.Error()
		case len(docs) > 1:
			t.Fatalf("service %s has %d traces, want one", service, len(docs))
		case len(docs) == 1 && len(docs[0].Spans) >= want:
			if len(docs[0].Spans) > want {
				t.Fatalf("trace has %d spans, want %d", len(docs[0].Spans), want)
			}
			return docs[0]
		case len(docs) == 1:
			last = fmt.Sprintf("trace %s with %d of %d spans", docs[0].TraceID, len(docs[0].Spans), want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete trace of service %s in Jaeger after 30s; last: %s", service, last)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for the trace: %v; last: %s", ctx.Err(), last)
		case <-time.After(wait):
		}
	}
}

func getTraces(ctx context.Context, client *http.Client, u string) ([]traceDoc, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil // Jaeger answers 404 until the service has traces
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	var body struct {
		Data []traceDoc `json:"data"`
	}
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", u, err)
	}
	return body.Data, nil
}
