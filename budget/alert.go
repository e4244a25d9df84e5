package budget

import (
	"context"
	"math"
	"slices"

	"github.com/spendguard/spendguard/budget/internal/kithook"
)

// Alert is one alert threshold crossed: the Record that made the budget's consumption
// first reach Fraction × capacity in the current window.
type Alert struct {
	// Fraction is the threshold crossed, as given to WithAlerts.
	Fraction float64
	// Snapshot is the budget right after the Record that crossed it.
	Snapshot Snapshot
}

// WithAlerts calls fn once per window for each threshold in fractions, synchronously
// in the goroutine whose Record made consumption first reach fraction × capacity
// (rounded up, at least 1 token; a fraction of 1 fires when the budget is spent). One
// Record that crosses several thresholds fires them in ascending order. The Record's
// context hears of each crossing too (budgetkit.NotifyAlerts), after fn, so that
// middleware can put it on the call that crossed it.
//
// Each WithAlerts adds its thresholds to those of an earlier one, each with its own
// fn. Fractions outside (0, 1] (NaN included) are ignored, a fraction given twice to
// one WithAlerts fires once, and past 64 thresholds in all the largest are dropped.
// fn must not block; a nil fn still reports crossings to the context.
func WithAlerts(fn func(Alert), fractions ...float64) Option {
	fs := alertFractions(fractions)
	return func(c *config) {
		for _, f := range fs {
			c.alerts = append(c.alerts, threshold{fraction: f, fn: fn})
		}
	}
}

// alertFractions keeps the valid fractions, ascending, without duplicates, at most
// kithook.MaxAlerts of them.
func alertFractions(fractions []float64) []float64 {
	var fs []float64
	for _, f := range fractions {
		if f > 0 && f <= 1 { // false for NaN
			fs = append(fs, f)
		}
	}
	slices.Sort(fs)
	fs = slices.Compact(fs)
	if len(fs) > kithook.MaxAlerts {
		fs = fs[:kithook.MaxAlerts]
	}
	return fs
}

// alertAt is the consumption at which fraction of capacity is reached: fraction ×
// capacity rounded up, at least 1 (so that a threshold is never crossed by nothing).
func alertAt(fraction float64, capacity uint64) uint64 {
	v := math.Ceil(fraction * float64(capacity))
	if v >= float64(math.MaxUint64) {
		return math.MaxUint64
	}
	return max(uint64(v), 1)
}

// alertNotifier is the function budgetkit.NotifyAlerts put in ctx, or nil.
func alertNotifier(ctx context.Context) func(Alert) {
	if ctx == nil {
		return nil
	}
	fn, _ := ctx.Value(kithook.AlertKey{}).(func(Alert))
	return fn
}

// threshold is one alert of an Atomic: at what consumption, and whom to tell.
type threshold struct {
	fraction float64
	at       uint64
	fn       func(Alert) // may be nil: only the context hears of it
}

// buildThresholds orders the thresholds of c ascending by consumption, at most
// kithook.MaxAlerts of them.
func (a *Atomic) buildThresholds(alerts []threshold) {
	ts := slices.Clone(alerts)
	for i := range ts {
		ts[i].at = alertAt(ts[i].fraction, a.capacity)
	}
	slices.SortStableFunc(ts, func(x, y threshold) int {
		switch {
		case x.at < y.at:
			return -1
		case x.at > y.at:
			return 1
		}
		return 0
	})
	if len(ts) > kithook.MaxAlerts {
		ts = ts[:kithook.MaxAlerts]
	}
	if len(ts) == 0 {
		return
	}
	a.thresholds = ts
	a.allAlerted = math.MaxUint64 >> (64 - len(ts))
	for _, t := range ts {
		a.fractions = append(a.fractions, t.fraction)
	}
	slices.Sort(a.fractions)
	a.fractions = slices.Compact(a.fractions)
}

// AlertFractions are the budget's alert thresholds (WithAlerts), ascending, each once;
// nil when there are none (and for a nil *Atomic). It implements budgetkit.Alerting.
func (a *Atomic) AlertFractions() []float64 {
	if a == nil {
		return nil
	}
	return a.fractions
}

// fireAlerts fires every threshold that consumption in w has reached and that has not
// fired in w yet; each fires once per window, to the first Record that sees it reached.
func (a *Atomic) fireAlerts(ctx context.Context, w *period) {
	consumed := w.consumedTotal()
	notify := alertNotifier(ctx)
	for i, t := range a.thresholds {
		if consumed < t.at {
			return
		}
		bit := uint64(1) << i
		if w.alerted.Or(bit)&bit != 0 {
			continue // fired before
		}
		al := Alert{Fraction: t.fraction, Snapshot: a.snapshot(w)}
		if t.fn != nil {
			t.fn(al)
		}
		if notify != nil {
			notify(al)
		}
	}
}
