package redisbudget

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/internal/sat"
)

// TryReserve holds estimate tokens in one round trip, or returns a
// *budget.DeniedError when capacity − consumed − held is less than estimate or is 0.
//
// It returns no later than ctx's deadline, and grants nothing after it: the script
// checks the deadline against Redis's clock before it grants, and a grant whose reply
// comes back too late is given back. When Redis cannot be reached, does not answer
// before ctx's deadline, or answers after it, the error wraps budget.ErrUnavailable
// (and context.DeadlineExceeded for the deadline); with WithFailOpen, an unreachable
// Redis gives a fail-open reservation instead, a passed deadline never does. A
// cancelled ctx returns an error wrapping context.Canceled. Other failures (a key of
// the wrong type, a script error) return a descriptive error.
func (b *Budget) TryReserve(ctx context.Context, estimate uint64) (*budget.Reservation, error) {
	return b.reserve(ctx, estimate, estimate)
}

// TryReserveRange holds as much as is left between min and max (all of max when it
// fits), in one round trip, or returns a *budget.DeniedError with Requested = min when
// less than min, or nothing, is left. min > max is a request for exactly min. Failures
// and deadlines are as for TryReserve; a fail-open reservation holds max.
func (b *Budget) TryReserveRange(ctx context.Context, min, max uint64) (*budget.Reservation, error) {
	if max < min {
		max = min
	}
	return b.reserve(ctx, min, max)
}

var noDeadline any = int64(0)

func (b *Budget) reserve(ctx context.Context, min, max uint64) (*budget.Reservation, error) {
	w, now := b.current()
	id := newID()
	dl, hasDeadline := ctx.Deadline()
	var res []int64
	var err error
	for attempt := 0; ; attempt++ {
		deadline := noDeadline
		if hasDeadline { // in Redis's time (ms), which the script compares with TIME
			deadline = dl.UnixMilli() + b.offset.Load()
		}
		sent := time.Now()
		res, err = bounded(ctx, b.config, func(ctx context.Context) ([]int64, error) {
			return b.run(ctx, reserveScript, w.keys,
				b.markArg, b.ttlArg(w, now), b.capArg, arg(min), arg(max), id, b.leaseArg, w.endMs, deadline)
		}, func(res []int64, err error) { b.giveBack(w, now, id, res, err) })
		if err != nil || len(res) < 2 {
			break
		}
		b.learnOffset(res[len(res)-1], sent)
		if res[0] != -1 || attempt > 0 || ctx.Err() != nil {
			break
		}
		// Redis saw the deadline pass while this process did not: its clock is
		// ahead. The offset is now measured; try once more with it.
	}
	switch {
	case err != nil:
		err = b.wrap("reserve", err)
		if b.failOpen && errors.Is(err, budget.ErrUnavailable) && ctx.Err() == nil {
			return budgetkit.NewFailOpen(b, max), nil
		}
		return nil, err
	case len(res) == 2 && res[0] == -1:
		late := errLate
		if ctx.Err() != nil {
			late = fmt.Errorf("%w: %w", errLate, ctx.Err())
		}
		return nil, b.wrap("reserve", late)
	case len(res) == 3 && res[0] == 0 && res[1] >= 0:
		b.learnLeft(res[1])
		return nil, &budget.DeniedError{Budget: b.name, Requested: min, Remaining: uint64(res[1])}
	case len(res) == 4 && res[0] == 1 && res[1] >= 0:
		b.learnLeft(res[2])
		if w.tag != "all" {
			id = w.tag + "/" + id
		}
		return budgetkit.NewReservation(b, id, uint64(res[1])), nil
	}
	return nil, fmt.Errorf("redisbudget: budget %q: reserve: unexpected reply %v", b.name, res)
}

// learnOffset measures Redis's clock against this process's from a reply carrying
// Redis's TIME (ms), sent at sent: Redis read its clock between sent and now. A reply
// that took over 50 ms says too little and is ignored.
func (b *Budget) learnOffset(redisNow int64, sent time.Time) {
	rtt := time.Since(sent)
	if rtt > 50*time.Millisecond || redisNow <= 0 {
		return
	}
	b.offset.Store(redisNow - sent.Add(rtt/2).UnixMilli())
}

