package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"

	"github.com/spendguard/spendguard/internal/providertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var fixedNow = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

// recorder wraps the example's script and keeps every reply the server sent.
type recorder struct {
	mu      sync.Mutex
	replies []providertest.Reply
	hook    *scriptHook
}

func (r *recorder) wrap(h *scriptHook) {
	r.hook = h
	next := h.Script
	h.Script = func(req providertest.Request) providertest.Reply {
		rep := next(req)
		r.mu.Lock()
		r.replies = append(r.replies, rep)
		r.mu.Unlock()
		return rep
	}
}

func (r *recorder) sent() []providertest.Reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]providertest.Reply(nil), r.replies...)
}

// runScripted runs the example offline with args; OTEL variables are hidden, so no
// export is attempted whatever the developer's environment holds.
func runScripted(t *testing.T, args ...string) (string, *recorder, error) {
	t.Helper()
	rec := &recorder{}
	var out, errOut bytes.Buffer
	e := env{getenv: func(string) string { return "" }, stderr: &errOut, now: fixedNow, scripted: rec.wrap}
	err := runWith(context.Background(), args, &out, e)
	if errOut.Len() > 0 {
		t.Logf("stderr:\n%s", errOut.String())
	}
	return unwrap(out.String()), rec, err
}

var (
	callLine    = regexp.MustCompile(`(?m)^call +(\d+) +(\d+) `)
	summaryLine = regexp.MustCompile(`(?m)^Summary: (\d+) model calls sent, (\d+) denied, (\d+) tool calls\. Reported usage (\d+) tokens \((\d+) prompt \+ (\d+) completion\)`)
)

