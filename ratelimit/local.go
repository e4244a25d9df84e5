package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/spendguard/spendguard/internal/sat"
	"github.com/spendguard/spendguard/ratelimit/internal/window"
)

// New returns an in-process Limiter called name that enforces l on the calls of this
// process (for a fleet, use ratelimit/redisrate). Every span of l.Interval holds at
// most the limit's counts of the calls that Reserve admitted in it, counting each
// call at its estimate until it is settled and at its usage after (see the package
// doc for the bound).
//
// It is safe for concurrent use; Reserve and Settle take a mutex for a few hundred
// nanoseconds and never allocate beyond the Reservation. New returns an error for an
// interval that is not positive or a limit that sets no count.
func New(name string, l Limit) (Limiter, error) {
	if err := window.Check(l.Interval, l.Tokens, l.Input, l.Output, l.Requests); err != nil {
		return nil, fmt.Errorf("ratelimit: %q: %w", name, err)
	}
	epoch := time.Now()
	return &local{
		name: name, lim: l, width: window.Width(l.Interval, 1),
		epoch: epoch, now: func() time.Duration { return time.Since(epoch) },
		sleep: sleep,
	}, nil
}

// counts are a slot's (or a window's) tokens and requests.
type counts struct{ in, out, req uint64 }

func (c *counts) add(in, out, req uint64) {
	c.in, c.out, c.req = sat.Add(c.in, in), sat.Add(c.out, out), sat.Add(c.req, req)
}

func (c *counts) sub(o counts) {
	c.in, c.out, c.req = subFloor(c.in, o.in), subFloor(c.out, o.out), subFloor(c.req, o.req)
}

func subFloor(a, b uint64) uint64 {
	if b >= a {
		return 0
	}
	return a - b
}

// slot holds the calls admitted in [k·width, (k+1)·width). It counts in the window of
// every instant T with (k+1)·width > T − Interval: conservatively, while any of its
// calls might still be within one interval of T.
type slot struct {
	k int64
	counts
}

type local struct {
	name  string
	lim   Limit
	width time.Duration
	epoch time.Time
	now   func() time.Duration                             // since epoch
	sleep func(ctx context.Context, d time.Duration) error // waits d, or until ctx ends

	mu    sync.Mutex
	slots []slot // ascending k, from head
	head  int
	sum   counts        // of slots[head:]
	tail  time.Duration // the latest admission: admissions never go back in time
	pause time.Duration // no admission before it (a provider's Retry-After)
	seq   uint64
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fits reports whether a call of e fits next to s.
func (l *local) fits(s counts, e Cost) bool {
	m := &l.lim
	return (m.Tokens == 0 || sat.Add(sat.Add(s.in, s.out), sat.Add(e.Input, e.Output)) <= m.Tokens) &&
		(m.Input == 0 || sat.Add(s.in, e.Input) <= m.Input) &&
		(m.Output == 0 || sat.Add(s.out, e.Output) <= m.Output) &&
		(m.Requests == 0 || sat.Add(s.req, 1) <= m.Requests)
}

// counted reports whether slot k still counts at t.
func (l *local) counted(k int64, t time.Duration) bool {
	return time.Duration(k+1)*l.width > t-l.lim.Interval
}

// Reserve implements Limiter. A nil ctx is context.Background().
func (l *local) Reserve(ctx context.Context, e Cost) (*Reservation, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if window.Never(l.lim.Tokens, l.lim.Input, l.lim.Output, e.Input, e.Output) {
		return nil, &Error{Limiter: l.name, Limit: l.lim, Estimate: e, Never: true}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	deadline, bounded := ctx.Deadline()

	l.mu.Lock()
	now := l.now()
	t0 := max(now, l.tail, l.pause)
	// Every later admission is at t0 or after (now, tail and pause never go back), so
	// the slots that no longer count at t0 never will again.
	for l.head < len(l.slots) && !l.counted(l.slots[l.head].k, t0) {
		l.sum.sub(l.slots[l.head].counts)
		l.head++
	}
	at := l.fit(t0, e)
	wait := at - now
	if bounded && l.epoch.Add(at).After(deadline) {
		l.mu.Unlock()
		return nil, &Error{Limiter: l.name, Limit: l.lim, Estimate: e, Wait: wait}
	}
	k := int64(at / l.width)
	if n := len(l.slots); n > l.head && l.slots[n-1].k == k {
		l.slots[n-1].add(e.Input, e.Output, 1)
	} else {
		if l.head > 0 && l.head >= len(l.slots)/2 { // reuse the array's front
			n := copy(l.slots, l.slots[l.head:])
			l.slots, l.head = l.slots[:n], 0
		}
		l.slots = append(l.slots, slot{k: k, counts: counts{e.Input, e.Output, 1}})
	}
	l.sum.add(e.Input, e.Output, 1)
	l.seq++
	r := &Reservation{Limiter: l.name, Estimate: e, Start: l.epoch.Add(at), Waited: wait,
		ID: strconv.FormatUint(l.seq, 10), owner: l, slot: k, seq: l.seq, prevTail: l.tail}
	l.tail = at
	l.mu.Unlock()

	if wait > 0 {
		if err := l.sleep(ctx, wait); err != nil {
			_ = l.Settle(context.WithoutCancel(ctx), r, Cost{}, 0)
			return nil, err
		}
	}
	return r, nil
}

// fit is the first instant from t0 on at which e fits: t0, or the instant the oldest
// slots stop counting and leave room. It reads l under l.mu.
func (l *local) fit(t0 time.Duration, e Cost) time.Duration {
	s := l.sum
	if l.fits(s, e) {
		return t0
	}
	for _, sl := range l.slots[l.head:] {
		s.sub(sl.counts)
		if l.fits(s, e) {
			return time.Duration(sl.k+1)*l.width + l.lim.Interval
		}
	}
	// Unreachable: e is within the limit, so it fits an empty window.
	return t0
}

var errForeign = errors.New("ratelimit: Settle of a reservation this limiter did not issue")

// Settle implements Limiter.
func (l *local) Settle(_ context.Context, r *Reservation, used Cost, retryAfter time.Duration) error {
	if r == nil || r.owner != l {
		return errForeign
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if retryAfter > 0 {
		l.pause = max(l.pause, l.now()+retryAfter)
	}
	if r.done {
		return nil
	}
	r.done = true
	if used == (Cost{}) && r.seq == l.seq {
		// The latest admission gave its place back (a waiter whose context ended, or a
		// call never sent): the next call need not queue behind it.
		l.tail = r.prevTail
	}
	live := l.slots[l.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].k >= r.slot })
	if i == len(live) || live[i].k != r.slot { // it no longer counts anywhere
		return nil
	}
	s := &live[i]
	old := s.counts
	s.sub(counts{r.Estimate.Input, r.Estimate.Output, 0})
	if used == (Cost{}) {
		s.sub(counts{0, 0, 1})
	} else {
		// Usage the estimate did not cover is charged in full (as debt, a slot may go
		// over the limit: later calls wait until it stops counting).
		s.add(used.Input, used.Output, 0)
	}
	l.sum.sub(old)
	l.sum.add(s.in, s.out, s.req)
	return nil
}
