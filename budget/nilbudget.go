package budget

import (
	"context"
	"fmt"
	"reflect"
)

// isNil reports whether b is nil or a nil pointer (map, slice, func, chan) inside a
// non-nil interface: a budget that cannot be called without a panic.
func isNil(b TokenBudget) bool {
	if b == nil {
		return true
	}
	if a, ok := b.(*Atomic); ok {
		return a == nil
	}
	switch v := reflect.ValueOf(b); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
		return v.IsNil()
	}
	return false
}

// nilBudget stands in for a nil budget given to NewContext or All: it refuses every
// reservation with err (which wraps ErrNilBudget) and issues none, so nothing reaches
// the nil value and nothing is granted.
type nilBudget struct{ err error }

// orNil returns b, or a nilBudget naming b's type and where it was given when b is nil.
func orNil(b TokenBudget, where string) TokenBudget {
	if !isNil(b) {
		return b
	}
	what := "an untyped nil TokenBudget"
	if b != nil {
		what = fmt.Sprintf("%T(nil)", b)
	}
	return &nilBudget{err: fmt.Errorf("%w: %s, %s, grants nothing", ErrNilBudget, what, where)}
}

func (n *nilBudget) TryReserve(context.Context, uint64) (*Reservation, error) { return nil, n.err }

func (n *nilBudget) TryReserveRange(context.Context, uint64, uint64) (*Reservation, error) {
	return nil, n.err
}

func (n *nilBudget) Record(_ context.Context, r *Reservation, _, _ uint64) error {
	return fmt.Errorf("%w: %w", n.err, checkIssuer(r, n, ""))
}

func (n *nilBudget) Release(_ context.Context, r *Reservation) error {
	return fmt.Errorf("%w: %w", n.err, checkIssuer(r, n, ""))
}

func (n *nilBudget) Snapshot(context.Context) (Snapshot, error) { return Snapshot{}, n.err }

// Name is empty: a nil budget has none (and a typed-nil one's own Name would panic).
func (n *nilBudget) Name() string { return "" }

var (
	_ TokenBudget   = (*nilBudget)(nil)
	_ rangeReserver = (*nilBudget)(nil)
	_ named         = (*nilBudget)(nil)
)
