package llmwrap

import (
	"context"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/callopts"
	"github.com/spendguard/spendguard/llmwrap/internal/spendhook"
)

// UsageSource says how a budget arrived at the usage it charged a call
// (BudgetCharge.UsageSource).
type UsageSource string

const (
	// UsageNone: nothing was charged (the call was denied, never sent, or failed
	// before the provider billed anything, and its hold was released).
	UsageNone UsageSource = ""
	// UsageReported: the provider reported the whole usage, and that was charged.
	UsageReported UsageSource = "reported"
	// UsagePartial: the provider reported part of it (Spend.UsageMissing says which);
	// the reported part was charged and the rest estimated.
	UsagePartial UsageSource = "partial"
	// UsageEstimated: the provider reported none; the prompt estimate and an estimate
	// of the response's text were charged.
	UsageEstimated UsageSource = "estimated"
	// UsageInterrupted: a streamed call failed after it was sent (cancelled, timed
	// out, its connection cut) with no report; the prompt estimate and an estimate of
	// the output streamed so far were charged.
	UsageInterrupted UsageSource = "interrupted"
	// UsageReservation: a call sent without a stream failed with no report and an
	// unknown outcome (the provider may have answered in full); its reservation was
	// charged.
	UsageReservation UsageSource = "reservation"
)

// Spend is the record of one wrapped call. Wrap creates it before the first
// middleware runs; each fact in it has one writer:
//
//   - Wrap (or WrapEmbedder): Model, ModelType, Options (from the caller's options
//     and WithModelName) and Operation, and Err when the call returns;
//   - the model step at the bottom of the chain (see llmwrap/wrapkit.Terminal):
//     Sent, MaxTokens, Usage and UsageMissing, what the model was called with and
//     what the provider reported;
//   - each middleware its own part, nil when it took no part: Budget
//     (middleware.Budget), Fallback (a budget's switch to another model, which also
//     renames Model), Loop (loopguard) and Rate (ratelimit.Middleware).
//
// Read it after the call with OnSpend, or from a middleware through SpendFrom. A
// Spend belongs to one call and is written by the goroutine running the call; read
// it only from that goroutine, or after GenerateContent has returned.
type Spend struct {
	// Model is the call's CallOptions.Model, else the name given by WithModelName,
	// else "unknown". When a budget sent the call to another model (Fallback), it
	// is that model's name.
	Model string
	// ModelType is the Go type of the model Model names, such as "*openai.LLM".
	ModelType string
	// Operation is the GenAI operation of the call, written by Wrap or WrapEmbedder:
	// "" for a model's GenerateContent (a chat), "embeddings" for a batch of texts
	// sent through WrapEmbedder, which has a prompt and no completion.
	Operation string
	// Options are the call's options as the caller gave them; nothing changes them
	// during the call. Middleware that need the options actually sent resolve the
	// opts they are passed.
	Options llms.CallOptions

	// MaxTokens is the completion limit the model was called with (0: none), after
	// every middleware (a hard cap lowers it).
	MaxTokens int
	// Usage is the token usage the provider reported (ReportedUsage), counts it left
	// out being 0. What a budget charged, with those parts estimated, is
	// Budget.Usage.
	Usage Usage
	// UsageMissing says which parts of Usage the provider did not report once the
	// model has returned: 0 for a whole report, MissingAll for none (or for a call
	// never sent).
	UsageMissing Missing
	// Sent is true when the model was called: the request may have reached the
	// provider. A call a middleware refused was not sent.
	Sent bool
	// Err is the error the call returned.
	Err error

	// Budget is a budget middleware's part: what it estimated, reserved and
	// charged. Nil when no budget took part.
	Budget *BudgetCharge
	// Fallback is set when a budget sent the call to another model than the one it
	// was meant for; Model is then the model called (or, when no model fitted, the
	// last one tried). Nil otherwise.
	Fallback *Fallback
	// Loop is the loop guard's part: why it refused the call as the next turn of an
	// agent going round in circles. Nil when no loop guard refused the call.
	Loop *LoopStop
	// Rate is a rate limiter's part: how long the call waited for its limit. Nil
	// when no rate limiter took part.
	Rate *RateWait

	budget BudgetCharge // storage for Budget: it costs the call no allocation
	onDone [2]func(ctx context.Context, s *Spend)
	// more are the OnSpend hooks past the first two, behind a pointer: the Spend
	// and its context node stay within one 640-byte size class.
	more *[]func(ctx context.Context, s *Spend)
}

// LoopStop is why a loop guard refused a call: the agent's last rounds were the same
// tool call (or cycle of calls) with the same results, Repeats times in a row.
type LoopStop struct {
	// Tool is the repeated call's tool (for a cycle, its last call's).
	Tool string
	// Arguments are that call's arguments (canonical JSON when they are JSON).
	Arguments string
	// Repeats is how many times in a row the call or cycle came back the same.
	Repeats int
	// Cycle lists the tools of the repeated calls in order, ending with Tool: one
	// name when one call was repeated, k for a cycle of k calls.
	Cycle []string
}

// Fallback is a budget's switch of one call to another model.
type Fallback struct {
	// From is the model the call was meant for, skipped because the budget would
	// have denied it (or it would have left too little).
	From string
	// FromEstimate is what the call would have asked of the budget on From.
	FromEstimate uint64
}

