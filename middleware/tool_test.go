package middleware_test

import (
	"context"
	"errors"
	"testing"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/middleware"
)

type echoTool struct {
	calls int
	err   error
	panic bool
}

func (*echoTool) Name() string        { return "echo" }
func (*echoTool) Description() string { return "echoes its input" }
func (e *echoTool) Call(_ context.Context, in string) (string, error) {
	e.calls++
	if e.panic {
		panic("tool bug")
	}
	return in, e.err
}

func TestGuardToolSpendsAndDenies(t *testing.T) {
	ctx := context.Background()
	tool := &echoTool{}
	g := budget.NewAtomicGuard(5)
	gt := middleware.GuardTool(tool, g, 2)
	if gt.Name() != "echo" || gt.Description() != "echoes its input" {
		t.Errorf("name %q description %q", gt.Name(), gt.Description())
	}
	for i := 0; i < 2; i++ {
		if out, err := gt.Call(ctx, "hi"); err != nil || out != "hi" {
			t.Fatalf("call %d: %q %v", i, out, err)
		}
	}
	if g.Used() != 4 {
		t.Errorf("used = %d, want 4 (units stay spent after a call)", g.Used())
	}
	_, err := gt.Call(ctx, "hi")
	var d *middleware.ToolDeniedError
	if !errors.As(err, &d) || !errors.Is(err, budget.ErrDenied) || d.Tool != "echo" || d.Requested != 2 || d.Remaining != 1 {
		t.Fatalf("err = %#v", err)
	}
	if tool.calls != 2 {
		t.Errorf("tool called %d times", tool.calls)
	}
}

func TestGuardToolErrorStillSpends(t *testing.T) {
	boom := errors.New("tool failed")
	tool := &echoTool{err: boom}
	g := budget.NewAtomicGuard(5)
	if _, err := middleware.GuardTool(tool, g, 1).Call(context.Background(), "x"); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if g.Used() != 1 {
		t.Errorf("used = %d", g.Used())
	}
}

func TestGuardToolPanicReleases(t *testing.T) {
	tool := &echoTool{panic: true}
	g := budget.NewAtomicGuard(5)
	func() {
		defer func() {
			if r := recover(); r != "tool bug" {
				t.Errorf("recovered %v", r)
			}
		}()
		_, _ = middleware.GuardTool(tool, g, 3).Call(context.Background(), "x")
	}()
	if g.Used() != 0 {
		t.Errorf("used = %d after a panic", g.Used())
	}
}

type brokenGuard struct{}

func (brokenGuard) TryAcquire(context.Context, uint64) (bool, error) {
	return false, budget.ErrUnavailable
}
func (brokenGuard) Release(context.Context, uint64) error { return nil }

func TestGuardToolBadInput(t *testing.T) {
	ctx := context.Background()
	tool := &echoTool{}
	if _, err := middleware.GuardTool(tool, brokenGuard{}, 1).Call(ctx, "x"); !errors.Is(err, budget.ErrUnavailable) {
		t.Errorf("broken guard: %v", err)
	}
	if _, err := middleware.GuardTool(nil, budget.NewAtomicGuard(1), 1).Call(ctx, "x"); err == nil {
		t.Error("nil tool: no error")
	}
	if _, err := middleware.GuardTool(tool, nil, 1).Call(ctx, "x"); err == nil {
		t.Error("nil guard: no error")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	g := budget.NewAtomicGuard(1)
	if _, err := middleware.GuardTool(tool, g, 1).Call(cancelled, "x"); !errors.Is(err, context.Canceled) || g.Used() != 0 {
		t.Errorf("cancelled: %v, used %d", err, g.Used())
	}
	if tool.calls != 0 {
		t.Errorf("tool called %d times", tool.calls)
	}
	if n := middleware.GuardTool(nil, nil, 0); n.Name() != "" || n.Description() != "" {
		t.Error("nil tool has a name")
	}
}
