package middleware

import (
	"context"
	"errors"
	"fmt"

	"github.com/spendguard/spendguard/budget"
)

// ToolDeniedError is what a guarded tool returns when its budget has too little left
// for the dispatch; the tool was not called. It matches budget.ErrDenied under
// errors.Is, so a run stopped by a tool's budget reads like one stopped by a model
// call's, and errors.As(err, &*ToolDeniedError) tells which tool it was.
type ToolDeniedError struct {
	Tool      string // the tool's name
	Budget    string // the budget that said no (the member of a budget.All that did)
	Requested uint64 // the dispatch's cost, in the budget's units
	Remaining uint64 // what the budget had left at that instant
}

// Error names the tool and the budget and says what was requested and what was left.
func (e *ToolDeniedError) Error() string {
	return fmt.Sprintf("middleware: tool %q denied by budget %q: requested %d, %d remaining", e.Tool, e.Budget, e.Requested, e.Remaining)
}

// Is reports whether target is budget.ErrDenied.
func (e *ToolDeniedError) Is(target error) bool { return target == budget.ErrDenied }

// GuardTool returns t charged to b: every Call first reserves cost from b, in b's
// units (1 per dispatch for a budget that counts dispatches; the price of one call in
// micro-units for a money budget, so that a tool priced per call shares the money
// budget of the model calls). When b has too little left, Call returns a
// *ToolDeniedError (errors.Is(err, budget.ErrDenied)) without calling t; an agent
// executor returns that error from its Call, which ends the run.
//
// The cost pays for the dispatch, not for its success: once t returns, with or without
// an error, the reservation is recorded as cost units of usage, so a tool that keeps
// failing still runs its budget down. Only a panic in t releases it (the dispatch did
// not finish; the panic goes on). A context already cancelled when Call starts
// reserves nothing and returns its error. The settle runs on context.WithoutCancel(ctx);
// when it fails, Call returns t's output and the settle's error joined to t's.
//
// An error of b itself (budget.ErrUnavailable; budget.ErrNilBudget for a nil or
// typed-nil b) is returned wrapped, and t is not called. Name and Description are
// t's. A nil t gives a tool whose Call returns an error. A cost of 0 is granted while
// b has anything left.
//
// The tool is anything with langchaingo's tools.Tool methods (a tools.Tool value
// passes, and the result is one): the interface is spelled out rather than named so
// that this package does not import langchaingo/tools, whose calculator pulls the
// Starlark interpreter (and its tests' dependencies) into every user's download.
func GuardTool(t interface {
	Name() string
	Description() string
	Call(ctx context.Context, input string) (string, error)
}, b budget.TokenBudget, cost uint64) interface {
	Name() string
	Description() string
	Call(ctx context.Context, input string) (string, error)
} {
	return &guardedTool{t: t, b: budget.All(b), cost: cost}
}

// tool has the method set of langchaingo's tools.Tool (see GuardTool).
type tool = interface {
	Name() string
	Description() string
	Call(ctx context.Context, input string) (string, error)
}

type guardedTool struct {
	t    tool
	b    budget.TokenBudget // never nil: budget.All stands in for a nil one
	cost uint64
}

// Name is the guarded tool's name ("" for a nil tool).
func (gt *guardedTool) Name() string {
	if gt.t == nil {
		return ""
	}
	return gt.t.Name()
}

// Description is the guarded tool's description ("" for a nil tool).
func (gt *guardedTool) Description() string {
	if gt.t == nil {
		return ""
	}
	return gt.t.Description()
}

// Call reserves the tool's cost from the budget, calls the tool, and records the cost.
func (gt *guardedTool) Call(ctx context.Context, input string) (string, error) {
	if gt.t == nil {
		return "", errors.New("middleware: GuardTool was given a nil tool")
	}
	name := gt.t.Name()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	r, err := gt.b.TryReserve(ctx, gt.cost)
	if err != nil {
		var d *budget.DeniedError
		if errors.As(err, &d) {
			return "", &ToolDeniedError{Tool: name, Budget: d.Budget, Requested: gt.cost, Remaining: d.Remaining}
		}
		return "", fmt.Errorf("middleware: budget of tool %q: %w", name, err)
	}
	sctx := context.WithoutCancel(ctx)
	returned := false
	defer func() {
		if !returned { // the tool panicked: give the cost back, the panic goes on
			_ = gt.b.Release(sctx, r)
		}
	}()
	out, err := gt.t.Call(ctx, input)
	returned = true
	if serr := gt.b.Record(sctx, r, gt.cost, 0); serr != nil {
		err = errors.Join(err, fmt.Errorf("middleware: recording the cost of tool %q: %w", name, serr))
	}
	return out, err
}

// Unwrap returns the guarded tool.
func (gt *guardedTool) Unwrap() interface {
	Name() string
	Description() string
	Call(ctx context.Context, input string) (string, error)
} {
	return gt.t
}
