package loopguard

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

// step is one agent step for building test histories.
type step struct{ tool, args, result string }

// mrklScratchpad writes steps as langchaingo v0.1.14's OneShotAgent does
// (constructMrklScratchPad), each log being what a model answers.
func mrklScratchpad(steps []step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString("\nThought: I should use a tool\nAction: " + s.tool + "\nAction Input: " + s.args)
		b.WriteString("\nObservation: " + s.result + "\n")
	}
	return b.String()
}

// conversationalScratchpad writes steps as ConversationalAgent does (constructScratchPad):
// no separator between an observation and the next log.
func conversationalScratchpad(steps []step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(" Do I need to use a tool? Yes\nAction: " + s.tool + "\nAction Input: " + s.args)
		b.WriteString("\nObservation: " + s.result)
	}
	if len(steps) > 0 {
		b.WriteString("\nThought:")
	}
	return b.String()
}

// structured writes steps as the OpenAI functions agent replays them: one AI message
// with a tool call and one tool message with its result per step.
func structured(steps []step) []llms.MessageContent {
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You are an agent."),
		llms.TextParts(llms.ChatMessageTypeHuman, "Do the task."),
	}
	for i, s := range steps {
		id := "call_" + strconv.Itoa(i)
		msgs = append(msgs,
			llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{
				llms.ToolCall{ID: id, Type: "function", FunctionCall: &llms.FunctionCall{Name: s.tool, Arguments: s.args}}}},
			llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
				llms.ToolCallResponse{ToolCallID: id, Name: s.tool, Content: s.result}}})
	}
	return msgs
}

// distinct is n rounds with different results.
func distinct(n int) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = step{"search", `{"q":"x"}`, "page " + strconv.Itoa(i)}
	}
	return out
}

func topic(t string) step { return step{"generate_topic", "{}", t} }

func rep(s step, n int) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

var defaults = config{repeats: defaultRepeats, maxCycle: defaultCycle}

// views runs the rule on steps written in each of the three layouts.
func views(c config, steps []step) map[string]*Error {
	return map[string]*Error{
		"structured":     c.find(structured(steps), nil),
		"mrkl":           c.find([]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "Question: q\n"+mrklScratchpad(steps))}, nil),
		"conversational": c.find([]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "New input: q\n\nThought:"+conversationalScratchpad(steps))}, nil),
	}
}