// giveBack releases a hold that Redis granted after the caller had left (its reply
// came back after the call's context ended): nobody will settle it, and its lease
// would keep it for minutes. It runs on the abandoned call's goroutine; if Redis
// cannot be reached, the lease gives the hold back.
func (b *Budget) giveBack(w *winKeys, now time.Time, id string, res []int64, err error) {
	if err != nil || len(res) != 4 || res[0] != 1 || res[1] < 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = b.run(ctx, settleScript, w.keys, b.markArg, b.ttlArg(w, now), id, uint64(res[1]), 0)
}

// newID returns a reservation id: 16 random bytes in hex, so that no two processes
// ever pick the same one.
func newID() string {
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(raw[:])
}

// arg clamps a token count for Lua: anything above 2^53 behaves as 2^53+2, still
// above every capacity and exact as a double.
func arg(n uint64) uint64 {
	if n > maxCapacity {
		n = maxCapacity + 2
	}
	return n
}

// Record settles r with the usage the provider reported, in one round trip: the hold
// is freed and prompt+completion is charged in full (as debt when it exceeds what was
// left), against the window r was taken in. When r's lease had already ended and the
// hold was reclaimed, the usage is still charged and nothing is freed twice.
//
// Settles are idempotent by reservation id: a second Record or Release of r, from
// this process or any other, changes nothing and returns nil (settling deletes the
// hold, so a second settle finds nothing to do; a hold reclaimed by its lease is
// remembered for twice the lease, and its first late settle is charged). A nil
// or foreign r returns an error wrapping budgetkit.ErrInvalidReservation; a fail-open
// reservation settles as a no-op. When Redis cannot be reached, or does not answer
// before ctx's deadline (middleware bounds settles by its WithSettleTimeout), the
// error wraps budget.ErrUnavailable (even with WithFailOpen) and r stays unsettled,
// so the call may be retried; the settle may still reach Redis afterwards, which a
// retry then finds done. If it never does, the lease gives the hold back.
func (b *Budget) Record(ctx context.Context, r *budget.Reservation, prompt, completion uint64) error {
	return b.settle(ctx, r, sat.Add(prompt, completion))
}

// Release returns r's hold whole, in one round trip. Duplicates, bad reservations,
// deadlines and failures are handled as by Record.
func (b *Budget) Release(ctx context.Context, r *budget.Reservation) error {
	return b.settle(ctx, r, 0)
}

func (b *Budget) settle(ctx context.Context, r *budget.Reservation, usage uint64) error {
	if err := budgetkit.CheckIssuer(r, b, b.name); err != nil {
		return err
	}
	if budgetkit.Settled(r) {
		return nil
	}
	if r.FailedOpen() {
		budgetkit.Settle(r)
		return nil
	}
	// Unlike budget.Atomic, r is marked settled only once Redis has settled it: a
	// settle that failed must stay retryable, and Redis's marker keeps duplicates out.
	w, id, err := b.windowOf(budgetkit.ID(r))
	if err != nil {
		return fmt.Errorf("%w: %v for budget %q", budgetkit.ErrInvalidReservation, err, b.name)
	}
	var now time.Time
	if b.window != nil {
		now = b.clock()
	}
	res, err := bounded(ctx, b.config, func(ctx context.Context) ([]int64, error) {
		return b.settleReporting(ctx, w, now, id, r.Tokens(), arg(usage))
	}, nil)
	if err != nil {
		return b.wrap("settle", err)
	}
	if len(res) != 2 && len(res) < 5 {
		return fmt.Errorf("redisbudget: budget %q: settle: unexpected reply %v", b.name, res)
	}
	budgetkit.Settle(r)
	if len(res) >= 5 && w == b.cur.Load() { // {1, live, consumed, held, capacity, ...}
		b.learnLeft(res[4] - res[2] - res[3])
	}
	b.fireAlerts(ctx, w, res)
	return nil
}
