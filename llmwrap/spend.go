package llmwrap

import (
	"context"

	"github.com/tmc/langchaingo/llms"
)

// UsageSource says where a Spend's usage came from.
type UsageSource string

const (
	// UsageNone: the call was not charged (denied, failed, or no budget took part).
	UsageNone UsageSource = ""
	// UsageReported: the provider reported the usage.
	UsageReported UsageSource = "reported"
	// UsageEstimated: the provider reported none, so it was estimated from the
	// prompt and the response text.
	UsageEstimated UsageSource = "estimated"
)

// UnknownModel is Spend.Model when neither the call's options nor WithModelName name
// the model.
const UnknownModel = "unknown"

// Spend is the record of one wrapped call. Wrap creates it before the first middleware
// runs; middleware fill it in as the call goes; the caller can read it after the call
// through a middleware of its own, or by passing its own context value.
//
// A Spend belongs to one call and is written by the goroutine running the call; read
// it only from that goroutine, or after GenerateContent has returned.
type Spend struct {
	// Model is the call's CallOptions.Model, else the name given by WithModelName,
	// else UnknownModel.
	Model string
	// ModelType is the wrapped model's Go type, such as "*openai.LLM".
	ModelType string
	// Options are the call's options as the caller gave them.
	Options llms.CallOptions
	// MaxTokens is the completion limit actually sent to the provider (0: none). A
	// hard cap lowers it.
	MaxTokens int

	// Budgeted is true when a budget took part in the call; the fields below it are
	// meaningful only then.
	Budgeted bool
	// BudgetName names the budget that denied the call, else the middleware's budget.
	BudgetName string
	// PromptEstimate is the estimated prompt size in tokens.
	PromptEstimate uint64
	// CompletionAllowance is the completion size reserved for, in tokens.
	CompletionAllowance uint64
	// Estimate is what was asked of the budget (in budget units: tokens, or cost when
	// the budget is priced).
	Estimate uint64
	// Reserved is what the budget granted (less than Estimate under a hard cap).
	Reserved uint64
	// Charged is what the settle charged (0 when the hold was released).
	Charged uint64
	// Usage is the usage charged: reported by the provider, or estimated.
	Usage Usage
	// UsageSource says where Usage came from.
	UsageSource UsageSource
	// Denied is true when the budget refused the call; the provider was not called.
	Denied bool
	// Remaining is the smallest remaining among the budgets that took part, read
	// after the settle. RemainingKnown is false when no budget could report it.
	Remaining      uint64
	RemainingKnown bool
	// FailOpen is true when a budget was unavailable and the call went through
	// anyway because the budget was configured to fail open.
	FailOpen bool

	// SettleErr is the error of a settle (Record or Release) that failed after the
	// model had answered; the response was returned all the same.
	SettleErr error

	// Err is the error the call returned, set by Wrap when the chain returns.
	Err error
}

// Refunded is Reserved − Charged, floored at 0.
func (s *Spend) Refunded() uint64 {
	if s.Charged >= s.Reserved {
		return 0
	}
	return s.Reserved - s.Charged
}

// NewSpend returns the Spend that Wrap would create for a call with opts, for a
// middleware that runs outside Wrap (SpendFrom returned nil) and still needs the
// parsed options. Its ModelType is empty. Nil options are skipped.
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
	s.MaxTokens = s.Options.MaxTokens
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

// SpendFrom returns the Spend of the wrapped call ctx belongs to, or nil outside one.
func SpendFrom(ctx context.Context) *Spend {
	if ctx == nil {
		return nil
	}
	if c, ok := ctx.(*spendContext); ok { // the common case: the middleware's own ctx
		return &c.spend
	}
	s, _ := ctx.Value(spendKey{}).(*Spend)
	return s
}

// WithModelName names the model for calls whose options don't (langchaingo models do
// not expose their model name). Put it first in Wrap's list, so that the name is set
// before any other middleware reads it.
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