func TestLoopRule(t *testing.T) {
	a := step{"lookup", `{"q":"more"}`, "found nothing"}
	b := step{"search", `{"page":1}`, "no results"}
	for _, tc := range []struct {
		name    string
		c       config
		steps   []step
		repeats int // 0: no loop
	}{
		{"three identical rounds", defaults, rep(a, 3), 3},
		{"two identical rounds", defaults, rep(a, 2), 0},
		{"five identical rounds", defaults, rep(a, 5), 5},
		{"loop after other work", defaults, append([]step{b, b}, rep(a, 3)...), 3},
		{"loop left behind", defaults, append(rep(a, 4), b), 0},
		{"clock: same call, new result", defaults, []step{
			{"clock", "UTC", "2026-01-02T03:04:05Z"}, {"clock", "UTC", "2026-01-02T03:04:06Z"}, {"clock", "UTC", "2026-01-02T03:04:07Z"}}, 0},
		{"paginated search", defaults, []step{
			{"search", `{"page":1}`, "results"}, {"search", `{"page":2}`, "results"}, {"search", `{"page":3}`, "results"}}, 0},
		{"retry once after an error", defaults, []step{
			{"fetch", "x", "error: timeout"}, {"fetch", "x", "ok: 42"}, {"calc", "1+1", "2"}}, 0},
		{"key order and whitespace", defaults, []step{
			{"lookup", `{"q":"more","n":1}`, "r"}, {"lookup", `{ "n": 1, "q": "more" }`, "r"}, {"lookup", "{\"n\":1,\n\"q\":\"more\"}", "r"}}, 3},
		{"numbers as written", defaults, []step{
			{"lookup", `{"n":1}`, "r"}, {"lookup", `{"n":1.0}`, "r"}, {"lookup", `{"n":1}`, "r"}}, 0},
		{"malformed arguments repeated", defaults, rep(step{"calc", "2 * (3 +", "syntax error"}, 3), 3},
		{"malformed arguments varied", defaults, []step{
			{"calc", "2 * (3 +", "syntax error"}, {"calc", "2 * (3 + 1", "syntax error"}, {"calc", "2 * (3 +", "syntax error"}}, 0},
		{"cycle of two", defaults, []step{a, b, a, b, a, b}, 3},
		// Issue 19: one call with results that vary is a tool with varying output.
		{"random topic", defaults, []step{topic("cars"), topic("penguins"), topic("cars"), topic("penguins"), topic("cars"), topic("penguins")}, 0},
		{"cycle holding a varying call", defaults, []step{a, topic("cars"), a, topic("penguins"), a, topic("cars"), a, topic("penguins"), a, topic("cars"), a, topic("penguins")}, 0},
		{"cycle of a call and a steady topic", defaults, []step{a, topic("cars"), a, topic("cars"), a, topic("cars")}, 3},
		{"cycle of two, twice round", defaults, []step{a, b, a, b}, 0},
		{"repeats 2", config{repeats: 2, maxCycle: 4}, rep(a, 2), 2},
		{"max cycle 1", config{repeats: 3, maxCycle: 1}, []step{a, b, a, b, a, b}, 0},
		{"empty tool names", defaults, rep(step{"", "x", "y"}, 4), 0},
		// Longer than the rounds the rule looks at (4 × 3 + 1): a text scratchpad is
		// parsed from its last 13 rounds, then in full to count a loop's repeats.
		{"long loop", defaults, rep(a, 20), 20},
		{"loop after long work", defaults, append(distinct(30), rep(a, 4)...), 4},
		{"long work", defaults, distinct(40), 0},
	} {
		for view, le := range views(tc.c, tc.steps) {
			switch {
			case tc.repeats == 0 && le != nil:
				t.Errorf("%s (%s): stopped: %v", tc.name, view, le)
			case tc.repeats != 0 && le == nil:
				t.Errorf("%s (%s): not stopped", tc.name, view)
			case le != nil:
				last := tc.steps[len(tc.steps)-1]
				if le.Repeats != tc.repeats || le.Tool != last.tool {
					t.Errorf("%s (%s): %+v, want %d repeats of %q", tc.name, view, le, tc.repeats, last.tool)
				}
			}
		}
	}
	// The cycle names its tools in order, ending with the last call.
	le := defaults.find(structured([]step{b, a, b, a, b, a}), nil)
	if le == nil || !reflect.DeepEqual(le.Cycle, []string{"search", "lookup"}) || le.Tool != "lookup" || le.Repeats != 3 {
		t.Errorf("cycle: %+v", le)
	}
	le = defaults.find(structured(rep(step{"lookup", `{ "q" : "x" }`, "r"}, 3)), nil)
	if le == nil || le.Arguments != `{"q":"x"}` || !reflect.DeepEqual(le.Cycle, []string{"lookup"}) {
		t.Errorf("arguments: %+v", le)
	}
}

