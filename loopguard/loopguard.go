package loopguard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

// ErrLoop is matched (errors.Is) by the *Error the guard returns when it refuses a
// call. It is not a budget denial: errors.Is(err, budget.ErrDenied) is false.
var ErrLoop = errors.New("loopguard: agent loop detected")

// Error is the error of a call the guard refused; errors.Is(err, ErrLoop) holds. Its
// LoopStop (the tool, arguments, repeats and cycle) is the one the guard wrote to the
// call's llmwrap.Spend.Loop.
type Error struct {
	llmwrap.LoopStop
}

// maxArgsInMessage bounds the arguments quoted by Error.
const maxArgsInMessage = 200

// Error says which call or cycle was repeated, how often, and with which arguments
// (cut to 200 bytes).
func (e *Error) Error() string {
	args := e.Arguments
	if len(args) > maxArgsInMessage {
		args = args[:maxArgsInMessage] + "…"
	}
	if len(e.Cycle) > 1 {
		return fmt.Sprintf("loopguard: agent loop detected: the cycle of tool calls %s came round %d times in a row with the same arguments and results (last: %q with %s); the model call was not sent",
			strings.Join(e.Cycle, " → "), e.Repeats, e.Tool, args)
	}
	return fmt.Sprintf("loopguard: agent loop detected: tool %q was called %d times in a row with the same arguments %s and got the same result; the model call was not sent",
		e.Tool, e.Repeats, args)
}

// Is reports whether target is ErrLoop.
func (e *Error) Is(target error) bool { return target == ErrLoop }

// Option configures New.
type Option func(*config)

type config struct {
	repeats  int
	maxCycle int
}

// The defaults: 3 identical rounds in a row, cycles of up to 4 calls; and the longest
// cycle MaxCycle accepts (longer cycles are plans, not loops, and the check costs in
// proportion).
const (
	defaultRepeats = 3
	defaultCycle   = 4
	maxCycleLimit  = 16
)

// Repeats sets how many identical rounds in a row make a loop (3 by default). n below
// 2 is raised to 2: one call is never a loop, and one repeat is what an agent does
// after a transient failure.
func Repeats(n int) Option {
	return func(c *config) { c.repeats = max(n, 2) }
}

// MaxCycle sets the longest cycle of calls looked for (4 by default). n below 1 is
// raised to 1 (only a call repeated on its own is a loop), n above 16 lowered to 16.
func MaxCycle(n int) Option {
	return func(c *config) { c.maxCycle = min(max(n, 1), maxCycleLimit) }
}

// New returns middleware that refuses the model call of an agent going round in
// circles, before anything is sent, with an *Error (errors.Is(err, ErrLoop)), by the
// rule the README's "Loop stops" gives. langchaingo's agents.Executor returns that
// error unchanged, which ends the run.
//
// A refused call's llmwrap.Spend gets Loop (the Error's LoopStop) and nothing else
// from the guard; Sent stays false. Put the guard before middleware.Budget in
// llmwrap.Wrap's list so that a refused call reserves nothing. Outside Wrap (no Spend
// in the context) the guard refuses the same calls and writes nothing.
//
// Each call is judged from its own messages, plus one fact the messages may have
// lost: which identical tool calls the model asked for in one answer, which the guard
// remembers for the answers it passed on (at most 4,096 call IDs, forgotten all at
// once when full). The middleware is safe for concurrent use by any number of agents.
// A call it lets through allocates nothing; it takes time linear in the messages.
//
// A nil next (possible only when composing by hand) gives a GenerateFunc that returns
// an error.
func New(opts ...Option) llmwrap.Middleware {
	c := config{repeats: defaultRepeats, maxCycle: defaultCycle}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	seen := newAnswers()
	return func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		if next == nil {
			return func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
				return nil, errors.New("loopguard: New's middleware was given a nil next GenerateFunc")
			}
		}
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			if le := c.find(msgs, seen); le != nil {
				if s := llmwrap.SpendFrom(ctx); s != nil {
					s.Loop = &le.LoopStop
				}
				return nil, le
			}
			resp, err := next(ctx, msgs, opts...)
			seen.record(resp)
			return resp, err
		}
	}
}
