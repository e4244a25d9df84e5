package main

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/ratelimit/redisrate"
)

// index is serve's cached view of every budget under the prefix: one List (one SCAN
// of the keyspace, then a read per budget) at a time, in the background, started at
// most once per interval and never sooner after the previous one ended than it took,
// so that Redis spends at most half its time on one page's server however many
// browsers poll it. Every request is answered from the last snapshot; a change made
// from the page patches its budget into it at once (one Status, so one SCAN).
//
// The rate limits (ratelimit/redisrate) are listed in the same refresh, one more
// SCAN (redisrate.List, under their own prefix), when rates is set; they are few, so
// every page gets them all.
type index struct {
	list     func(context.Context) ([]redisbudget.Status, []string, error)
	status   func(context.Context, string) (redisbudget.Status, error)
	rates    func(context.Context) ([]redisrate.Status, []string, error) // nil: none shown
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	snap    *snapshot
	changed chan struct{} // closed, and replaced, when snap changes
	lists   int           // Lists done, for the page and the tests
	patched map[string]patch
}

// snapshot is one state of the index; it is never changed once published.
type snapshot struct {
	Gen         uint64
	RefreshedAt time.Time
	Took        time.Duration
	Err         string // the last refresh's failure; the rows are the last good ones
	Skipped     []string
	Rows        []row          // by name
	byName      map[string]int // index into Rows
	byUse       []int          // Rows by fraction used, most first
	Rates       []rateJSON     // by name
	RatesErr    string         // the last refresh's failure to list them; Rates are the last good ones
	RatesSkip   []string       // limits whose keys could not be read
}

// row is one budget as the page shows it: what `spendguard -json list` prints, and
// its kind ("budget"; rate limits would be "rate").
type row struct {
	Kind string `json:"kind"`
	budgetJSON
}

func newIndex(list func(context.Context) ([]redisbudget.Status, []string, error),
	status func(context.Context, string) (redisbudget.Status, error), interval time.Duration) *index {
	x := &index{list: list, status: status, interval: interval, now: time.Now,
		changed: make(chan struct{}), patched: map[string]patch{}}
	x.snap = x.build(&snapshot{Gen: 0}, nil)
	return x
}

// current returns the snapshot and a channel closed when it is replaced.
func (x *index) current() (*snapshot, <-chan struct{}) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.snap, x.changed
}

func (x *index) publishLocked(s *snapshot) {
	s.Gen = x.snap.Gen + 1
	x.snap = s
	close(x.changed)
	x.changed = make(chan struct{})
}

// run refreshes the index until ctx ends.
func (x *index) run(ctx context.Context) {
	for {
		start := x.now()
		x.refresh(ctx)
		took := x.now().Sub(start)
		wait := max(x.interval-took, took)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refresh lists every budget once and publishes the result. A budget changed from
// the page since the List began keeps the row read after the change.
func (x *index) refresh(ctx context.Context) {
	start := x.now()
	l, skipped, err := x.list(ctx)
	if ctx.Err() != nil {
		return
	}
	var rates []rateJSON
	var ratesSkip []string
	var ratesErr error
	if x.rates != nil {
		var rl []redisrate.Status
		rl, ratesSkip, ratesErr = x.rates(ctx)
		if ctx.Err() != nil {
			return
		}
		rates = make([]rateJSON, len(rl))
		for i, st := range rl {
			rates[i] = toRateJSON(st)
		}
	}
	rows := make([]row, len(l))
	for i, st := range l {
		rows[i] = row{Kind: "budget", budgetJSON: toJSON(st)}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.lists++
	old := x.snap
	s := &snapshot{RefreshedAt: x.now(), Took: x.now().Sub(start), Skipped: skipped}
	if err != nil {
		s.Err, s.Skipped, rows = oneLine(err), old.Skipped, slices.Clone(old.Rows)
	}
	s.Rates, s.RatesSkip = rates, ratesSkip
	if ratesErr != nil {
		s.RatesErr, s.Rates, s.RatesSkip = oneLine(ratesErr), old.Rates, old.RatesSkip
	}
	for name, p := range x.patched {
		if p.at.Before(start) {
			delete(x.patched, name) // this List saw the change
			continue
		}
		rows = slices.DeleteFunc(rows, func(r row) bool { return r.Name == name })
		if p.row != nil {
			rows = append(rows, *p.row)
		}
	}
	x.publishLocked(x.build(s, rows))
}

// patch is a budget as read after a change from the page (nil: it is gone).
type patch struct {
	at  time.Time
	row *row
}

// update reads one budget again (after a change from the page) and patches it into
// the snapshot; a budget that is gone is removed.
func (x *index) update(ctx context.Context, name string) error {
	at := x.now()
	st, err := x.status(ctx, name)
	gone := err != nil && errors.Is(err, errUnknownBudget)
	if err != nil && !gone {
		return err
	}
	p := patch{at: at}
	if !gone {
		p.row = &row{Kind: "budget", budgetJSON: toJSON(st)}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.patched[name] = p
	old := x.snap
	rows := slices.DeleteFunc(slices.Clone(old.Rows), func(r row) bool { return r.Name == name })
	if p.row != nil {
		rows = append(rows, *p.row)
	}
	s := &snapshot{RefreshedAt: old.RefreshedAt, Took: old.Took, Err: old.Err, Skipped: old.Skipped,
		Rates: old.Rates, RatesErr: old.RatesErr, RatesSkip: old.RatesSkip}
	x.publishLocked(x.build(s, rows))
	return nil
}

// listCount is how many Lists the index has made.
func (x *index) listCount() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.lists
}

// build fills s's rows and their orders.
func (x *index) build(s *snapshot, rows []row) *snapshot {
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.Name, b.Name) })
	s.Rows, s.byName, s.byUse = rows, make(map[string]int, len(rows)), make([]int, len(rows))
	for i, r := range rows {
		s.byName[r.Name] = i
		s.byUse[i] = i
	}
	slices.SortStableFunc(s.byUse, func(a, b int) int { return cmp.Compare(used(rows[b]), used(rows[a])) })
	return s
}

// used is the fraction of a budget's capacity consumed or held (1 past it).
func used(r row) float64 {
	if r.Capacity == 0 {
		return 1
	}
	return min(float64(r.Consumed+r.Held)/float64(r.Capacity), 1)
}