func TestLoopStructuredPairing(t *testing.T) {
	call := func(id, name, args string) llms.ToolCall {
		return llms.ToolCall{ID: id, Type: "function", FunctionCall: &llms.FunctionCall{Name: name, Arguments: args}}
	}
	resp := func(id, name, content string) llms.ToolCallResponse {
		return llms.ToolCallResponse{ToolCallID: id, Name: name, Content: content}
	}
	ai := func(parts ...llms.ContentPart) llms.MessageContent {
		return llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: parts}
	}
	tool := func(parts ...llms.ContentPart) llms.MessageContent {
		return llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: parts}
	}
	for _, tc := range []struct {
		name string
		msgs []llms.MessageContent
		loop bool
	}{
		// langchaingo's OpenAI functions agent groups steps with the same log (which
		// identical calls have) into one AI message, then their results.
		{"grouped replay", []llms.MessageContent{
			ai(call("a", "lookup", "more"), call("b", "lookup", "more"), call("c", "lookup", "more")),
			tool(resp("a", "", "none")), tool(resp("b", "", "none")), tool(resp("c", "", "none"))}, true},
		{"results out of order", []llms.MessageContent{
			ai(call("a", "lookup", "more"), call("b", "lookup", "more"), call("c", "lookup", "more")),
			tool(resp("c", "", "none"), resp("a", "", "none"), resp("b", "", "none"))}, true},
		// A client that repeats IDs: results are paired in order.
		{"repeated IDs", []llms.MessageContent{
			ai(call("call_1", "lookup", "more")), tool(resp("call_1", "", "none")),
			ai(call("call_2", "lookup", "more"), call("call_2", "lookup", "more")),
			tool(resp("call_2", "", "none")), tool(resp("call_2", "", "none"))}, true},
		{"calls without results", []llms.MessageContent{
			ai(call("a", "lookup", "more"), call("b", "lookup", "more"), call("c", "lookup", "more"))}, false},
		{"one result missing", []llms.MessageContent{
			ai(call("a", "lookup", "more"), call("b", "lookup", "more"), call("c", "lookup", "more")),
			tool(resp("a", "", "none"), resp("c", "", "none"))}, false},
		{"results without calls", []llms.MessageContent{
			tool(resp("a", "lookup", "none"), resp("b", "lookup", "none"), resp("c", "lookup", "none"))}, false},
		{"legacy function results by name", []llms.MessageContent{
			ai(call("", "lookup", "more")), tool(resp("", "lookup", "none")),
			ai(call("", "lookup", "more")), tool(resp("", "lookup", "none")),
			ai(call("", "lookup", "more")), tool(resp("", "lookup", "none"))}, true},
		{"pointer parts", []llms.MessageContent{
			ai(&llms.ToolCall{ID: "a", FunctionCall: &llms.FunctionCall{Name: "t", Arguments: "x"}}), tool(&llms.ToolCallResponse{ToolCallID: "a", Content: "r"}),
			ai(&llms.ToolCall{ID: "b", FunctionCall: &llms.FunctionCall{Name: "t", Arguments: "x"}}), tool(&llms.ToolCallResponse{ToolCallID: "b", Content: "r"}),
			ai(&llms.ToolCall{ID: "c", FunctionCall: &llms.FunctionCall{Name: "t", Arguments: "x"}}), tool(&llms.ToolCallResponse{ToolCallID: "c", Content: "r"})}, true},
		{"nil and odd parts", []llms.MessageContent{
			{Parts: []llms.ContentPart{nil, (*llms.ToolCall)(nil), (*llms.ToolCallResponse)(nil), (*llms.TextContent)(nil), llms.ToolCall{ID: "x"}}},
			tool(resp("x", "", "r")), ai(llms.ToolCall{ID: "y"}), tool(resp("y", "", "r")), ai(llms.ToolCall{ID: "z"}), tool(resp("z", "", "r"))}, false},
		{"duplicate result for one call", []llms.MessageContent{
			ai(call("a", "lookup", "more")), tool(resp("a", "", "none"), resp("a", "", "none"), resp("a", "", "none"))}, false},
		// A result answers a call of its own turn only: a call whose result never
		// came is left behind.
		{"late result for an earlier turn", []llms.MessageContent{
			ai(call("a", "lookup", "more")), tool(resp("x", "", "stray")),
			ai(call("b", "lookup", "more")), tool(resp("b", "", "none")),
			ai(call("c", "lookup", "more")), tool(resp("c", "", "none"), resp("a", "", "none"))}, false},
		{"unanswered call, then a loop", []llms.MessageContent{
			ai(call("a", "lookup", "more")), tool(resp("x", "", "stray")),
			ai(call("b", "lookup", "more")), tool(resp("b", "", "none")),
			ai(call("c", "lookup", "more")), tool(resp("c", "", "none")),
			ai(call("d", "lookup", "more")), tool(resp("d", "", "none"))}, true},
	} {
		if le := defaults.find(tc.msgs, nil); (le != nil) != tc.loop {
			t.Errorf("%s: loop %v, want %v", tc.name, le, tc.loop)
		}
	}
}

