package middleware

import (
	"context"
	"errors"
	"fmt"

	"github.com/tmc/langchaingo/tools"

	"github.com/spendguard/spendguard/budget"
)

// ToolDeniedError is what a guarded tool returns when its guard has too few units
// left; the tool was not called. It matches budget.ErrDenied under errors.Is, so a
// run stopped by a tool guard reads like one stopped by a token budget, and
// errors.As(err, &*ToolDeniedError) tells which tool it was.
type ToolDeniedError struct {
	Tool      string // the tool's name
	Requested uint64 // units the dispatch needed
	Remaining uint64 // units the guard had left (0 when it cannot say)
}

// Error names the tool and says what was requested and what was left.
func (e *ToolDeniedError) Error() string {
	return fmt.Sprintf("middleware: tool %q denied by its guard: requested %d, %d remaining", e.Tool, e.Requested, e.Remaining)
}

// Is reports whether target is budget.ErrDenied.
func (e *ToolDeniedError) Is(target error) bool { return target == budget.ErrDenied }

// GuardTool returns t limited by g: every Call first acquires cost units from g, and
// when g has too few left it returns a *ToolDeniedError (errors.Is(err,
// budget.ErrDenied)) without calling t. An agent executor returns that error from its
// Call, which ends the run.
//
// The units pay for the dispatch, not for its success: they stay spent after t
// returns, with or without an error. Only a panic in t gives them back (the dispatch
// did not finish, and the panic goes on); so does a cancelled context seen before t
// is called. A failure of g itself (an error from TryAcquire) is returned wrapped, and
// t is not called.
//
// Name and Description are t's. A nil t or g gives a tool whose Call returns an error.
// A cost of 0 is granted while g has anything left.
func GuardTool(t tools.Tool, g budget.Guard, cost uint64) tools.Tool {
	return &guardedTool{t: t, g: g, cost: cost}
}

type guardedTool struct {
	t    tools.Tool
	g    budget.Guard
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

// Call acquires the tool's cost from the guard, then calls the tool.
func (gt *guardedTool) Call(ctx context.Context, input string) (string, error) {
	if gt.t == nil {
		return "", errors.New("middleware: GuardTool was given a nil tool")
	}
	name := gt.t.Name()
	if gt.g == nil {
		return "", fmt.Errorf("middleware: GuardTool for tool %q was given a nil guard", name)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	ok, err := gt.g.TryAcquire(ctx, gt.cost)
	if err != nil {
		return "", fmt.Errorf("middleware: guard of tool %q: %w", name, err)
	}
	if !ok {
		d := &ToolDeniedError{Tool: name, Requested: gt.cost}
		if r, ok := gt.g.(budget.RemainingReader); ok {
			d.Remaining = r.Remaining()
		}
		return "", d
	}
	returned := false
	defer func() {
		if !returned { // the tool panicked: give the units back, the panic goes on
			_ = gt.g.Release(context.WithoutCancel(ctx), gt.cost)
		}
	}()
	out, err := gt.t.Call(ctx, input)
	returned = true
	return out, err
}

// Unwrap returns the guarded tool.
func (gt *guardedTool) Unwrap() tools.Tool { return gt.t }
