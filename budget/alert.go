package budget

import (
	"context"
	"math"
	"slices"

	"github.com/spendguard/spendguard/budget/internal/kithook"
)

// MaxAlerts is the most alert thresholds a budget keeps; WithAlerts ignores the rest.
const MaxAlerts = 64

// Alert is one alert threshold crossed: the Record that made the budget's consumption
// first reach Fraction × capacity in the current window.
type Alert struct {
	// Fraction is the threshold crossed, as given to WithAlerts.
	Fraction float64
	// Snapshot is the budget right after the Record that crossed it.
	Snapshot Snapshot
}

// Alerting is implemented by budgets that have alert thresholds (WithAlerts).
// Middleware asks it so that it prepares to note crossings (NotifyAlerts) only for
// budgets that may report one.
type Alerting interface {
	// AlertFractions are the thresholds, ascending; empty when there are none.
	AlertFractions() []float64
}

// WithAlerts calls fn once per window for each threshold in fractions, synchronously
// in the goroutine whose Record made consumption first reach fraction × capacity
// (rounded up, at least 1 token). One Record that crosses several thresholds fires them
// in ascending order. The Record's context also hears of each crossing (NotifyAlerts),
// so that middleware can put it on the call that crossed it.
//
// Fractions outside (0, 1] (NaN included) are ignored, a fraction given twice fires
// once, and past MaxAlerts thresholds the largest are dropped. fn must not block; a
// nil fn still reports crossings to NotifyAlerts. WithAlerts replaces the thresholds of
// an earlier WithAlerts; WithAlert's single threshold is kept alongside.
func WithAlerts(fn func(Alert), fractions ...float64) Option {
	fs := alertFractions(fractions)
	return func(a *Atomic) { a.multi, a.onMulti = fs, fn }
}

// alertFractions keeps the valid fractions, ascending, without duplicates, at most
// MaxAlerts of them.
func alertFractions(fractions []float64) []float64 {
	var fs []float64
	for _, f := range fractions {
		if f > 0 && f <= 1 { // false for NaN
			fs = append(fs, f)
		}
	}
	slices.Sort(fs)
	fs = slices.Compact(fs)
	if len(fs) > MaxAlerts {
		fs = fs[:MaxAlerts]
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

// NotifyAlerts returns a copy of ctx carrying fn: a Record made with it (or with a
// context derived from it) that crosses an alert threshold of a budget built by this
// module calls fn with the Alert, synchronously, after the budget's own alert
// function. middleware.Budget uses it to put each crossing on the record of the call
// that crossed it. A fn already in ctx is called too, before fn. A nil fn returns ctx.
func NotifyAlerts(ctx context.Context, fn func(Alert)) context.Context {
	if fn == nil {
		return ctx
	}
	if prev := alertNotifier(ctx); prev != nil {
		next := fn
		fn = func(a Alert) {
			prev(a)
			next(a)
		}
	}
	return context.WithValue(ctx, kithook.AlertKey{}, fn)
}

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

// buildThresholds merges WithAlert's and WithAlerts' thresholds, ascending by
// consumption.
func (a *Atomic) buildThresholds() {
	var ts []threshold
	if a.onAlert != nil && a.alert > 0 && a.alert <= 1 {
		onAlert := a.onAlert
		ts = append(ts, threshold{fraction: a.alert, at: alertAt(a.alert, a.capacity), fn: func(al Alert) { onAlert(al.Snapshot) }})
	}
	for _, f := range a.multi {
		ts = append(ts, threshold{fraction: f, at: alertAt(f, a.capacity), fn: a.onMulti})
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
	if len(ts) > MaxAlerts {
		ts = ts[:MaxAlerts]
	}
	a.thresholds = ts
	if len(ts) > 0 {
		a.allAlerted = math.MaxUint64 >> (64 - len(ts))
	}
	for _, t := range ts {
		a.fractions = append(a.fractions, t.fraction)
	}
	slices.Sort(a.fractions)
}

// AlertFractions are the budget's alert thresholds (WithAlert's and WithAlerts'),
// ascending.
func (a *Atomic) AlertFractions() []float64 { return a.fractions }

// fireAlerts fires every threshold that consumption in w has reached and that has not
// fired in w yet; each fires once per window, to the first Record that sees it reached.
func (a *Atomic) fireAlerts(ctx context.Context, w *window) {
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