// unwrap joins the lines the output broke to fit 100 columns (wrapped), so that
// tests read each sentence whole.
func unwrap(out string) string { return strings.ReplaceAll(out, "\n  ", " ") }

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestScriptedRunStopsOnDenial(t *testing.T) {
	out, rec, err := runScripted(t)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	replies := rec.sent()
	reqs := rec.hook.Server.Requests()
	if len(replies) < 2 || len(reqs) != len(replies) {
		t.Fatalf("the server answered %d requests with %d replies; want at least 2, one reply each\n%s", len(reqs), len(replies), out)
	}

	calls := callLine.FindAllStringSubmatch(out, -1)
	if len(calls) != len(replies)+1 {
		t.Fatalf("%d call lines for %d calls sent and 1 denied:\n%s", len(calls), len(replies), out)
	}
	for i, c := range calls {
		if atoi(t, c[1]) != i+1 {
			t.Fatalf("call line %d is numbered %s:\n%s", i+1, c[1], out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last string
	for _, l := range lines {
		if strings.HasPrefix(l, "call ") {
			last = l
		}
	}
	if !strings.Contains(last, "DENIED") {
		t.Errorf("the last call line is not the denial: %q", last)
	}
	if !strings.Contains(out, "\nDenied: call "+strconv.Itoa(len(calls))+" would need about ") {
		t.Errorf("no denial in plain words:\n%s", out)
	}
	// The calls that went through carry a bar; usage lines name what was reported.
	if n := strings.Count(out, "] "); n != len(replies) {
		t.Errorf("%d budget bars for %d calls sent:\n%s", n, len(replies), out)
	}

	var prompt, completion int
	for _, r := range replies {
		prompt += r.Usage.Prompt
		completion += r.Usage.Completion
	}
	m := summaryLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary:\n%s", out)
	}
	if got := atoi(t, m[1]); got != len(replies) {
		t.Errorf("summary: %d calls sent, the server saw %d", got, len(replies))
	}
	if got := atoi(t, m[2]); got != 1 {
		t.Errorf("summary: %d denied, want 1", got)
	}
	if got := atoi(t, m[3]); got != len(replies) { // one tool call per answer
		t.Errorf("summary: %d tool calls, the model asked for %d", got, len(replies))
	}
	if atoi(t, m[5]) != prompt || atoi(t, m[6]) != completion || atoi(t, m[4]) != prompt+completion {
		t.Errorf("summary reports %s (%s + %s) tokens; the server sent %d (%d + %d)", m[4], m[5], m[6], prompt+completion, prompt, completion)
	}
}

func TestJSONReportMatchesServer(t *testing.T) {
	out, rec, err := runScripted(t, "-json", "-budget", "4000")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-json output is not one JSON report: %v\n%s", err, out)
	}
	replies := rec.sent()
	if len(rep.Calls) != len(replies)+1 || !rep.Calls[len(rep.Calls)-1].Denied {
		t.Fatalf("report has %d calls for %d sent; want them and a denied one last: %+v", len(rep.Calls), len(replies), rep.Calls)
	}
	var total uint64
	for i, r := range replies {
		c := rep.Calls[i]
		if c.Denied || c.UsageSource != "reported" ||
			c.PromptTokens != uint64(r.Usage.Prompt) || c.CompletionTokens != uint64(r.Usage.Completion) {
			t.Errorf("call %d: %+v; the server reported %+v", i+1, c, *r.Usage)
		}
		if c.Charged != c.PromptTokens+c.CompletionTokens {
			t.Errorf("call %d charged %d for %d reported tokens", i+1, c.Charged, c.PromptTokens+c.CompletionTokens)
		}
		total += c.Charged
		if c.Consumed != total {
			t.Errorf("call %d: budget consumed %d after it, want the running total %d", i+1, c.Consumed, total)
		}
	}
	if rep.Denial == nil || rep.Denial.Budget != "agent" || rep.Denial.Tool != "" {
		t.Fatalf("denial %+v, want the token budget's", rep.Denial)
	}
	if rep.StoppedBy != "budget" || rep.Loop != nil || rep.Scenario != "count" || rep.Agent != "functions" {
		t.Errorf("stopped by %q (loop %+v), scenario %q, agent %q; want the budget, count, functions", rep.StoppedBy, rep.Loop, rep.Scenario, rep.Agent)
	}
	if rep.Denial.Requested <= rep.Denial.Remaining {
		t.Errorf("denied %d tokens with %d left", rep.Denial.Requested, rep.Denial.Remaining)
	}
	if rep.Consumed != total || rep.Prompt+rep.Completion != total || rep.Capacity != 4000 {
		t.Errorf("consumed %d, reported %d, capacity %d; the calls charged %d of 4000", rep.Consumed, rep.Prompt+rep.Completion, rep.Capacity, total)
	}
	if want := uint64(0); total < 4000 && rep.Remaining != 4000-total || total >= 4000 && rep.Remaining != want {
		t.Errorf("remaining %d after consuming %d of 4000", rep.Remaining, total)
	}
	if rep.TraceID != "" || rep.Service != "" {
		t.Errorf("trace %q of service %q without an OTLP endpoint", rep.TraceID, rep.Service)
	}
}

func TestHardCapSendsWhatIsLeft(t *testing.T) {
	out, rec, err := runScripted(t, "-json", "-hard-cap", "-budget", "3000")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	reqs := rec.hook.Server.Requests()
	if len(reqs) == 0 || len(rep.Calls) != len(reqs)+1 {
		t.Fatalf("%d requests, %d calls reported", len(reqs), len(rep.Calls))
	}
	capped := false
	for i, req := range reqs {
		c := rep.Calls[i]
		if req.MaxTokens <= 0 || req.MaxTokens != c.MaxTokens {
			t.Errorf("call %d sent max tokens %d, reported %d", i+1, req.MaxTokens, c.MaxTokens)
		}
		if c.Reserved > c.Estimated {
			t.Errorf("call %d reserved %d of an estimate of %d", i+1, c.Reserved, c.Estimated)
		}
		capped = capped || c.Reserved < c.Estimated
	}
	if !capped {
		t.Errorf("no call was capped below its estimate: %+v", rep.Calls)
	}
	if !strings.Contains(rep.printText(t), "would need at least") {
		t.Errorf("a hard-cap denial names the smallest request")
	}
}

func (rep *report) printText(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := rep.print(&b, false); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestToolGuardEndsRun(t *testing.T) {
	out, rec, err := runScripted(t, "-tool-calls", "2", "-budget", "100000")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Denied: the run has used up its 2 tool dispatches, so the call to the clock tool was refused") {
		t.Errorf("want the third dispatch (the clock's) denied:\n%s", out)
	}
	// Three model answers asked for three tools; the third dispatch was refused.
	if n := len(rec.sent()); n != 3 {
		t.Errorf("%d model calls, want 3", n)
	}
	if !strings.Contains(out, "3 model calls sent, 0 denied, 2 tool calls.") {
		t.Errorf("summary:\n%s", out)
	}
}

func TestMaxCallsIsAnError(t *testing.T) {
	out, rec, err := runScripted(t, "-max-calls", "3", "-budget", "1000000")
	if err == nil || !strings.Contains(err.Error(), "-max-calls 3") {
		t.Fatalf("err = %v, want the budget not stopping the agent within -max-calls 3\n%s", err, out)
	}
	if n := len(rec.sent()); n != 3 {
		t.Errorf("%d model calls, want 3", n)
	}
	if !summaryLine.MatchString(out) {
		t.Errorf("no summary after an unfinished run:\n%s", out)
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-provider", "nope"}, `unknown -provider "nope"`},
		{[]string{"-provider", "openai"}, "OPENAI_API_KEY"},
		{[]string{"-provider", "anthropic"}, "ANTHROPIC_API_KEY"},
		{[]string{"-max-calls", "0"}, "-max-calls"},
		{[]string{"-window", "-1s"}, "-window"},
		{[]string{"-budget", "-3"}, "invalid value"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"-redis", "127.0.0.1:1", "-budget-name", "a{b}"}, "hash tag"},
		{[]string{"-scenario", "nope"}, `unknown -scenario "nope"`},
		{[]string{"-scenario", "stuck", "-provider", "openai"}, "-scenario is for the scripted model"},
		{[]string{"-agent", "react"}, `unknown -agent "react"`},
		{[]string{"-loop-repeats", "1"}, "-loop-repeats must be at least 2"},
		{[]string{"-fallback", "-provider", "openai"}, "-provider scripted"},
		{[]string{"-money", "-model", "gpt-4o"}, `-model "gpt-4o" has no price`},
	} {
		out, _, err := runScripted(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want one containing %q\n%s", tc.args, err, tc.want, out)
		}
	}
	if _, _, err := runScripted(t, "-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
	}
}

func TestOllamaURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "http://localhost:11434",
		"  ":                    "http://localhost:11434",
		"gpu-box":               "http://gpu-box:11434",
		"10.0.0.2:8080":         "http://10.0.0.2:8080",
		"https://ollama.local/": "https://ollama.local/",
	} {
		if got := ollamaURL(in); got != want {
			t.Errorf("ollamaURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		used, capacity uint64
		want           string
	}{
		{0, 100, "[----------]   0%"},
		{48, 100, "[#####-----]  48%"},
		{100, 100, "[##########] 100%"},
		{130, 100, "[##########] 130%"},
		{0, 0, "[##########] 100%"},
	} {
		if got := bar(tc.used, tc.capacity); got != tc.want {
			t.Errorf("bar(%d, %d) = %q, want %q", tc.used, tc.capacity, got, tc.want)
		}
	}
}

// TestOTLPExportFlushesOnExit runs the example against a fake OTLP/HTTP collector:
// every span of the run must have arrived by the time run returns, in one trace.
func TestOTLPExportFlushesOnExit(t *testing.T) {
	var (
		mu    sync.Mutex
		spans = map[string][]*tracepb.Span{} // by trace id
	)
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		var req collectortrace.ExportTraceServiceRequest
		if !readOTLP(w, r, &req) {
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					id := hexID(s.TraceId)
					spans[id] = append(spans[id], s)
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(nil)
	}))
	defer col.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.URL)
	t.Setenv("OTEL_SERVICE_NAME", "agent-test")

	rec := &recorder{}
	var out bytes.Buffer
	e := env{getenv: func(k string) string {
		switch k {
		case "OTEL_EXPORTER_OTLP_ENDPOINT":
			return col.URL
		case "OTEL_METRICS_EXPORTER": // this collector takes no metrics: an attempt would be an export error
			return "none"
		}
		return ""
	}, stderr: io.Discard, now: fixedNow, scripted: rec.wrap}
	if err := runWith(context.Background(), []string{"-json"}, &out, e); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Service != "agent-test" || len(rep.TraceID) != 32 || rep.ExportError != "" {
		t.Fatalf("service %q, trace %q, export error %q", rep.Service, rep.TraceID, rep.ExportError)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(spans) != 1 || spans[rep.TraceID] == nil {
		t.Fatalf("collector got %d traces; want one, %s", len(spans), rep.TraceID)
	}
	var runs, tools int
	var chats []*tracepb.Span
	for _, s := range spans[rep.TraceID] {
		switch {
		case s.Name == "invoke_agent spendguard-demo":
			runs++
		case s.Name == "chat "+scriptedModel:
			chats = append(chats, s)
		case strings.HasPrefix(s.Name, "execute_tool "):
			tools++
		}
	}
	replies := rec.sent()
	if runs != 1 || len(chats) != len(replies)+1 || tools != len(replies) {
		t.Fatalf("%d run spans, %d chat spans, %d tool spans; want 1, %d and %d", runs, len(chats), tools, len(replies)+1, len(replies))
	}
	slices.SortFunc(chats, func(a, b *tracepb.Span) int { return cmp.Compare(a.StartTimeUnixNano, b.StartTimeUnixNano) })
	for i, r := range replies {
		in, out := intAttr(chats[i], "gen_ai.usage.input_tokens"), intAttr(chats[i], "gen_ai.usage.output_tokens")
		if in != int64(r.Usage.Prompt) || out != int64(r.Usage.Completion) {
			t.Errorf("chat span %d: usage %d in, %d out; the server sent %d, %d", i+1, in, out, r.Usage.Prompt, r.Usage.Completion)
		}
	}
	if denied := chats[len(chats)-1]; strAttr(denied, "error.type") != "budget_denied" {
		t.Errorf("last chat span has error.type %q, want budget_denied", strAttr(denied, "error.type"))
	}
	col.CloseClientConnections()
}

