package sdktest_test

import (
	"context"
	"errors"
	"testing"

	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/conv"
	sgotel "github.com/spendguard/spendguard/otel"
)

func gaugeValues(t *testing.T, rm metricdata.ResourceMetrics) map[string]map[string]int64 {
	t.Helper()
	out := map[string]map[string]int64{}
	for _, name := range []string{conv.BudgetRemainingMetric, conv.BudgetConsumedMetric, conv.BudgetHeldMetric, conv.BudgetCapacityMetric} {
		m, ok := findMetric(rm, name)
		if !ok {
			continue
		}
		if m.Unit != "{token}" {
			t.Errorf("%s unit %q", name, m.Unit)
		}
		for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
			a := setAttrs(p.Attributes)
			if len(a) != 1 {
				t.Errorf("%s attributes %v", name, a)
			}
			if out[name] == nil {
				out[name] = map[string]int64{}
			}
			out[name][a["spendguard.budget.name"].(string)] = p.Value
		}
	}
	return out
}

func TestObserveBudget(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := budget.NewAtomic(1000, budget.WithName("team"))
	r1, _ := b.TryReserve(ctx, 100)
	r2, _ := b.TryReserve(ctx, 50)
	if err := b.Record(ctx, r1, 30, 10); err != nil {
		t.Fatal(err)
	}
	stop, err := sgotel.ObserveBudget(b, e.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	got := gaugeValues(t, e.collect(t))
	want := map[string]map[string]int64{
		conv.BudgetRemainingMetric: {"team": 1000 - 40 - 50},
		conv.BudgetConsumedMetric:  {"team": 40},
		conv.BudgetHeldMetric:      {"team": 50},
		conv.BudgetCapacityMetric:  {"team": 1000},
	}
	if !equalGauges(got, want) {
		t.Errorf("gauges = %v, want %v", got, want)
	}
	_ = b.Release(ctx, r2)
	if got := gaugeValues(t, e.collect(t)); got[conv.BudgetHeldMetric]["team"] != 0 || got[conv.BudgetRemainingMetric]["team"] != 960 {
		t.Errorf("after release: %v", got)
	}
	stop()
	stop() // twice is fine
	if got := gaugeValues(t, e.collect(t)); len(got) != 0 {
		t.Errorf("gauges after stop: %v", got)
	}
}

func equalGauges(a, b map[string]map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, m := range a {
		if len(m) != len(b[k]) {
			return false
		}
		for n, v := range m {
			if w, ok := b[k][n]; !ok || w != v {
				return false
			}
		}
	}
	return true
}

type failingBudget struct{ calls int }

func (f *failingBudget) Snapshot(context.Context) (budget.Snapshot, error) {
	f.calls++
	if f.calls == 1 {
		return budget.Snapshot{}, errors.New("store down")
	}
	return budget.Snapshot{Name: "flaky", Capacity: 7, Remaining: 7}, nil
}

type errHandler struct{ errs []error }

func (h *errHandler) Handle(err error) { h.errs = append(h.errs, err) }

func TestObserveBudgetSkipsFailedSnapshots(t *testing.T) {
	h := &errHandler{}
	prev := gotel.GetErrorHandler()
	gotel.SetErrorHandler(h)
	defer gotel.SetErrorHandler(prev)

	e := newEnv(t)
	f := &failingBudget{}
	stop, err := sgotel.ObserveBudget(f, e.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if got := gaugeValues(t, e.collect(t)); len(got) != 0 {
		t.Errorf("points from a failed snapshot: %v", got)
	}
	if len(h.errs) != 1 || h.errs[0].Error() != "store down" {
		t.Errorf("handled errors %v", h.errs)
	}
	if got := gaugeValues(t, e.collect(t)); got[conv.BudgetCapacityMetric]["flaky"] != 7 {
		t.Errorf("the next collection did not recover: %v", got)
	}
}

func TestObserveBudgetNil(t *testing.T) {
	if stop, err := sgotel.ObserveBudget(nil); err == nil || stop != nil {
		t.Errorf("nil budget: stop is nil %v, err %v", stop == nil, err)
	}
}

func TestObserveBudgetTypedNil(t *testing.T) {
	h := &errHandler{}
	prev := gotel.GetErrorHandler()
	gotel.SetErrorHandler(h)
	defer gotel.SetErrorHandler(prev)

	e := newEnv(t)
	var b *budget.Atomic
	stop, err := sgotel.ObserveBudget(b, e.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if got := gaugeValues(t, e.collect(t)); len(got) != 0 {
		t.Errorf("points from a nil budget: %v", got)
	}
	if len(h.errs) != 1 {
		t.Errorf("handled errors %v", h.errs)
	}
}
