package middleware

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

// ErrLoop is matched (errors.Is) by the *LoopError a LoopGuard returns when it refuses
// a call. It is not a budget denial: errors.Is(err, budget.ErrDenied) is false.
var ErrLoop = errors.New("middleware: agent loop detected")

// DefaultLoopRepeats is how many times in a row the same tool call must have come back
// with the same result before LoopGuard refuses the next model call.
const DefaultLoopRepeats = 3

// DefaultLoopCycle is the longest cycle of tool calls (A, B, A, B… is a cycle of 2)
// LoopGuard looks for by default.
const DefaultLoopCycle = 4

// maxLoopCycle bounds LoopMaxCycle: longer cycles are plans, not loops, and the check
// costs in proportion.
const maxLoopCycle = 16

// LoopError is the error of a call LoopGuard refused. errors.Is(err, ErrLoop) holds.
type LoopError struct {
	// Tool is the tool of the repeated call (for a cycle, of its last call).
	Tool string
	// Arguments are that call's arguments: canonical JSON (sorted keys, no
	// insignificant whitespace) when they are JSON, else the text the model gave,
	// trimmed.
	Arguments string
	// Repeats is how many times in a row the call (or the whole cycle) was made and
	// came back with the same result; at least the guard's repeat count.
	Repeats int
	// Cycle lists the tools of the cycle in order when the loop is a cycle of more
	// than one call (A, B, A, B…); nil when one call was repeated.
	Cycle []string
}

// maxArgsInMessage bounds the arguments quoted by Error.
const maxArgsInMessage = 200

// Error says which call was repeated, how often, and with which arguments (cut to
// 200 bytes).
func (e *LoopError) Error() string {
	args := e.Arguments
	if len(args) > maxArgsInMessage {
		args = args[:maxArgsInMessage] + "…"
	}
	if len(e.Cycle) > 1 {
		return fmt.Sprintf("middleware: agent loop detected: the cycle of tool calls %s came round %d times in a row with the same arguments and results (last: %q with %s); the model call was not sent",
			strings.Join(e.Cycle, " → "), e.Repeats, e.Tool, args)
	}
	return fmt.Sprintf("middleware: agent loop detected: tool %q was called %d times in a row with the same arguments %s and got the same result; the model call was not sent",
		e.Tool, e.Repeats, args)
}

// Is reports whether target is ErrLoop.
func (e *LoopError) Is(target error) bool { return target == ErrLoop }

// LoopOption configures LoopGuard.
type LoopOption func(*loopConfig)

type loopConfig struct {
	repeats  int
	maxCycle int
}

// LoopRepeats sets how many identical rounds in a row make a loop (DefaultLoopRepeats
// by default). n below 2 is raised to 2: one call is never a loop, and one repeat is
// what an agent does after a transient failure.
func LoopRepeats(n int) LoopOption {
	return func(c *loopConfig) { c.repeats = max(n, 2) }
}

// LoopMaxCycle sets the longest cycle of calls looked for (DefaultLoopCycle by
// default). n below 1 is raised to 1 (only a call repeated on its own is a loop), n
// above 16 lowered to 16.
func LoopMaxCycle(n int) LoopOption {
	return func(c *loopConfig) { c.maxCycle = min(max(n, 1), maxLoopCycle) }
}

