package loopguard

import (
	"strings"
	"sync"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

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
	// answer is the number of the model answer the call came in, when the guard
	// passed that answer on with another call just like it (see answers); 0 when
	// unknown.
	answer uint64
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
// scratchpads, or nil. seen, when not nil, says which calls came in one answer.
func (c *config) find(msgs []llms.MessageContent, seen *answers) *Error {
	le, cut := c.findStructured(msgs, seen, c.maxCycle*c.repeats)
	if le != nil && cut {
		// The rounds before the window were dropped: count the repeats on all of them.
		le, _ = c.findStructured(msgs, seen, 0)
	}
	return le
}

// findStructured reads msgs in order: text parts are looked at as scratchpads, tool
// calls and results make the structured history, whose closed rounds are kept only
// for the last keep of them (all when keep is 0), so that its buffer stays small;
// cut says whether some were dropped.
func (c *config) findStructured(msgs []llms.MessageContent, seen *answers, keep int) (le *Error, cut bool) {
	var h history // its buffer is borrowed on the first tool call
	h.keep, h.seen = keep, seen
	defer func() {
		if h.rs != nil {
			putRounds(h.rs)
		}
	}()
	for i := range msgs {
		for _, p := range msgs[i].Parts {
			switch p := p.(type) {
			case llms.TextContent:
				if le := c.findInText(p.Text); le != nil {
					return le, false
				}
			case *llms.TextContent:
				if p != nil {
					if le := c.findInText(p.Text); le != nil {
						return le, false
					}
				}
			case llms.ToolCall:
				h.call(&p)
			case *llms.ToolCall:
				if p != nil {
					h.call(p)
				}
			case llms.ToolCallResponse:
				h.result(&p)
			case *llms.ToolCallResponse:
				if p != nil {
					h.result(p)
				}
			}
		}
	}
	if h.rs == nil {
		return nil, false
	}
	h.closeTurn()
	return c.loopIn(*h.rs), h.cut
}

// history is the structured rounds of a conversation, read in order. A turn is the
// calls the model asked for before their results came: it begins at the first call
// after a result. A result answers a call of the open turn only, as the providers'
// APIs require (OpenAI: a "tool" message answers a tool call of the assistant message
// before it; Anthropic: tool_result blocks follow their tool_use in the next user
// message), so a call whose result never came is left behind with its turn and costs
// nothing later.
type history struct {
	rs      *[]round
	turn    int  // where the open turn begins in rs
	first   int  // the oldest round of the open turn that may still lack its result
	results bool // a result came since the open turn began
	keep    int  // closed rounds to keep (0: all)
	cut     bool // closed rounds were dropped
	seen    *answers
}

func (h *history) call(call *llms.ToolCall) {
	if h.rs == nil {
		h.rs = getRounds()
	}
	if h.results {
		h.closeTurn()
		h.turn, h.first, h.results = len(*h.rs), len(*h.rs), false
	}
	r := round{id: call.ID}
	if call.FunctionCall != nil {
		r.tool, r.args = call.FunctionCall.Name, call.FunctionCall.Arguments
	}
	*h.rs = append(*h.rs, r)
}

// result gives resp to the round of the open turn it answers: the oldest unanswered
// one with its ID (clients may repeat IDs), or, when the ID is empty, of its name. A
// response that answers no round is dropped.
func (h *history) result(resp *llms.ToolCallResponse) {
	if h.rs == nil {
		return
	}
	h.results = true
	rs := *h.rs
	for j := h.first; j < len(rs); j++ {
		r := &rs[j]
		if r.done || r.id != resp.ToolCallID || resp.ToolCallID == "" && r.tool != resp.Name {
			continue
		}
		r.result, r.done = resp.Content, true
		break
	}
	for h.first < len(rs) && rs[h.first].done {
		h.first++
	}
}

// closeTurn makes the open turn's identical calls that came in one answer one round,
// then drops the closed rounds beyond the last keep, once there are twice as many.
func (h *history) closeTurn() {
	rs := *h.rs
	if n := h.seen.merge(rs[h.turn:]); h.turn+n < len(rs) {
		clear(rs[h.turn+n:])
		rs = rs[:h.turn+n]
	}
	if h.keep > 0 && len(rs) > 2*h.keep {
		drop := len(rs) - h.keep
		copy(rs, rs[drop:])
		clear(rs[h.keep:])
		rs = rs[:h.keep]
		h.cut = true
	}
	*h.rs = rs
}

// findInText looks for a loop in the scratchpad text may hold. Only the rounds the
// rule can look at are parsed (the last maxCycle×repeats, and one more), so a long
// scratchpad costs no more than a short one; when they hold a loop, the whole text is
// parsed to count its repeats.
func (c *config) findInText(text string) *Error {
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
func (c *config) loopIn(rs []round) *Error {
	n := len(rs)
	for k := 1; k <= c.maxCycle && k*c.repeats <= n; k++ {
		// Count the rounds from the end that match the round k before them: a run of
		// m matches is m+k rounds, (m+k)/k times round the cycle.
		need := k * (c.repeats - 1)
		m := 0
		for j := n - 1; j-k >= 0 && sameRound(&rs[j], &rs[j-k]); j-- {
			m++
		}
		if m < need || varies(rs[n-k:]) {
			continue
		}
		last := &rs[n-1]
		le := &Error{llmwrap.LoopStop{Tool: strings.Clone(last.tool), Arguments: strings.Clone(displayArgs(last.args)), Repeats: (m + k) / k, Cycle: make([]string, k)}}
		for i := range k {
			le.Cycle[i] = strings.Clone(rs[n-k+i].tool)
		}
		return le
	}
	return nil
}

// varies reports whether cycle holds one call (tool and arguments) with two
// different results: a tool whose output varies (a random pick, a clock), not a loop.
func varies(cycle []round) bool {
	for i := range cycle {
		for j := i + 1; j < len(cycle); j++ {
			a, b := &cycle[i], &cycle[j]
			if a.tool == b.tool && !sameResult(a, b) && sameArgs(a.args, b.args) {
				return true
			}
		}
	}
	return false
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

// displayArgs is how Error shows arguments: canonical JSON when they are JSON.
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