func attr(s *tracepb.Span, key string) *commonpb.AnyValue {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

func intAttr(s *tracepb.Span, key string) int64 { return attr(s, key).GetIntValue() }

func strAttr(s *tracepb.Span, key string) string { return attr(s, key).GetStringValue() }

func hexID(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestProviderErrorFails(t *testing.T) {
	rec := &recorder{}
	var out bytes.Buffer
	e := env{getenv: func(string) string { return "" }, stderr: io.Discard, now: fixedNow, scripted: func(h *scriptHook) {
		rec.wrap(h)
		next := h.Script
		h.Script = func(req providertest.Request) providertest.Reply {
			if req.Messages > 2 { // the second call
				return providertest.Reply{Status: http.StatusServiceUnavailable, Text: "overloaded"}
			}
			return next(req)
		}
	}}
	err := runWith(context.Background(), nil, &out, e)
	if err == nil || !strings.Contains(err.Error(), "overloaded") {
		t.Fatalf("err = %v, want the provider's error\n%s", err, out.String())
	}
	if !regexp.MustCompile(`(?m)^call  2 +\d+ +\d+  failed: .*overloaded`).MatchString(out.String()) {
		t.Errorf("no failed line for call 2:\n%s", out.String())
	}
	if !strings.Contains(unwrap(out.String()), "Summary: 2 model calls sent, 0 denied, 1 tool calls.") {
		t.Errorf("summary:\n%s", out.String())
	}
}

// TestSharedRedisBudget runs the agent twice on one Redis budget: the second run
// starts where the first stopped, so its first call is denied.
func TestSharedRedisBudget(t *testing.T) {
	addr := os.Getenv("SPENDGUARD_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("SPENDGUARD_REQUIRE_SERVICES") == "1" {
			t.Fatal("SPENDGUARD_REDIS_ADDR is not set")
		}
		t.Skip("SPENDGUARD_REDIS_ADDR is not set (scripts/test.sh starts a redis-server)")
	}
	name := fmt.Sprintf("agent-test-%d", time.Now().UnixNano())
	args := []string{"-json", "-redis", addr, "-budget-name", name, "-budget", "3000"}
	var reps [2]report
	for i := range reps {
		out, _, err := runScripted(t, args...)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
		if err := json.Unmarshal([]byte(out), &reps[i]); err != nil {
			t.Fatal(err)
		}
	}
	first, second := reps[0], reps[1]
	if first.Sent < 2 || first.Denial == nil || first.Denial.Budget != name || second.Denial == nil {
		t.Fatalf("first run: %d calls sent, denial %+v; second run's denial %+v", first.Sent, first.Denial, second.Denial)
	}
	// The second run spends from what the first left: its running total starts at the
	// first run's consumption, and it gets fewer calls through.
	total := first.Consumed
	for _, c := range second.Calls {
		total += c.Charged
		if c.Consumed != total {
			t.Errorf("second run, call %d: budget consumed %d, want %d (the first run's %d plus this run's calls)", c.Call, c.Consumed, total, first.Consumed)
		}
	}
	if second.Consumed != total || second.Sent >= first.Sent {
		t.Errorf("second run: consumed %d, want %d; %d calls sent, the first run %d", second.Consumed, total, second.Sent, first.Sent)
	}
}

// runAgainst runs the example with a real provider's client pointed at srv.
func runAgainst(t *testing.T, srv *providertest.Server, provider string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	e := env{getenv: func(k string) string {
		if k == "ANTHROPIC_API_KEY" || k == "OPENAI_API_KEY" {
			return "test"
		}
		return ""
	}, stderr: io.Discard, now: fixedNow}
	err := runWith(context.Background(), append([]string{"-provider", provider, "-base-url", srv.URL}, args...), &out, e)
	return unwrap(out.String()), err
}

func sumUsage(replies []providertest.Reply) (prompt, completion int) {
	for _, r := range replies {
		prompt += r.Usage.Prompt
		completion += r.Usage.Completion
	}
	return prompt, completion
}

// TestAnthropicGetsTheTools: langchaingo's anthropic client ignores the agent's
// functions, so the example offers them as tools; Claude's tool_use answers then
// drive the agent until the budget stops it.
func TestAnthropicGetsTheTools(t *testing.T) {
	var (
		mu      sync.Mutex
		replies []providertest.Reply
	)
	srv := providertest.NewAnthropic(func(req providertest.Request) providertest.Reply {
		r := providertest.Reply{
			ToolCalls: []providertest.ToolCall{{Name: "word_count", Arguments: `{"__arg1": "one two three ` + strings.Repeat("four ", req.Messages) + `"}`}},
			Usage:     &providertest.Usage{Prompt: 400 + 50*req.Messages, Completion: 20},
		}
		mu.Lock()
		replies = append(replies, r)
		mu.Unlock()
		return r
	})
	defer srv.Close()
	out, err := runAgainst(t, srv, "anthropic", "-budget", "3000")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	reqs := srv.Requests()
	if len(reqs) < 2 {
		t.Fatalf("%d requests:\n%s", len(reqs), out)
	}
	for i, r := range reqs {
		if r.Tools != 3 {
			t.Errorf("request %d offered %d tools, want the agent's 3", i+1, r.Tools)
		}
	}
	prompt, completion := sumUsage(replies)
	want := "Reported usage " + strconv.Itoa(prompt+completion) + " tokens (" + strconv.Itoa(prompt) + " prompt + " + strconv.Itoa(completion) + " completion)"
	if !strings.Contains(out, want) || !strings.Contains(out, "\nDenied: call ") {
		t.Errorf("want a denial and %q:\n%s", want, out)
	}
}

// TestAnthropicStuckStopsOnLoop: Claude asking for the same tool_use every turn is
// stopped by the loop guard after three rounds.
func TestAnthropicStuckStopsOnLoop(t *testing.T) {
	srv := providertest.NewAnthropic(providertest.Fixed(providertest.Reply{
		ToolCalls: []providertest.ToolCall{{Name: "word_count", Arguments: `{"__arg1": "one two three"}`}},
		Usage:     &providertest.Usage{Prompt: 400, Completion: 20},
	}))
	defer srv.Close()
	out, err := runAgainst(t, srv, "anthropic", "-budget", "100000")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if n := len(srv.Requests()); n != 3 || !strings.Contains(out, "Stopped by the loop guard: the agent called the word_count tool 3 times in a row with the same arguments (one two three)") {
		t.Errorf("%d requests, want 3 and a loop stop:\n%s", n, out)
	}
}

// TestOllamaAnswers: langchaingo's ollama client sends no tools, so the model just
// answers and the agent finishes within the budget.
func TestOllamaAnswers(t *testing.T) {
	srv := providertest.NewOllama(providertest.Fixed(providertest.Reply{
		Text: "I cannot count without tools.", Usage: &providertest.Usage{Prompt: 300, Completion: 12},
	}))
	defer srv.Close()
	out, err := runAgainst(t, srv, "ollama")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "The agent finished before the budget ran out. Its answer: I cannot count without tools.") ||
		!strings.Contains(out, "Summary: 1 model calls sent, 0 denied, 0 tool calls. Reported usage 312 tokens (300 prompt + 12 completion).") {
		t.Errorf("output:\n%s", out)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// A run the agent finishes says so in -json.
func TestFinishedRunJSON(t *testing.T) {
	srv := providertest.NewOllama(providertest.Fixed(providertest.Reply{
		Text: "Done.", Usage: &providertest.Usage{Prompt: 300, Completion: 2},
	}))
	defer srv.Close()
	out, err := runAgainst(t, srv, "ollama", "-json")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.StoppedBy != "finished" || rep.Answer != "Done." || rep.Loop != nil || rep.Denial != nil || rep.Scenario != "" {
		t.Errorf("report %+v", rep)
	}
}

func TestOpenAICompatibleBaseURL(t *testing.T) {
	srv := providertest.NewOpenAI(script)
	defer srv.Close()
	out, err := runAgainst(t, srv, "openai", "-model", "gpt-test", "-budget", "2500")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	reqs := srv.Requests()
	if len(reqs) < 2 || reqs[0].Model != "gpt-test" || !strings.Contains(out, "\nDenied: call ") {
		t.Errorf("%d requests (model %q), want at least 2 to gpt-test and a denial:\n%s", len(reqs), reqs[0].Model, out)
	}
}

func TestJSONToolArgumentsCopies(t *testing.T) {
	call := func(args string) llms.ToolCall {
		return llms.ToolCall{ID: "1", Type: "function", FunctionCall: &llms.FunctionCall{Name: "clock", Arguments: args}}
	}
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeHuman, "hi"),
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{call(`{"x": 1}`), call("UTC")}},
	}
	got := jsonToolArguments(msgs)
	if args := got[1].Parts[1].(llms.ToolCall).FunctionCall.Arguments; args != `{"__arg1":"UTC"}` {
		t.Errorf("wrapped arguments %q", args)
	}
	if args := got[1].Parts[0].(llms.ToolCall).FunctionCall.Arguments; args != `{"x": 1}` {
		t.Errorf("valid JSON arguments changed to %q", args)
	}
	if args := msgs[1].Parts[1].(llms.ToolCall).FunctionCall.Arguments; args != "UTC" {
		t.Errorf("the caller's message changed to %q", args)
	}
	if clean := msgs[:1]; &jsonToolArguments(clean)[0] != &clean[0] {
		t.Errorf("messages without bad arguments were copied")
	}
}

