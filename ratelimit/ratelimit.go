package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// Limit is one provider rate limit: in every span of Interval, at most Tokens tokens
// (input + output), Input input tokens, Output output tokens and Requests requests.
// A count of 0 limits nothing; at least one must be set, and Interval must be
// positive. OpenAI's TPM and RPM are Tokens and Requests per minute; Anthropic's
// ITPM, OTPM and RPM are Input, Output and Requests per minute.
type Limit struct {
	Interval time.Duration
	Tokens   uint64
	Input    uint64
	Output   uint64
	Requests uint64
}

// Cost is what a call takes from a limit: before it is sent, its estimate (the
// prompt estimate as Input, the completion allowance as Output); after it, what the
// provider billed against the limit. Leave out what the provider does not count
// (Anthropic's cache reads do not count towards ITPM on current models). Every call
// also takes one request.
type Cost struct {
	Input  uint64
	Output uint64
}

// Reservation is one call's place in a limit, from Reserve until Settle. Its fields
// are the limiter's report; do not change them.
type Reservation struct {
	// Limiter is the name of the limit the call was admitted by.
	Limiter string
	// Estimate is what was reserved.
	Estimate Cost
	// Start is when the limit counts the call as started: when Reserve returned (by
	// the limiter's clock: Redis's for a shared limit).
	Start time.Time
	// Waited is how long Reserve waited for the call to fit (0: it fitted at once).
	Waited time.Duration
	// ID identifies the reservation to the limiter that issued it.
	ID string

	owner    *local        // the in-process limiter that issued it; nil for others
	slot     int64         // its slot in owner's window
	seq      uint64        // its admission's number in owner
	prevTail time.Duration // owner's latest admission before it
	done     bool          // settled (guarded by owner.mu)
}

// Limiter is a rate limit that calls wait for instead of failing.
//
// Reserve takes estimate and one request from the limit before the call is sent,
// waiting until they fit: calls are admitted in the order they arrive, each at the
// first instant at which it fits (later calls queue behind a waiting one), with no
// polling. It returns at once with an *Error when the estimate is above the limit
// (Never) or when the call would fit only after ctx's deadline (Wait says how long
// it would have waited), and with ctx's error, holding nothing, when ctx ends while it
// waits. Other errors are the store's: a shared limiter that cannot reach its store
// fails closed with an error wrapping budget.ErrUnavailable.
//
// Settle replaces r's estimate with used, what the provider billed, once: a second
// Settle of r does nothing and returns nil. The zero Cost gives back the whole
// reservation, its request included: a call that was never sent, or that the
// provider refused without billing it (a 429). retryAfter > 0 (the provider's 429
// asked to wait) pauses the limit for every call of every process until that long
// after now: no call is admitted before then. A nil or foreign r returns an error.
//
// Implementations are safe for concurrent use.
type Limiter interface {
	Reserve(ctx context.Context, estimate Cost) (*Reservation, error)
	Settle(ctx context.Context, r *Reservation, used Cost, retryAfter time.Duration) error
}

// Error is why Reserve did not admit a call: it can never fit (Never), or it would
// fit only after its context's deadline, Wait from now. It is not a budget denial:
// errors.Is(err, budget.ErrDenied) is false.
type Error struct {
	Limiter  string
	Limit    Limit
	Estimate Cost
	// Never is true when Estimate is above the limit itself.
	Never bool
	// Wait is how long the call would have waited to fit (0 with Never).
	Wait time.Duration
}

func (e *Error) Error() string {
	if e.Never {
		return fmt.Sprintf("ratelimit: %q: a call of %d input + %d output tokens can never fit %s",
			e.Limiter, e.Estimate.Input, e.Estimate.Output, describe(e.Limit))
	}
	return fmt.Sprintf("ratelimit: %q: a call of %d input + %d output tokens would have had to wait %v for %s, past its deadline",
		e.Limiter, e.Estimate.Input, e.Estimate.Output, e.Wait.Round(time.Millisecond), describe(e.Limit))
}

func describe(l Limit) string {
	s := ""
	add := func(n uint64, what string) {
		if n == 0 {
			return
		}
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%d %s", n, what)
	}
	add(l.Tokens, "tokens")
	add(l.Input, "input tokens")
	add(l.Output, "output tokens")
	add(l.Requests, "requests")
	return s + " per " + l.Interval.String()
}