func TestParseScratchpad(t *testing.T) {
	steps := []step{{"lookup", "more", "found nothing"}, {"calculator", "2 + 2", "4\n\nsecond paragraph"}, {"clock", "UTC", "noon"}}
	rs := parseScratchpad("Question: q\n"+mrklScratchpad(steps), nil)
	if len(rs) != 3 {
		t.Fatalf("%d rounds: %+v", len(rs), rs)
	}
	for i, s := range steps {
		if r := rs[i]; r.tool != s.tool || r.args != s.args || r.result != s.result || !r.done || r.thought {
			t.Errorf("round %d: %+v, want %+v", i, r, s)
		}
	}
	rs = parseScratchpad("Thought:"+conversationalScratchpad(steps), nil)
	if len(rs) != 3 {
		t.Fatalf("%d rounds: %+v", len(rs), rs)
	}
	for i, s := range steps {
		want := s.result
		if i < len(steps)-1 {
			want += " Do I need to use a tool? Yes"
		}
		if r := rs[i]; r.tool != s.tool || r.args != s.args || r.result != want || r.thought != (i < len(steps)-1) {
			t.Errorf("round %d: %+v, want %+v", i, r, s)
		}
	}
	// The format instructions are a round of their own, unlike the real ones.
	instr := "Action: the action to take, should be one of [ lookup ]\nAction Input: the input to the action\nObservation: the result of the action\n...\n\nBegin!\n\nQuestion: q\n"
	le := defaults.find([]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, instr+mrklScratchpad(rep(steps[0], 3)))}, nil)
	if le == nil || le.Repeats != 3 || le.Tool != "lookup" || le.Arguments != "more" {
		t.Errorf("after the instructions: %+v", le)
	}
	for _, text := range []string{"", "Observation:", "Observation:Observation:", "Action Input: x Observation:", "Action: Action Input: Observation:\nThought:",
		"Action:Action input:Observation:Thought:", strings.Repeat("Observation: \xff", 5)} {
		_ = parseScratchpad(text, nil) // must not panic
		if le := defaults.find([]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, text)}, nil); le != nil {
			t.Errorf("%q: %v", text, le)
		}
	}
}

func TestConversationalBoundary(t *testing.T) {
	// The last result is clean; earlier ones run into the next thought. A result that
	// is a prefix of the earlier ones, cut mid-word, is not the same result.
	steps := []step{{"t", "x", "abc"}, {"t", "x", "abc"}, {"t", "x", "ab"}}
	text := strings.ReplaceAll("Thought:"+conversationalScratchpad(steps), " Do I need", "Do I need")
	rs := parseScratchpad(text, nil)
	if len(rs) != 3 || sameResult(&rs[1], &rs[2]) {
		t.Errorf("%q is taken for %q followed by a thought", rs[1].result, rs[2].result)
	}
	steps[2].result = "abc"
	text = strings.ReplaceAll("Thought:"+conversationalScratchpad(steps), " Do I need", "Do I need")
	if le := defaults.find([]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, text)}, nil); le == nil {
		t.Errorf("a thought right after the result (no space) hides the loop: %q", text)
	}
}

