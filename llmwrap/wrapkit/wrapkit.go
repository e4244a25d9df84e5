// Package wrapkit is for authors of middleware that take part in a call's budget the
// way middleware.Budget does; users of spendguard never need it.
//
// A middleware writes only its own part of the call's llmwrap.Spend. StartBudget
// gives a budget middleware its part without an allocation, StartFallback records a
// switch to another model, and Terminal calls another model as Wrap calls the wrapped
// one, so that the Spend records the call the same way.
package wrapkit

import (
	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/internal/spendhook"
)

var hooks = spendhook.Get[llmwrap.Spend, llmwrap.BudgetCharge, llms.Model, llmwrap.GenerateFunc]()

// StartBudget sets s.Budget to a zeroed BudgetCharge and returns it, for a budget
// middleware about to reserve. The record lives inside the Spend, so it costs the
// call no allocation; when budget middleware are stacked, each gets a record of its
// own and s.Budget ends on the innermost one's. s must not be nil.
func StartBudget(s *llmwrap.Spend) *llmwrap.BudgetCharge { return hooks.StartBudget(s) }

// StartFallback records that the call, meant for s.Model, goes to the model called
// name (of Go type typ) instead: s.Fallback.From becomes the old s.Model, and s.Model
// and s.ModelType the new ones. Only the first switch of a call sets From; a later
// one (to a further alternative) only changes Model. It returns s.Fallback, which is
// allocated on a fallback only. s must not be nil.
func StartFallback(s *llmwrap.Spend, name, typ string, fromEstimate uint64) *llmwrap.Fallback {
	if s.Fallback == nil {
		s.Fallback = &llmwrap.Fallback{From: s.Model, FromEstimate: fromEstimate}
	}
	s.Model, s.ModelType = name, typ
	return s.Fallback
}

// Terminal returns the model step Wrap puts below its innermost middleware: it calls
// m.GenerateContent and records in the call's Spend that the model was called (Sent),
// with which completion limit (MaxTokens, from the opts it is passed), and the usage
// the provider reported (Usage, UsageMissing). A middleware that sends a call to
// another model than the one wrapped (a budget's fallback) calls it through Terminal.
// Outside a wrapped call (no Spend in ctx) it only calls m. A nil m gives a
// GenerateFunc that returns an error.
func Terminal(m llms.Model) llmwrap.GenerateFunc { return hooks.Terminal(m) }
