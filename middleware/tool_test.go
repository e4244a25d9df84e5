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

func consumed(t *testing.T, b *budget.Atomic) (consumed, held uint64) {
	t.Helper()
	s, err := b.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.Consumed, s.Held
}

func TestGuardToolSpendsAndDenies(t *testing.T) {
	ctx := context.Background()
	tool := &echoTool{}
	b := budget.NewAtomic(5, budget.WithName("dispatches"))
	gt := middleware.GuardTool(tool, b, 2)
	if gt.Name() != "echo" || gt.Description() != "echoes its input" {
		t.Errorf("name %q description %q", gt.Name(), gt.Description())
	}
	for i := 0; i < 2; i++ {
		if out, err := gt.Call(ctx, "hi"); err != nil || out != "hi" {
			t.Fatalf("call %d: %q %v", i, out, err)
		}
	}
	if c, h := consumed(t, b); c != 4 || h != 0 {
		t.Errorf("consumed %d, held %d, want 4 and 0 (the cost is recorded after each call)", c, h)
	}
	_, err := gt.Call(ctx, "hi")
	var d *middleware.ToolDeniedError
	if !errors.As(err, &d) || !errors.Is(err, budget.ErrDenied) || d.Tool != "echo" || d.Budget != "dispatches" || d.Requested != 2 || d.Remaining != 1 {
		t.Fatalf("err = %#v", err)
	}
	if tool.calls != 2 {
		t.Errorf("tool called %d times", tool.calls)
	}
}

// A tool priced per call is charged to the money budget the model calls share, in
// its micro-units: web search at $10 per 1,000 calls is 10,000 micro-USD a call.
func TestGuardToolChargesAMoneyBudget(t *testing.T) {
	ctx := context.Background()
	money := budget.NewAtomic(25_000, budget.WithName("money")) // 2.5 cents
	search := middleware.GuardTool(&echoTool{}, money, 10_000)
	for i := 0; i < 2; i++ {
		if _, err := search.Call(ctx, "q"); err != nil {
			t.Fatal(err)
		}
	}
	var d *middleware.ToolDeniedError
	if _, err := search.Call(ctx, "q"); !errors.As(err, &d) || d.Budget != "money" || d.Remaining != 5_000 {
		t.Fatalf("third search: %v", err)
	}
	if c, _ := consumed(t, money); c != 20_000 {
		t.Errorf("consumed %d micro-USD, want 20000", c)
	}
}

// The context's budgets and the tool's own combine all-or-nothing through budget.All.
func TestGuardToolWithAll(t *testing.T) {
	ctx := context.Background()
	run, global := budget.NewAtomic(1, budget.WithName("run")), budget.NewAtomic(100, budget.WithName("global"))
	gt := middleware.GuardTool(&echoTool{}, budget.All(global, run), 1)
	if _, err := gt.Call(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	var d *middleware.ToolDeniedError
	if _, err := gt.Call(ctx, "x"); !errors.As(err, &d) || d.Budget != "run" {
		t.Fatalf("err = %v", err)
	}
	if c, h := consumed(t, global); c != 1 || h != 0 {
		t.Errorf("global: consumed %d held %d; the denied call must leave nothing held", c, h)
	}
}

func TestGuardToolErrorStillSpends(t *testing.T) {
	boom := errors.New("tool failed")
	tool := &echoTool{err: boom}
	b := budget.NewAtomic(5)
	if _, err := middleware.GuardTool(tool, b, 1).Call(context.Background(), "x"); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if c, h := consumed(t, b); c != 1 || h != 0 {
		t.Errorf("consumed %d held %d, want 1 and 0: a failed dispatch still pays", c, h)
	}
}

func TestGuardToolPanicReleases(t *testing.T) {
	tool := &echoTool{panic: true}
	b := budget.NewAtomic(5)
	func() {
		defer func() {
			if r := recover(); r != "tool bug" {
				t.Errorf("recovered %v", r)
			}
		}()
		_, _ = middleware.GuardTool(tool, b, 3).Call(context.Background(), "x")
	}()
	if c, h := consumed(t, b); c != 0 || h != 0 {
		t.Errorf("consumed %d held %d after a panic, want 0 and 0", c, h)
	}
}

// brokenSettle grants, then cannot record.
type brokenSettle struct{ budget.TokenBudget }

func (b brokenSettle) Record(context.Context, *budget.Reservation, uint64, uint64) error {
	return budget.ErrUnavailable
}

type brokenReserve struct{ budget.TokenBudget }

func (brokenReserve) TryReserve(context.Context, uint64) (*budget.Reservation, error) {
	return nil, budget.ErrUnavailable
}

func TestGuardToolBadInput(t *testing.T) {
	ctx := context.Background()
	tool := &echoTool{}
	if _, err := middleware.GuardTool(tool, brokenReserve{}, 1).Call(ctx, "x"); !errors.Is(err, budget.ErrUnavailable) || errors.Is(err, budget.ErrDenied) {
		t.Errorf("broken budget: %v", err)
	}
	if _, err := middleware.GuardTool(nil, budget.NewAtomic(1), 1).Call(ctx, "x"); err == nil {
		t.Error("nil tool: no error")
	}
	for _, nb := range []budget.TokenBudget{nil, (*budget.Atomic)(nil)} {
		if _, err := middleware.GuardTool(tool, nb, 1).Call(ctx, "x"); !errors.Is(err, budget.ErrNilBudget) {
			t.Errorf("nil budget %T: %v", nb, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	b := budget.NewAtomic(1)
	if _, err := middleware.GuardTool(tool, b, 1).Call(cancelled, "x"); !errors.Is(err, context.Canceled) || b.Remaining() != 1 {
		t.Errorf("cancelled: %v, remaining %d", err, b.Remaining())
	}
	if tool.calls != 0 {
		t.Errorf("tool called %d times", tool.calls)
	}
	if n := middleware.GuardTool(nil, nil, 0); n.Name() != "" || n.Description() != "" {
		t.Error("nil tool has a name")
	}

	// A settle that fails after the tool ran: the output comes back with the error.
	out, err := middleware.GuardTool(tool, brokenSettle{budget.NewAtomic(5)}, 1).Call(ctx, "kept")
	if out != "kept" || !errors.Is(err, budget.ErrUnavailable) || tool.calls != 1 {
		t.Errorf("failed settle: %q %v (calls %d)", out, err, tool.calls)
	}
}
