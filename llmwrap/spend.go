package llmwrap

import (
	"context"

	"github.com/tmc/langchaingo/llms"
)

// UsageSource says where a Spend's usage came from.
type UsageSource string

const (
	// UsageNone: no usage is known (the call was not sent, failed without a report,
	// or the provider reported none and no budget estimated it).
	UsageNone UsageSource = ""
	// UsageReported: the provider reported the usage.
	UsageReported UsageSource = "reported"
	// UsageEstimated: the provider reported none, so it was estimated from the
	// prompt and the response text.
	UsageEstimated UsageSource = "estimated"
	// UsagePartial: the provider reported part of the usage only (ReportedUsage: a
	// completion of 0 next to output, or a prompt of 0, as langchaingo's googleai
	// client reports every streamed call). The reported part is kept; a budget
	// estimates the missing part (Spend.UsageMissing says which), which is 0 when no
	// budget took part.
	UsagePartial UsageSource = "partial"
)

// UnknownModel is Spend.Model when neither the call's options nor WithModelName name
// the model.
const UnknownModel = "unknown"

// Spend is the record of one wrapped call. Wrap creates it before the first middleware
// runs and fills in the common facts of the call; each middleware owns a part of its
// own (Budget, for middleware.Budget), nil when it took no part. Read it after the
// call with OnSpend, or from a middleware of your own through SpendFrom.
//
// A Spend belongs to one call and is written by the goroutine running the call; read
// it only from that goroutine, or after GenerateContent has returned.
type Spend struct {
	// Model is the call's CallOptions.Model, else the name given by WithModelName,
	// else UnknownModel. When a budget sent the call to another model (Fallback), it
	// is that model's name.
	Model string
	// ModelType is the Go type of the model Model names, such as "*openai.LLM".
	ModelType string
	// Options are the call's options as the caller gave them; nothing changes them
	// during the call. Middleware that need the options actually sent resolve the
	// opts they are passed.
	Options llms.CallOptions

	// Sent is true when the wrapped model was called: the request may have reached
	// the provider. A call denied by a middleware was not sent.
	Sent bool
	// MaxTokens is the completion limit the model was called with (0: none), as the
	// options reaching it said, after every middleware (a hard cap lowers it).
	MaxTokens int
	// Usage is the call's token usage: what the provider reported (set by Wrap when
	// the model returns) or, when it reported none, a budget's estimate.
	Usage Usage
	// UsageSource says where Usage came from.
	UsageSource UsageSource
	// UsageMissing says which parts of Usage the provider did not report, once the
	// model has returned (MissingAll when it reported nothing); a budget estimated
	// them.
	UsageMissing Missing
	// Err is the error the call returned, set by Wrap when the chain returns.
	Err error

	// Budget is middleware.Budget's part of the call: what it estimated, reserved
	// and charged. Nil when no budget took part.
	Budget *BudgetCharge
	// Fallback is set when a budget sent the call to another model than the one it
	// was meant for (middleware.WithFallback): Model is then the model called, or,
	// for a call no model fitted, the last one the budget tried. Nil otherwise.
	Fallback *Fallback

	// Loop is the loop guard's part (loopguard.New): why it refused the call as the
	// next turn of an agent going round in circles. Nil when no loop guard refused the
	// call.
	Loop *LoopStop

	budget BudgetCharge // storage for Budget: it costs the call no allocation
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

// StartFallback records that the call, meant for s.Model, goes to the model called
// name (of Go type typ) instead: s.Fallback.From becomes the old s.Model, and
// s.Model and s.ModelType the new ones. Only the first switch of a call sets From;
// a later one (to a further alternative) only changes Model. It returns s.Fallback.
// (It is allocated on a fallback, rather than kept inside every Spend, so that calls
// that never fall back stay as small as before.)
func (s *Spend) StartFallback(name, typ string, fromEstimate uint64) *Fallback {
	if s.Fallback == nil {
		s.Fallback = &Fallback{From: s.Model, FromEstimate: fromEstimate}
	}
	s.Model, s.ModelType = name, typ
	return s.Fallback
}

// BudgetCharge is what a budget middleware did for one call. Amounts are in budget
// units: tokens, or money when the budget is priced.
type BudgetCharge struct {
	// Name names the budget that denied the call, else the middleware's budget (the
	// innermost context budget when the middleware has none of its own).
	Name string
	// PromptEstimate is the prompt size reserved for, in tokens: the static estimate
	// corrected by what the model's earlier calls were billed (the calibration).
	PromptEstimate uint64
	// PromptEstimateRaw is the static estimate (the estimator's, under the
	// provider's rules) before calibration; equal to PromptEstimate for a model not
	// yet calibrated or with calibration off.
	PromptEstimateRaw uint64
	// CompletionAllowance is the completion size reserved for, in tokens.
	CompletionAllowance uint64
	// Estimate is what was asked of the budget.
	Estimate uint64
	// Reserved is what the budget granted (less than Estimate under a hard cap).
	Reserved uint64
	// Charged is what the settle charged (0 when the hold was released).
	Charged uint64
	// Remaining is the smallest remaining among the budgets that took part, read
	// after the settle (or reported by the denial). RemainingKnown is false when no
	// budget could report it.
	Remaining      uint64
	RemainingKnown bool
	// Denied is true when a budget refused the call; the model was not called.
	Denied bool
	// FailOpen is true when a budget's store was unavailable and the call went
	// through unaccounted because the budget fails open.
	FailOpen bool
	// SettleErr is the error of a settle (Record or Release) that failed after the
	// model had answered; the response was returned all the same.
	SettleErr error
	// Alerts are the alert thresholds of the budgets taking part that this call's
	// settle crossed (budget.WithAlerts), in the order they fired; each fires once
	// per window (for a shared budget, once per fleet), on the call that crossed it.
	Alerts []Alert
}

// Alert is one budget alert threshold crossed by a call's settle.
type Alert struct {
	Budget   string  // the budget's name
	Fraction float64 // the threshold, as a fraction of Capacity
	Consumed uint64  // what the budget had consumed once the call was settled
	Capacity uint64
}

// Refunded is Reserved − Charged, floored at 0.
func (c *BudgetCharge) Refunded() uint64 {
	if c.Charged >= c.Reserved {
		return 0
	}
	return c.Reserved - c.Charged
}

// StartBudget sets s.Budget to a zeroed BudgetCharge and returns it, for a budget
// middleware about to reserve. The record lives inside the Spend, so it costs the
// call no allocation. When budget middleware are stacked, the innermost one's record
// is the one s.Budget ends on.
func (s *Spend) StartBudget() *BudgetCharge {
	if s.Budget == &s.budget { // an outer budget middleware holds the storage
		s.Budget = &BudgetCharge{}
	} else {
		s.Budget = &s.budget
	}
	return s.Budget
}

// NewSpend returns the Spend that Wrap would create for a call with opts, for a
// middleware that runs outside Wrap (SpendFrom returned nil) and still needs one. Its
// ModelType is empty. Nil options are skipped.
func NewSpend(opts ...llms.CallOption) *Spend {
	s := &Spend{}
	s.init("", opts)
	return s
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
		s.Model = UnknownModel
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
// before any other middleware reads it. An empty name changes nothing.
func WithModelName(name string) Middleware {
	return func(next GenerateFunc) GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			if s := SpendFrom(ctx); s != nil && s.Options.Model == "" && name != "" {
				s.Model = name
			}
			return next(ctx, msgs, opts...)
		}
	}
}

// OnSpend returns middleware that calls fn with the call's Spend once the call is
// over: denied, failed or answered (not when it panicked). Put it first in Wrap's
// list, so that the Spend it sees holds what every other middleware wrote. fn runs on
// the calling goroutine before GenerateContent returns; it must not keep the Spend
// (copy what it needs) and must be safe for concurrent use when the model is. A nil
// fn gives middleware that does nothing.
func OnSpend(fn func(ctx context.Context, s *Spend)) Middleware {
	return func(next GenerateFunc) GenerateFunc {
		if fn == nil {
			return next
		}
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			resp, err := next(ctx, msgs, opts...)
			if s := SpendFrom(ctx); s != nil {
				s.Err = callError(resp, err)
				fn(ctx, s)
			}
			return resp, err
		}
	}
}
