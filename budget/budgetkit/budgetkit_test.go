package budgetkit_test

import (
	"context"
	"testing"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
)

var (
	_ budgetkit.Alerting = (*budget.Atomic)(nil)
	_ budgetkit.Named    = (*Counter)(nil)
)

// All's result is a Composite whose members are the budgets given, in order; a nil
// member is there too, as the budget that refuses (so middleware judging the members
// never skips it).
func TestAllIsAComposite(t *testing.T) {
	a, b := budget.NewAtomic(1), budget.NewAtomic(2)
	c, ok := budget.All(a, nil, b).(budgetkit.Composite)
	if !ok {
		t.Fatal("budget.All's result is not a budgetkit.Composite")
	}
	m := c.Members()
	if len(m) != 3 || m[0] != budget.TokenBudget(a) || m[2] != budget.TokenBudget(b) || m[1] == nil {
		t.Fatalf("members %v", m)
	}
	if _, err := m[1].TryReserve(context.Background(), 0); err == nil {
		t.Error("the nil member granted")
	}
}

func TestAlertReportingWithoutNotifier(t *testing.T) {
	budgetkit.ReportAlert(nil, budget.Alert{})                  //nolint:staticcheck // bad input on purpose: no panic
	budgetkit.ReportAlert(context.Background(), budget.Alert{}) // nobody listens: nothing happens
	ctx := budgetkit.NotifyAlerts(nil, nil)                     //nolint:staticcheck // a nil ctx is Background
	if ctx == nil {
		t.Fatal("NotifyAlerts(nil, nil) returned a nil context")
	}
	var got []float64
	ctx = budgetkit.NotifyAlerts(ctx, func(a budget.Alert) { got = append(got, a.Fraction) })
	budgetkit.ReportAlert(ctx, budget.Alert{Fraction: 0.5})
	if len(got) != 1 || got[0] != 0.5 {
		t.Errorf("heard %v", got)
	}
}

func TestKitOnNilReservations(t *testing.T) {
	if budgetkit.Settle(nil) || budgetkit.Settled(nil) || budgetkit.ID(nil) != "" {
		t.Error("a nil reservation settled or has an id")
	}
	r := budgetkit.NewFailOpen("me", 7)
	if !r.FailedOpen() || r.Tokens() != 7 || budgetkit.CheckIssuer(r, "me", "mine") != nil {
		t.Errorf("fail-open reservation: %v %d", r.FailedOpen(), r.Tokens())
	}
}
