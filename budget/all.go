package budget

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spendguard/spendguard/budget/internal/kithook"
)

// All returns a budget that reserves from every one of budgets, all-or-nothing: a
// denial or an error from any member releases what the others granted and is returned
// unchanged (a *DeniedError names the member that said no). Record and Release settle
// every member with the same usage; their errors are joined.
//
// The result is also a budgetkit.RangeReserver when every member is one: it grants the
// smallest amount any member allows. Members are asked in order, each for at most what the ones
// before it granted, so a member earlier in the list may hold more than the final grant
// until the call is settled (the surplus is refunded then). Its Name is "all(member
// names...)" and its Members (see budgetkit.Composite) the budgets given; what it
// consumed is read from the members (Observable).
//
// A nil member, or a nil pointer of a budget type, is a member that refuses every
// reservation with an error wrapping ErrNilBudget, so the result grants nothing: a
// missing budget never becomes "no limit". All of one budget is that budget; All()
// with no members grants everything.
func All(budgets ...TokenBudget) TokenBudget {
	m := &all{members: make([]TokenBudget, 0, len(budgets))}
	names := make([]string, 0, len(budgets))
	for i, b := range budgets {
		where := "given as a budget"
		if len(budgets) > 1 {
			where = fmt.Sprintf("member %d of %d given to budget.All", i+1, len(budgets))
		}
		b = orNil(b, where)
		m.members = append(m.members, b)
		if n, ok := b.(named); ok && n.Name() != "" {
			names = append(names, n.Name())
		}
	}
	if len(m.members) == 1 {
		return m.members[0]
	}
	m.name = "all(" + strings.Join(names, ",") + ")"
	ranged := true
	for _, b := range m.members {
		if _, ok := b.(rangeReserver); !ok {
			ranged = false
		}
	}
	if ranged {
		return &allRange{m}
	}
	return m
}

type all struct {
	members []TokenBudget
	name    string
}

type allRange struct{ *all }

// Name is "all(member names...)".
func (m *all) Name() string { return m.name }

// Members returns the budgets m reserves from, in order. The slice must not be changed.
func (m *all) Members() []TokenBudget { return m.members }

func (m *all) TryReserve(ctx context.Context, estimate uint64) (*Reservation, error) {
	held := make([]*Reservation, len(m.members))
	for i, b := range m.members {
		r, err := b.TryReserve(ctx, estimate)
		if err != nil {
			m.rollback(ctx, held[:i])
			return nil, err
		}
		held[i] = r
	}
	return m.reservation(estimate, held), nil
}

func (m *allRange) TryReserveRange(ctx context.Context, min, max uint64) (*Reservation, error) {
	if max < min {
		max = min
	}
	held := make([]*Reservation, len(m.members))
	for i, b := range m.members {
		r, err := b.(rangeReserver).TryReserveRange(ctx, min, max)
		if err != nil {
			m.rollback(ctx, held[:i])
			return nil, err
		}
		held[i] = r
		if t := r.Tokens(); t < max {
			max = t
		}
	}
	return m.reservation(max, held), nil
}

// reservation carries the members' holds, and the first member's fail-open cause so
// that the caller learns the call was not fully accounted for.
func (m *all) reservation(tokens uint64, held []*Reservation) *Reservation {
	r := &Reservation{issuer: m, tokens: tokens, state: held}
	for _, h := range held {
		if h.failErr != nil {
			r.failErr = h.failErr
			break
		}
	}
	return r
}

func (m *all) rollback(ctx context.Context, held []*Reservation) {
	ctx = context.WithoutCancel(ctx) // a cancelled caller must still give its holds back
	for i := len(held) - 1; i >= 0; i-- {
		_ = m.members[i].Release(ctx, held[i])
	}
}

// settle settles every member's hold of r with one, once: the first settle of r
// runs it and reports first; later ones do nothing. Member errors are joined.
func (m *all) settle(r *Reservation, one func(b TokenBudget, held *Reservation) error) (first bool, err error) {
	if err := checkIssuer(r, m, m.name); err != nil {
		return false, err
	}
	held, ok := r.state.([]*Reservation)
	if !ok || len(held) != len(m.members) {
		return false, fmt.Errorf("%w: reservation of budget %q has no member holds", kithook.ErrInvalidReservation, m.name)
	}
	if !r.settle() {
		return false, nil
	}
	var errs []error
	for i, b := range m.members {
		if err := one(b, held[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return true, errors.Join(errs...)
}

// Record records the usage in every member.
func (m *all) Record(ctx context.Context, r *Reservation, prompt, completion uint64) error {
	_, err := m.settle(r, func(b TokenBudget, h *Reservation) error {
		return b.Record(ctx, h, prompt, completion)
	})
	return err
}

// Release returns every member's hold whole.
func (m *all) Release(ctx context.Context, r *Reservation) error {
	_, err := m.settle(r, func(b TokenBudget, h *Reservation) error { return b.Release(ctx, h) })
	return err
}

var (
	_ named         = (*all)(nil)
	_ TokenBudget   = (*all)(nil)
	_ rangeReserver = (*allRange)(nil)
)