func TestCanonicalJSON(t *testing.T) {
	for in, want := range map[string]string{
		`{"b":1,"a":[true,null,"x"]}`:        `{"a":[true,null,"x"],"b":1}`,
		" { \"a\" : { \"d\":1, \"c\":2 } } ": `{"a":{"c":2,"d":1}}`,
		`{"a":1,"a":2}`:                      `{"a":2}`,
		`1.50`:                               `1.50`,
		`"\u0041<&>"`:                        `"A<&>"`,
		`12345678901234567890123`:            `12345678901234567890123`,
		`"\ud83d\ude00"`:                     `"😀"`,
	} {
		if got, ok := canonicalJSON(in); !ok || got != want {
			t.Errorf("canonicalJSON(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "more", `{"a":1} {}`, `{"a":}`, "\"\xff\"", `"\ud800"`, `["\udc00"]`, `{"a":1`, strings.Repeat("[", 20000) + strings.Repeat("]", 20000)} {
		if got, ok := canonicalJSON(in); ok {
			t.Errorf("canonicalJSON(%q) = %q, want not ok", in, got)
		}
	}
	if sameArgs(`"\ud800"`, `"\udc00"`) {
		t.Error("two lone surrogates compare equal")
	}
}

func TestLoopNoAllocationWithoutToolCalls(t *testing.T) {
	msgs := make([]llms.MessageContent, 200)
	for i := range msgs {
		msgs[i] = llms.TextParts(llms.ChatMessageTypeHuman, "Tell me more about the history of tea, part "+strconv.Itoa(i)+".")
	}
	if n := testing.AllocsPerRun(100, func() {
		if defaults.find(msgs, nil) != nil {
			t.Fatal("loop")
		}
	}); n != 0 {
		t.Errorf("%v allocations per scan of a conversation without tool calls", n)
	}
}

func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":2}`, `[1, 2.0, "x", null]`, `"\u00e9"`, `{"a":{"b":[{}]}}`, "more", `{"a":1,}`, `"\ud800"`, "\"\xff\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := canonicalJSON(s)
		if !ok {
			if json.Valid([]byte(s)) && utf8.ValidString(s) && !strings.Contains(s, `\u`) && !strings.ContainsRune(s, utf8.RuneError) {
				t.Fatalf("valid JSON %q not canonicalized", s)
			}
			return
		}
		if !json.Valid([]byte(c)) {
			t.Fatalf("canonicalJSON(%q) = %q, not JSON", s, c)
		}
		if c2, ok := canonicalJSON(c); !ok || c2 != c {
			t.Fatalf("not idempotent: %q → %q → %q", s, c, c2)
		}
		if !reflect.DeepEqual(decode(t, s), decode(t, c)) {
			t.Fatalf("canonicalJSON(%q) = %q means something else", s, c)
		}
		if !sameArgs(s, c) || !sameArgs(" "+c+"\n", s) {
			t.Fatalf("%q and its canonical form %q differ", s, c)
		}
	})
}

func decode(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// clean removes the scratchpad's markers from s (repeatedly: a removal may join the
// halves of another) and trims it.
func clean(s string) string {
	for {
		t := s
		for _, m := range []string{obsMarker, actionMarker, inputMarker, inputMarkerAlt, thoughtMarker, "Observation", "Action", "Thought"} {
			t = strings.ReplaceAll(t, m, "")
		}
		if t == s {
			return strings.TrimSpace(s)
		}
		s = t
	}
}

func FuzzScratchpad(f *testing.F) {
	f.Add("Question: q\n\nThought: x\nAction: lookup\nAction Input: more\nObservation: none\n", "lookup", "more", "none", uint8(3))
	f.Add("Observation: Action: Observation:\nThought:", "calc", "2 +\n2", "4\n\nmore", uint8(5))
	f.Add("", "t", "{\"a\": 1}", "", uint8(0))
	f.Fuzz(func(t *testing.T, text, tool, args, result string, n uint8) {
		// Any text: no panic, one round per "Observation:", every string from text.
		rs := parseScratchpad(text, nil)
		if len(rs) != strings.Count(text, obsMarker) {
			t.Fatalf("%d rounds for %d observations", len(rs), strings.Count(text, obsMarker))
		}
		for _, r := range rs {
			for _, s := range []string{r.tool, r.args, r.result} {
				if !strings.Contains(text, s) {
					t.Fatalf("%q is not from the text", s)
				}
			}
		}
		_ = defaults.find([]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, text)}, nil)

		// Scratchpads written as langchaingo writes them parse back, and the rule
		// stops the same round repeated, never rounds with different results.
		tool, args, result = strings.ReplaceAll(clean(tool), "\n", " "), clean(args), clean(result)
		if tool == "" || strings.HasSuffix(result, ":") {
			return
		}
		k := int(n%20) + 1
		same := rep(step{tool, args, result}, k)
		varied := make([]step, k)
		for i := range varied {
			varied[i] = step{tool, args, result + " #" + strconv.Itoa(i)}
		}
		rs = parseScratchpad(mrklScratchpad(same), nil)
		for _, r := range rs {
			if r.tool != tool || r.args != args || r.result != result {
				t.Fatalf("round %+v, want %q %q %q", r, tool, args, result)
			}
		}
		for view, le := range views(defaults, same) {
			if view == "conversational" && result == "" {
				continue // an empty last result cannot be told from the thought after the others
			}
			if (le != nil) != (k >= defaultRepeats) || le != nil && le.Repeats != k {
				t.Fatalf("%s: %d identical rounds: loop %v", view, k, le)
			}
		}
		for view, le := range views(defaults, varied) {
			if le != nil {
				t.Fatalf("%s: rounds with different results stopped: %v", view, le)
			}
		}
	})
}