// LoopGuard returns middleware that refuses the model call of an agent going round in
// circles, before anything is sent, with a *LoopError (errors.Is(err, ErrLoop)).
// langchaingo's agents.Executor returns that error unchanged, which ends the run.
//
// The rule. The guard reads the agent's history from the messages the call carries
// and lists its rounds in order: a round is one tool call (tool name, arguments) and
// the result that came back. The call is refused when the last R rounds (R =
// LoopRepeats, 3 by default) are the same call with the same result, or when the last
// k×R rounds are one cycle of k calls (2 ≤ k ≤ LoopMaxCycle, 4 by default) made R
// times over with the same results: the next model call would see nothing it has not
// already seen R times. Arguments are the same when they are equal as JSON (key order
// and whitespace do not matter; numbers compare as written, 1.0 ≠ 1) or, when they
// are not JSON, equal as text once trimmed; tool names and results compare exactly.
// So a tool called often with different results (a clock, a paginated search) is
// never a loop, nor is one call repeated once after an error; a round whose result is
// missing, or whose tool name is empty, matches no other round.
//
// Where it looks. Tool calls as structured message parts (llms.ToolCall in the AI
// messages, each paired in order with the llms.ToolCallResponse carrying its ID, or
// its name when IDs are empty): langchaingo's OpenAI functions/tools
// agent, and Anthropic tool_use and Gemini function calls, which langchaingo's
// clients map to and from the same parts. And the text scratchpad of OneShotAgent
// (MRKL) and ConversationalAgent: in each text part, every "Observation:" closes a
// round whose tool is the last "Action:" before it and whose arguments follow its
// "Action Input:" (or "Action input:"). Each text part is a history of its own; the
// structured parts of the whole conversation are one.
//
// ConversationalAgent's scratchpad writes the next round's thought right after an
// observation, with nothing between them; there, rounds compare their results
// together with the thought that follows, and the last result (followed by
// langchaingo's "Thought:") matches when the earlier ones start with it and the
// thought begins at a word boundary (so an empty last result matches none there).
//
// Stateless. Every call is judged from its own messages alone, so the guard keeps no
// per-run state and gives the same answer on every replica of a fleet.
//
// What the refusal leaves. The call's llmwrap.Spend gets Loop (the tool, arguments,
// repeats and cycle length) and Sent stays false. Put the guard before
// middleware.Budget in llmwrap.Wrap's list, so that a refused call reserves nothing:
// the budget never sees it (placed after, the budget reserves and releases the hold;
// a call that was never sent is not charged even under ChargeOnError). After
// otel.Middleware, the call's span records the refusal (error.type "loop_detected",
// spendguard.loop.tool, spendguard.loop.repeats) and the spendguard.loop.stops
// counter counts it.
//
// Cost. A conversation without tool calls and without "Observation:" in its text costs
// one scan of its parts and allocates nothing. Otherwise the guard borrows a pooled
// buffer, compares arguments as text first and canonicalizes JSON only for the rounds
// that differ in text (arguments longer than 1 MiB are compared as text only), and
// parses a text scratchpad from its last LoopMaxCycle×LoopRepeats+1 rounds only, so
// its cost does not grow with the run. Nothing is allocated unless a loop is found.
//
// Bad input never panics and never stops a run by itself: malformed arguments are
// compared as text, calls without results and results without calls match nothing,
// and nil parts are skipped. A nil next (possible only when composing by hand) gives a
// GenerateFunc that returns an error.
func LoopGuard(opts ...LoopOption) llmwrap.Middleware {
	c := loopConfig{repeats: DefaultLoopRepeats, maxCycle: DefaultLoopCycle}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		if next == nil {
			return func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
				return nil, errors.New("middleware: LoopGuard was given a nil next GenerateFunc")
			}
		}
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			if le := c.find(msgs); le != nil {
				recordLoop(ctx, le)
				return nil, le
			}
			return next(ctx, msgs, opts...)
		}
	}
}

// recordLoop notes the refusal in the call's Spend.
func recordLoop(ctx context.Context, le *LoopError) {
	if s := llmwrap.SpendFrom(ctx); s != nil {
		s.Loop = &llmwrap.LoopStop{Tool: le.Tool, Arguments: le.Arguments, Repeats: le.Repeats, Cycle: max(len(le.Cycle), 1)}
	}
}

// round is one tool call and its result. Its strings point into the messages.
type round struct {
	id     string // the structured call's ID
	tool   string
	args   string
	result string
	done   bool // the result is known
	// thought: result is followed by the next round's thought (ConversationalAgent's
	// scratchpad), see sameResult.
	thought bool
}

var roundPool = sync.Pool{New: func() any {
	r := make([]round, 0, 64)
	return &r
}}

func getRounds() *[]round { return roundPool.Get().(*[]round) }

// maxPooledRounds keeps a buffer grown by one huge conversation out of the pool.
const maxPooledRounds = 4096

func putRounds(r *[]round) {
	if cap(*r) > maxPooledRounds {
		return
	}
	clear(*r) // drop the references into the caller's messages
	*r = (*r)[:0]
	roundPool.Put(r)
}

// find returns the loop at the end of msgs' structured history or of one of its text
// scratchpads, or nil.
func (c *loopConfig) find(msgs []llms.MessageContent) *LoopError {
	var structured *[]round // borrowed on the first tool call
	defer func() {
		if structured != nil {
			putRounds(structured)
		}
	}()
	first := 0 // the oldest round of structured that may still lack its result
	for i := range msgs {
		for _, p := range msgs[i].Parts {
			var (
				call *llms.ToolCall
				resp *llms.ToolCallResponse
			)
			switch p := p.(type) {
			case llms.TextContent:
				if le := c.findInText(p.Text); le != nil {
					return le
				}
				continue
			case *llms.TextContent:
				if p != nil {
					if le := c.findInText(p.Text); le != nil {
						return le
					}
				}
				continue
			case llms.ToolCall:
				call = &p
			case *llms.ToolCall:
				call = p
			case llms.ToolCallResponse:
				resp = &p
			case *llms.ToolCallResponse:
				resp = p
			}
			switch {
			case call != nil:
				if structured == nil {
					structured = getRounds()
				}
				r := round{id: call.ID}
				if call.FunctionCall != nil {
					r.tool, r.args = call.FunctionCall.Name, call.FunctionCall.Arguments
				}
				*structured = append(*structured, r)
			case resp != nil && structured != nil:
				first = answer(*structured, first, resp)
			}
		}
	}
	if structured == nil {
		return nil
	}
	return c.loopIn(*structured)
}

