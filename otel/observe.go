package otel

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/conv"
)

// ObserveBudget reports b's state as four observable gauges, read at each metric
// collection: spendguard.budget.remaining, .consumed, .held and .capacity (unit
// {token}, or the budget's cost unit), with attribute spendguard.budget.name from the
// Snapshot. Only WithMeterProvider is used from opts.
//
// A Snapshot that fails (Redis unreachable, say) is reported to otel.Handle and
// skipped: that collection has no budget points, and the next one tries again.
// Counts above math.MaxInt64 are reported as math.MaxInt64. stop unregisters the
// callback; it is safe to call more than once. A nil b is an error.
func ObserveBudget(b budget.Observable, opts ...Option) (stop func(), err error) {
	if b == nil {
		return nil, errors.New("otel: ObserveBudget needs a budget, got nil")
	}
	cfg := newConfig(opts)
	meter := cfg.mp.Meter(scopeName)
	gauge := func(name, desc string) metric.Int64ObservableGauge {
		if err != nil {
			return nil
		}
		var g metric.Int64ObservableGauge
		g, err = meter.Int64ObservableGauge(name, metric.WithUnit("{token}"), metric.WithDescription(desc))
		return g
	}
	remaining := gauge(conv.BudgetRemainingMetric, "What the next reservation may take: capacity − consumed − held, floored at 0.")
	consumed := gauge(conv.BudgetConsumedMetric, "Usage recorded in the budget's current window.")
	held := gauge(conv.BudgetHeldMetric, "Tokens reserved by calls in flight.")
	capacity := gauge(conv.BudgetCapacityMetric, "The budget's capacity per window.")
	if err != nil {
		return nil, err
	}

	var (
		mu      sync.Mutex // collections may overlap (several readers)
		setName string
		setOpt  metric.ObserveOption
	)
	reg, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		s, err := snapshot(ctx, b)
		if err != nil {
			handle(err)
			return nil
		}
		mu.Lock()
		if setOpt == nil || setName != s.Name {
			setName, setOpt = s.Name, metric.WithAttributeSet(attribute.NewSet(conv.BudgetNameKey.String(s.Name)))
		}
		opt := setOpt
		mu.Unlock()
		o.ObserveInt64(remaining, toInt64(s.Remaining), opt)
		o.ObserveInt64(consumed, toInt64(s.Consumed), opt)
		o.ObserveInt64(held, toInt64(s.Held), opt)
		o.ObserveInt64(capacity, toInt64(s.Capacity), opt)
		return nil
	}, remaining, consumed, held, capacity)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() { handle(reg.Unregister()) })
	}, nil
}

// snapshot calls b.Snapshot, turning a panic (a typed nil budget, say) into an error:
// a metrics collection must not bring the program down.
func snapshot(ctx context.Context, b budget.Observable) (s budget.Snapshot, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("otel: budget %T panicked in Snapshot: %v", b, r)
		}
	}()
	return b.Snapshot(ctx)
}