func TestLoopOptions(t *testing.T) {
	for _, tc := range []struct {
		opts             []Option
		repeats, maxCycl int
	}{
		{nil, defaultRepeats, defaultCycle},
		{[]Option{nil, Repeats(0), MaxCycle(0)}, 2, 1},
		{[]Option{Repeats(-5), MaxCycle(1000)}, 2, maxCycleLimit},
		{[]Option{Repeats(7), MaxCycle(2)}, 7, 2},
	} {
		c := config{repeats: defaultRepeats, maxCycle: defaultCycle}
		for _, o := range tc.opts {
			if o != nil {
				o(&c)
			}
		}
		if c.repeats != tc.repeats || c.maxCycle != tc.maxCycl {
			t.Errorf("options %d: repeats %d, max cycle %d; want %d, %d", len(tc.opts), c.repeats, c.maxCycle, tc.repeats, tc.maxCycl)
		}
	}
	gen := New()(nil)
	if _, err := gen(nil, nil); err == nil || errors.Is(err, ErrLoop) { // a nil context must not panic either
		t.Errorf("nil next: err = %v", err)
	}
	le := &Error{llmwrap.LoopStop{Tool: "t", Arguments: strings.Repeat("x", 1000), Repeats: 3, Cycle: []string{"t"}}}
	if msg := le.Error(); len(msg) > 400 || !strings.Contains(msg, `tool "t" was called 3 times`) {
		t.Errorf("Error() = %q", msg)
	}
	le.Cycle = []string{"a", "t"}
	if msg := le.Error(); !strings.Contains(msg, "a → t came round 3 times") {
		t.Errorf("Error() = %q", msg)
	}
}

// Issue 19: identical calls of one model answer are one round, when the guard passed
// that answer on; the same messages from answers it did not see are three rounds (as
// langchaingo's OpenAI functions agent replays three turns of one call each).
func TestLoopAnswersMerge(t *testing.T) {
	fetch := func(id string) llms.ToolCall {
		return llms.ToolCall{ID: id, Type: "function", FunctionCall: &llms.FunctionCall{Name: "fetch", Arguments: `{"url":"a"}`}}
	}
	answer := func(ids ...string) *llms.ContentResponse {
		c := &llms.ContentChoice{}
		for _, id := range ids {
			c.ToolCalls = append(c.ToolCalls, fetch(id))
		}
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{nil, c}}
	}
	history := func(turns ...[]string) []llms.MessageContent {
		var msgs []llms.MessageContent
		for _, ids := range turns {
			ai := llms.MessageContent{Role: llms.ChatMessageTypeAI}
			for _, id := range ids {
				ai.Parts = append(ai.Parts, fetch(id))
			}
			msgs = append(msgs, ai)
			for _, id := range ids {
				msgs = append(msgs, llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
					llms.ToolCallResponse{ToolCallID: id, Content: "<html>a</html>"}}})
			}
		}
		return msgs
	}
	seen := newAnswers()
	seen.record(nil)
	seen.record(answer("p", "q")) // another call like it: remembered
	seen.record(answer("a", "b", "c"))
	seen.record(answer("s")) // alone: nothing to remember
	if got := seen.count.Load(); got != 5 {
		t.Errorf("%d IDs remembered, want 5", got)
	}
	for _, tc := range []struct {
		name    string
		msgs    []llms.MessageContent
		seen    *answers
		repeats int
	}{
		{"one answer of three", history([]string{"a", "b", "c"}), seen, 0},
		{"one answer of three, not seen", history([]string{"a", "b", "c"}), nil, 3},
		{"replayed as one message", history([]string{"p", "q", "a", "b", "c"}), seen, 0},
		{"three answers", history([]string{"p", "q", "a", "b", "c", "s"}), seen, 3},
		{"three turns", history([]string{"p", "q"}, []string{"a", "b", "c"}, []string{"s"}), seen, 3},
		{"calls of one answer in two turns", history([]string{"a", "b"}, []string{"c"}), seen, 0},
		// IDs reused across answers (a client numbering each answer's calls from 0):
		// only the IDs of one answer merge.
		{"reused IDs", history([]string{"a", "a", "a"}), seen, 3},
		{"reused IDs after their answer", history([]string{"a", "b", "c", "a", "a"}), seen, 3},
	} {
		le := defaults.find(tc.msgs, tc.seen)
		if got := 0; le != nil && le.Repeats != tc.repeats || le == nil && tc.repeats != 0 {
			if le != nil {
				got = le.Repeats
			}
			t.Errorf("%s: %d repeats, want %d", tc.name, got, tc.repeats)
		}
	}
	// Bounded: a full memory forgets everything and starts again.
	for i := range maxRemembered {
		seen.record(answer(strconv.Itoa(2*i), strconv.Itoa(2*i+1)))
	}
	if got := seen.count.Load(); got > maxRemembered || got == 0 {
		t.Errorf("%d IDs remembered, want at most %d", got, maxRemembered)
	}
}

