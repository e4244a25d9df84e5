package redisbudget

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/budget/internal/kithook"
)

// WithAlerts calls fn for each threshold in fractions once per window, and once per
// fleet: the settle that first makes the shared consumption reach fraction × the
// capacity in force (rounded up, at least 1; an override set with Family.SetCapacity
// counts) claims the threshold in Redis, in the same script and round trip as the settle, and
// only the process that made it calls fn, synchronously in that Record. One Record
// that crosses several thresholds fires them in ascending order. The Record's context
// hears of each crossing too (budgetkit.NotifyAlerts), so that middleware can put it on
// the call that crossed it. A nil fn still reports crossings to the context.
//
// The claim is a field of the window's hash (by fraction), so it ends with the window
// and a reset (Family.Reset) re-arms it; every process should give the same fractions.
// A fraction given twice fires once. A fraction outside (0, 1] (NaN included), or more
// than 64 of them, makes New fail. fn must not block: the settle's
// caller waits for it. Settles of a budget with alerts also read its capacity
// override, in the same script.
//
// At most once, not at least once: a settle that Redis ran but whose reply never came
// back (a network failure, or a WithReplicaAck that was not acknowledged) has claimed
// its thresholds without firing them, and its retry finds nothing to settle. Such an
// alert is lost, never doubled; watch the budget's gauges (otel.ObserveBudget) where
// one must not be missed.
func WithAlerts(fn func(budget.Alert), fractions ...float64) Option {
	return func(c *config) {
		if len(fractions) > kithook.MaxAlerts {
			c.fail(fmt.Errorf("%d alert thresholds, more than %d", len(fractions), kithook.MaxAlerts))
			return
		}
		for _, f := range fractions {
			if !(f > 0 && f <= 1) {
				c.fail(fmt.Errorf("alert fraction %v is outside (0, 1]", f))
				return
			}
		}
		c.alertFractions, c.onAlert = slices.Clone(fractions), fn
	}
}

// buildAlerts sorts the fractions, drops repeats, and boxes them once for the settle
// script, as strings that parse back to the same doubles.
func (s *config) buildAlerts() {
	s.alertArgs = []any{s.capArg} // the settle script reports what is left with it
	if len(s.alertFractions) == 0 {
		s.alertFractions = nil
		return
	}
	slices.Sort(s.alertFractions)
	s.alertFractions = slices.Compact(s.alertFractions)
	s.alertArgs = []any{s.capArg}
	for _, f := range s.alertFractions {
		s.alertArgs = append(s.alertArgs, strconv.FormatFloat(f, 'g', -1, 64))
	}
}

// AlertFractions are the budget's alert thresholds, ascending.
func (b *Budget) AlertFractions() []float64 { return b.alertFractions }

// settleReporting runs the settle script with the capacity override's key, the
// default capacity and the alerts' fractions, so that it reports what is left (and
// claims the thresholds it reached).
func (b *Budget) settleReporting(ctx context.Context, w *winKeys, now time.Time, id string, size, usage uint64) ([]int64, error) {
	args := append(make([]any, 0, 5+len(b.alertArgs)), b.markArg, b.ttlArg(w, now), id, size, usage)
	return b.run(ctx, settleScript, w.keys, append(args, b.alertArgs...)...)
}

// fireAlerts calls the alert function and tells ctx of each threshold the settle
// script claimed: res is its reply {1, live, consumed, held, capacity, index...}.
func (b *Budget) fireAlerts(ctx context.Context, w *winKeys, res []int64) {
	if len(res) <= 5 {
		return
	}
	s := budget.Snapshot{Name: b.name, WindowEnd: w.end}
	if res[2] > 0 {
		s.Consumed = uint64(res[2])
	}
	if res[3] > 0 {
		s.Held = uint64(res[3])
	}
	if res[4] > 0 {
		s.Capacity = uint64(res[4])
	}
	if c := s.Consumed + s.Held; c < s.Capacity { // each ≤ 2^53: no overflow
		s.Remaining = s.Capacity - c
	}
	for _, i := range res[5:] {
		if i < 1 || int(i) > len(b.alertFractions) {
			continue // not a threshold of this process's
		}
		al := budget.Alert{Fraction: b.alertFractions[i-1], Snapshot: s}
		if b.onAlert != nil {
			b.onAlert(al)
		}
		budgetkit.ReportAlert(ctx, al)
	}
}