// answer gives resp to the round it answers: the oldest unanswered one with its ID
// (clients may repeat IDs), or, when the ID is empty, of its name. It returns the new
// oldest unanswered round. A response that answers no round is dropped.
func answer(rs []round, first int, resp *llms.ToolCallResponse) int {
	for j := first; j < len(rs); j++ {
		r := &rs[j]
		if r.done || r.id != resp.ToolCallID || resp.ToolCallID == "" && r.tool != resp.Name {
			continue
		}
		r.result, r.done = resp.Content, true
		break
	}
	for first < len(rs) && rs[first].done {
		first++
	}
	return first
}

// findInText looks for a loop in the scratchpad text may hold. Only the rounds the
// rule can look at are parsed (the last maxCycle×repeats, and one more), so a long
// scratchpad costs no more than a short one; when they hold a loop, the whole text is
// parsed to count its repeats.
func (c *loopConfig) findInText(text string) *LoopError {
	if !strings.Contains(text, obsMarker) {
		return nil
	}
	rs := getRounds()
	defer putRounds(rs)
	start := windowStart(text, c.maxCycle*c.repeats+1)
	*rs = parseScratchpad(text[start:], *rs)
	le := c.loopIn(*rs)
	if le != nil && start > 0 {
		*rs = parseScratchpad(text, (*rs)[:0])
		le = c.loopIn(*rs)
	}
	return le
}

// windowStart is where the last n rounds of a scratchpad begin: right after the
// "Observation:" that precedes the n-th last one (a round's action comes before its
// observation), or 0 when there are not that many. It counts markers forward (the
// vectorized direction) in ever larger tails of text.
func windowStart(text string, n int) int {
	for size := 4096; ; size *= 2 {
		from := max(len(text)-size, 0)
		tail := text[from:]
		// A marker cut by from is not counted, nor needed: the ones counted are
		// all after it.
		if have := strings.Count(tail, obsMarker); have > n {
			for skip := have - n - 1; ; skip-- {
				i := strings.Index(tail, obsMarker)
				tail = tail[i+len(obsMarker):]
				if skip == 0 {
					return len(text) - len(tail)
				}
			}
		}
		if from == 0 {
			return 0
		}
	}
}

// loopIn applies the rule to the end of rs.
func (c *loopConfig) loopIn(rs []round) *LoopError {
	n := len(rs)
	for k := 1; k <= c.maxCycle && k*c.repeats <= n; k++ {
		// Count the rounds from the end that match the round k before them: a run of
		// m matches is m+k rounds, (m+k)/k times round the cycle.
		need := k * (c.repeats - 1)
		m := 0
		for j := n - 1; j-k >= 0 && sameRound(&rs[j], &rs[j-k]); j-- {
			m++
		}
		if m < need {
			continue
		}
		last := &rs[n-1]
		le := &LoopError{Tool: last.tool, Arguments: strings.Clone(displayArgs(last.args)), Repeats: (m + k) / k}
		if k > 1 {
			le.Cycle = make([]string, k)
			for i := range k {
				le.Cycle[i] = rs[n-k+i].tool
			}
		}
		return le
	}
	return nil
}

// sameRound reports whether a and b are the same call with the same result.
func sameRound(a, b *round) bool {
	return a.done && b.done && a.tool != "" && a.tool == b.tool &&
		sameResult(a, b) && sameArgs(a.args, b.args)
}

// sameResult compares results exactly, except between a result followed by a thought
// and one that is not (ConversationalAgent's scratchpad): then the first must be the
// second followed by a thought that starts at a word boundary.
func sameResult(a, b *round) bool {
	if a.thought == b.thought {
		return a.result == b.result
	}
	clean, withThought := a.result, b.result
	if a.thought {
		clean, withThought = b.result, a.result
	}
	rest, ok := strings.CutPrefix(withThought, clean)
	return ok && wordBoundary(clean, rest)
}

// maxCanonicalArgs bounds the arguments that are canonicalized; longer ones compare
// as text.
const maxCanonicalArgs = 1 << 20

// sameArgs reports whether two tool arguments are the same: equal as trimmed text, or
// both JSON and equal once canonical.
func sameArgs(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == b {
		return true
	}
	if len(a) > maxCanonicalArgs || len(b) > maxCanonicalArgs || !maybeJSON(a) || !maybeJSON(b) {
		return false
	}
	ca, ok := canonicalJSON(a)
	if !ok {
		return false
	}
	cb, ok := canonicalJSON(b)
	return ok && ca == cb
}

// displayArgs is how LoopError shows arguments: canonical JSON when they are JSON.
func displayArgs(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxCanonicalArgs && maybeJSON(s) {
		if c, ok := canonicalJSON(s); ok {
			return c
		}
	}
	return s
}

// maybeJSON is a cheap first test: JSON text starts with one of these bytes.
func maybeJSON(s string) bool {
	if s == "" {
		return false
	}
	switch c := s[0]; {
	case c == '{', c == '[', c == '"', c == '-', c >= '0' && c <= '9', c == 't', c == 'f', c == 'n':
		return true
	}
	return false
}