// FuzzStructured reads a structured history from data, a byte per part: calls and
// results of a few IDs, tools and results, in any order, some from answers the guard
// saw. It never panics, and the window the guard keeps of a long history gives the
// same verdict as the whole of it.
func FuzzStructured(f *testing.F) {
	f.Add([]byte{0x00, 0x80, 0x01, 0x81, 0x02, 0x82})
	f.Add([]byte{0x00, 0x00, 0x00, 0x80, 0x80, 0x80, 0x40, 0x40, 0xc0, 0xc0})
	f.Add(bytes.Repeat([]byte{0x10, 0x90}, 40))
	f.Fuzz(structuredBody)
}

func structuredBody(t *testing.T, data []byte) {
	seen := newAnswers()
	var msgs []llms.MessageContent
	for i, b := range data {
		id := "id" + strconv.Itoa(int(b&0x07)) // few IDs: repeats and strays
		if b&0x08 != 0 {
			id = strconv.Itoa(i) // or a fresh one
		}
		tool := []string{"lookup", "search", "", "fetch"}[b>>4&0x03]
		switch {
		case b&0x80 == 0:
			msgs = append(msgs, llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{
				llms.ToolCall{ID: id, FunctionCall: &llms.FunctionCall{Name: tool, Arguments: `{"q":1}`}}}})
		default:
			msgs = append(msgs, llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
				llms.ToolCallResponse{ToolCallID: id, Name: tool, Content: []string{"none", "some"}[b>>6&0x01]}}})
		}
		if b&0x40 != 0 && b&0x80 == 0 { // this call and the last came in one answer
			seen.record(&llms.ContentResponse{Choices: []*llms.ContentChoice{{ToolCalls: []llms.ToolCall{
				{ID: id, FunctionCall: &llms.FunctionCall{Name: tool, Arguments: `{"q":1}`}},
				{ID: "id" + strconv.Itoa(int(b&0x07)^1), FunctionCall: &llms.FunctionCall{Name: tool, Arguments: `{ "q": 1 }`}}}}}})
		}
	}
	for _, c := range []config{defaults, {repeats: 2, maxCycle: 1}, {repeats: 2, maxCycle: 3}} {
		window, _ := c.findStructured(msgs, seen, c.maxCycle*c.repeats)
		whole, _ := c.findStructured(msgs, seen, 0)
		if (window == nil) != (whole == nil) {
			t.Fatalf("%+v: the window says %v, the whole history %v", c, window, whole)
		}
		if got := c.find(msgs, seen); !reflect.DeepEqual(got, whole) {
			t.Fatalf("%+v: find says %+v, the whole history %+v", c, got, whole)
		}
	}
}