// BudgetCharge is what a budget middleware did for one call. Amounts are in budget
// units (tokens, or money when the budget is priced) unless they say tokens.
type BudgetCharge struct {
	// Name names the budget that denied the call, else the middleware's budget (the
	// innermost context budget when the middleware has none of its own).
	Name string
	// PromptEstimate is the prompt size reserved for, in tokens: the static estimate
	// corrected by what the model's earlier calls were billed (the calibration).
	PromptEstimate uint64
	// PromptEstimateRaw is the static estimate before calibration, in tokens.
	PromptEstimateRaw uint64
	// CompletionAllowance is the completion size reserved for, in tokens.
	CompletionAllowance uint64
	// Estimate is what was asked of the budget.
	Estimate uint64
	// Reserved is what the budget granted (less than Estimate under a hard cap).
	Reserved uint64
	// Usage is the token usage charged: the provider's report (Spend.Usage) with the
	// parts it left out estimated, as UsageSource says.
	Usage Usage
	// UsageSource says how Usage was arrived at; UsageNone when nothing was charged.
	UsageSource UsageSource
	// Charged is what the settle charged (0 when the hold was released).
	Charged uint64
	// Remaining is the smallest remaining among the budgets that took part, read
	// after the settle (or reported by the denial). RemainingKnown is false when no
	// budget could report it.
	Remaining      uint64
	RemainingKnown bool
	// Denied is true when a budget refused the call; the model was not called.
	Denied bool
	// Cut is true when the answer stopped at the MaxTokens a hard cap sent
	// (middleware.HardCap): the budget could pay for no more.
	Cut bool
	// FailOpen is true when a budget's store was unavailable and the call went
	// through unaccounted because the budget fails open.
	FailOpen bool
	// SettleErr is the error of a settle (Record or Release) that failed after the
	// model had answered; the response was returned all the same.
	SettleErr error
	// Alerts are the alert thresholds of the budgets taking part that this call's
	// settle crossed, in the order they fired; each fires once per window (for a
	// shared budget, once per fleet), on the call that crossed it.
	Alerts []budget.Alert
}

// Refunded is Reserved − Charged, floored at 0.
func (c *BudgetCharge) Refunded() uint64 {
	if c.Charged >= c.Reserved {
		return 0
	}
	return c.Reserved - c.Charged
}

func init() {
	spendhook.Set(spendhook.Hooks[Spend, BudgetCharge, llms.Model, GenerateFunc]{StartBudget: startBudget, Terminal: terminal})
}

// startBudget is wrapkit.StartBudget.
func startBudget(s *Spend) *BudgetCharge {
	if s.Budget == &s.budget { // an outer budget middleware holds the storage
		s.Budget = &BudgetCharge{}
	} else {
		s.budget = BudgetCharge{}
		s.Budget = &s.budget
	}
	return s.Budget
}

func (s *Spend) init(typ string, opts []llms.CallOption) {
	s.ModelType = typ
	for _, o := range opts {
		if o != nil {
			o(&s.Options)
		}
	}
	s.Model = s.Options.Model
	if s.Model == "" {
		s.Model = callopts.UnknownModel
	}
	s.UsageMissing = MissingAll
}

// done runs the OnSpend hooks, in the order their middleware ran.
func (s *Spend) done(ctx context.Context) {
	for _, fn := range s.onDone {
		if fn == nil {
			return
		}
		fn(ctx, s)
	}
	if s.more != nil {
		for _, fn := range *s.more {
			fn(ctx, s)
		}
	}
}

type spendKey struct{}

// spendContext carries the Spend in the same allocation as the context node.
type spendContext struct {
	context.Context
	spend Spend
}

func (c *spendContext) Value(key any) any {
	if key == (spendKey{}) {
		return &c.spend
	}
	return c.Context.Value(key)
}

// SpendFrom returns the Spend of the wrapped call ctx belongs to, or nil outside one
// (a nil ctx included).
func SpendFrom(ctx context.Context) *Spend {
	if c, ok := ctx.(*spendContext); ok { // the common case: the middleware's own ctx
		return &c.spend
	}
	if ctx == nil {
		return nil
	}
	s, _ := ctx.Value(spendKey{}).(*Spend)
	return s
}

// WithModelName names the model for calls whose options don't (langchaingo models do
// not expose their model name). Put it first in Wrap's list, so that the name is set
// before any other middleware reads it. An empty name, or a call outside Wrap,
// changes nothing.
func WithModelName(name string) Middleware {
	return func(next GenerateFunc) GenerateFunc {
		if name == "" || next == nil {
			return next
		}
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			if s := SpendFrom(ctx); s != nil && s.Options.Model == "" {
				s.Model = name
			}
			return next(ctx, msgs, opts...)
		}
	}
}

// OnSpend returns middleware that has Wrap call fn with the call's Spend once the call
// is over (denied, failed or answered; not when it panicked), after every middleware
// and Wrap have written their parts. The hook is armed when the call reaches it, so
// put OnSpend first in Wrap's list to see every call, denied ones included. fn runs
// on the calling goroutine before GenerateContent returns; it must not keep the Spend
// (copy what it needs) and must be safe for concurrent use when the model is. A nil
// fn, or a call outside Wrap, does nothing.
func OnSpend(fn func(ctx context.Context, s *Spend)) Middleware {
	return func(next GenerateFunc) GenerateFunc {
		if fn == nil || next == nil {
			return next
		}
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			if s := SpendFrom(ctx); s != nil {
				s.addDone(fn)
			}
			return next(ctx, msgs, opts...)
		}
	}
}

func (s *Spend) addDone(fn func(context.Context, *Spend)) {
	for i := range s.onDone {
		if s.onDone[i] == nil {
			s.onDone[i] = fn
			return
		}
	}
	if s.more == nil {
		s.more = new([]func(context.Context, *Spend))
	}
	*s.more = append(*s.more, fn)
}