// TestRun goes through run itself, as main does (with the process's environment,
// OTLP export of traces and metrics switched off).
func TestRun(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-json"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Denial == nil || rep.Sent == 0 || rep.Prompt+rep.Completion != rep.Consumed {
		t.Errorf("report: %+v", rep)
	}
}

// TestStuckScenarioStopsOnLoop: the stuck model asks for the same tool call every
// turn; the loop guard refuses the call after the configured repeats, long before the
// budget would have, for the OpenAI functions agent and the MRKL one alike.
func TestStuckScenarioStopsOnLoop(t *testing.T) {
	for _, agent := range []string{"functions", "mrkl"} {
		for _, repeats := range []int{3, 5} {
			t.Run(fmt.Sprintf("%s/%d", agent, repeats), func(t *testing.T) {
				out, rec, err := runScripted(t, "-json", "-scenario", "stuck", "-agent", agent, "-loop-repeats", strconv.Itoa(repeats))
				if err != nil {
					t.Fatalf("run: %v\n%s", err, out)
				}
				var rep report
				if err := json.Unmarshal([]byte(out), &rep); err != nil {
					t.Fatal(err)
				}
				if rep.StoppedBy != "loop" || rep.Denial != nil || rep.Loop == nil {
					t.Fatalf("stopped by %q, denial %+v, loop %+v; want the loop guard", rep.StoppedBy, rep.Denial, rep.Loop)
				}
				if l := rep.Loop; l.Tool != "word_count" || l.Repeats != repeats || l.Arguments != "chapter one of the manuscript" || l.Cycle != nil {
					t.Errorf("loop %+v, want word_count repeated %d times", l, repeats)
				}
				replies := rec.sent()
				if len(replies) != repeats || rep.Sent != repeats || rep.ToolCalls != int64(repeats) {
					t.Errorf("%d replies, %d calls sent, %d tool calls; want %d of each", len(replies), rep.Sent, rep.ToolCalls, repeats)
				}
				if len(rep.Calls) != repeats+1 {
					t.Fatalf("%d calls reported, want %d sent and the refused one", len(rep.Calls), repeats)
				}
				refused := rep.Calls[repeats]
				if !refused.Loop || refused.Sent || refused.Denied || refused.Estimated != 0 || refused.Reserved != 0 || refused.Charged != 0 {
					t.Errorf("refused call %+v: want a loop refusal with nothing estimated, reserved or charged", refused)
				}
				prompt, completion := sumUsage(replies)
				if rep.Consumed != uint64(prompt+completion) || rep.Remaining != rep.Capacity-rep.Consumed || rep.Remaining < rep.Capacity/3 {
					t.Errorf("consumed %d (the server reported %d), %d of %d left", rep.Consumed, prompt+completion, rep.Remaining, rep.Capacity)
				}
				text := rep.printText(t)
				if !strings.Contains(text, fmt.Sprintf("Stopped by the loop guard: the agent called the word_count tool %d times in a row", repeats)) ||
					!strings.Contains(text, "Stopped by: loop.") {
					t.Errorf("the summary does not say why the run stopped:\n%s", text)
				}
			})
		}
	}
}

// The per-call lines say which call the loop guard refused.
func TestStuckScenarioText(t *testing.T) {
	out, _, err := runScripted(t, "-scenario", "stuck")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^call  4  LOOP: .*not sent, nothing reserved$`).MatchString(out) ||
		!strings.Contains(out, "Summary: 3 model calls sent, 0 denied, 3 tool calls (1 refused by the loop guard).") {
		t.Errorf("output:\n%s", out)
	}
}

// The default scenario over the MRKL agent, whose rounds never repeat, still ends in
// its budget denial: the loop guard lets a varied run go on.
func TestCountScenarioMRKLEndsOnBudget(t *testing.T) {
	out, rec, err := runScripted(t, "-json", "-agent", "mrkl")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.StoppedBy != "budget" || rep.Denial == nil || rep.Loop != nil || len(rec.sent()) < 4 {
		t.Errorf("stopped by %q after %d calls (denial %+v, loop %+v); want a budget denial", rep.StoppedBy, len(rec.sent()), rep.Denial, rep.Loop)
	}
}
