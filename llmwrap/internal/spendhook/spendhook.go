// Package spendhook links llmwrap/wrapkit to the unexported parts of llmwrap.Spend:
// llmwrap sets the hooks in its init, wrapkit calls them. The hooks are typed by the
// caller (Get), so that this package imports neither.
package spendhook

// Hooks are the functions llmwrap lends to wrapkit. S is llmwrap.Spend, B
// llmwrap.BudgetCharge, M llms.Model and G llmwrap.GenerateFunc.
type Hooks[S, B, M, G any] struct {
	// StartBudget points s.Budget at the record kept inside s (or a fresh one when an
	// outer budget middleware holds it) and returns it.
	StartBudget func(s *S) *B
	// Terminal is the model step Wrap puts below the innermost middleware.
	Terminal func(m M) G
}

var hooks any

// Set installs h; llmwrap calls it once, in init.
func Set[S, B, M, G any](h Hooks[S, B, M, G]) { hooks = h }

// Get returns the hooks Set installed.
func Get[S, B, M, G any]() Hooks[S, B, M, G] { return hooks.(Hooks[S, B, M, G]) }
