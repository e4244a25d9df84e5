package redisbudget

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The operations of a Family: they read and change its budgets from outside the
// processes that use them, through the same keys and scripts (cmd/spendguard runs
// them). A budget is known by its keys in Redis, so its counts are there once a
// process has reserved from it (or an override was set), with the default capacity,
// lease and window end that the reserving processes write next to them.
//
// Status and List read and never write: not a hold is reclaimed, not a field is added,
// and keys under the prefix that are not a budget's are reported, never adopted. They
// find budgets with SCAN (never KEYS); on a *redis.ClusterClient they scan every
// master. Each operation returns no later than its context's deadline, as a Budget's
// calls do; one that changes Redis (SetCapacity, UnsetCapacity, Reset) and returns the
// context's error may still take effect afterwards.

// Status is one budget's current window as an operator sees it.
type Status struct {
	Name string
	// InRedis is false when Redis holds nothing of the budget (no process has reserved
	// from it, or its keys have expired, and it has no override): the other fields
	// are then the Family's own default.
	InRedis bool
	// Capacity is the capacity in force: the override in Redis when FromRedis, else
	// DefaultCapacity.
	Capacity  uint64
	FromRedis bool
	// DefaultCapacity is the capacity the reserving processes were built with, as the
	// last of them wrote it (0 when none has written it yet).
	DefaultCapacity uint64
	Consumed        uint64 // usage recorded in the current window
	Held            uint64 // tokens held by reservations not yet settled
	Remaining       uint64 // Capacity − Consumed − Held, floored at 0
	// WindowEnd is the end of the current window; zero when the budget has no window,
	// or when its current window has not begun (no reservation yet).
	WindowEnd time.Time
	// Lease is the lease of the reserving processes (0 when unknown).
	Lease time.Duration
	// Holds are the live holds (whose lease has not ended), by lease end; filled by
	// Status, not by List.
	Holds []struct {
		Tokens   uint64
		LeaseEnd time.Time
	}
}

// found is what SCAN found of one budget's keys.
type found struct {
	tags     map[string]bool // windows that have a hash ("all": unwindowed)
	override bool
	other    []string // keys under the budget's tag that no budget writes
}

// List reports every budget whose name matches pattern (a Redis glob, "" for all),
// sorted by name, without writing anything; holds whose lease has ended count as
// given back, as the next reserve would give them back. Keys under the prefix that are
// not a budget's (another type, fields no budget writes, a name that is not one) are
// left out of budgets and reported in skipped, one error each, wrapping ErrNotBudget
// and naming the key: List never fails as a whole on them. A pattern containing '{' or
// '}' returns an error, as does a failure to reach Redis (wrapping
// budget.ErrUnavailable).
func (f *Family) List(ctx context.Context, pattern string) (budgets []Status, skipped []error, err error) {
	if pattern == "" {
		pattern = "*"
	}
	if strings.ContainsAny(pattern, "{}") {
		return nil, nil, fmt.Errorf("redisbudget: pattern %q contains '{' or '}', which no budget name does", pattern)
	}
	type listing struct {
		budgets []Status
		skipped []error
	}
	l, err := bounded(ctx, f.c, func(ctx context.Context) (listing, error) {
		var l listing
		all, stray, err := f.scan(ctx, globEscape(base(f.c.prefix, ""))+pattern+"}:*")
		if err != nil {
			return l, err
		}
		for _, k := range stray {
			l.skipped = append(l.skipped, fmt.Errorf("redisbudget: key %q: %w: it names no budget (an empty name, one with '{' or '}', or not UTF-8)", k, ErrNotBudget))
		}
		now, err := f.c.rdb.Time(ctx).Result()
		if err != nil {
			return l, err
		}
		names := make([]string, 0, len(all))
		for n := range all {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			s, err := f.read(ctx, n, all[n], now, false)
			switch {
			case errors.Is(err, ErrNotBudget):
				l.skipped = append(l.skipped, err)
				continue
			case err != nil:
				return l, err
			case !s.InRedis: // its keys expired since the scan
				continue
			}
			l.budgets = append(l.budgets, s)
		}
		return l, nil
	}, nil)
	if err != nil {
		return nil, nil, adminError("*", "list", err)
	}
	if l.budgets == nil {
		l.budgets = []Status{}
	}
	return l.budgets, l.skipped, nil
}

// Status reports the budget called name, with its live holds, without writing
// anything (holds whose lease has ended count as given back). A name Redis holds
// nothing of is no error: its Status has InRedis false and the Family's own capacity
// and lease. It returns an error wrapping ErrNotBudget when the budget's keys are not
// a budget's (or name is a Redis key, not a budget's name), a descriptive error for a
// name New would refuse, and an error wrapping budget.ErrUnavailable when Redis cannot
// be reached.
func (f *Family) Status(ctx context.Context, name string) (Status, error) {
	if err := checkName(name); err != nil {
		return Status{}, err
	}
	return bounded(ctx, f.c, func(ctx context.Context) (Status, error) {
		fd, now, err := f.find(ctx, name)
		if err != nil {
			return Status{}, err
		}
		return f.read(ctx, name, fd, now, true)
	}, nil)
}

// SetCapacity stores capacity as name's capacity, in force from the next reservation
// of every process, whatever capacity they were built with. It does not require the
// budget to exist yet, so that a key can be given its limit before its first use. It
// never changes what is consumed or held: a capacity below the consumption denies
// further reservations until the next window (or a Reset), and 0 denies them all.
// The rule for capacity is New's: a capacity above 2^53, a bad name, or an override
// key holding another type returns an error and changes nothing.
func (f *Family) SetCapacity(ctx context.Context, name string, capacity uint64) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkCapacity(capacity); err != nil {
		return fmt.Errorf("redisbudget: budget %q: %w", name, err)
	}
	return f.capacity(ctx, name, strconv.FormatUint(capacity, 10))
}

// UnsetCapacity removes name's override: the processes' own capacity is in force from
// the next reservation on. Removing an override that does not exist does nothing.
// Errors are as for SetCapacity.
func (f *Family) UnsetCapacity(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return f.capacity(ctx, name, "")
}

func (f *Family) capacity(ctx context.Context, name, v string) error {
	key := base(f.c.prefix, name) + "}:" + capSuffix
	_, err := bounded(ctx, f.c, func(ctx context.Context) (struct{}, error) {
		err := capacityScript.Run(ctx, f.c.rdb, []string{key}, v).Err()
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		return struct{}{}, err
	}, nil)
	if err != nil {
		if strings.Contains(err.Error(), "not a capacity") {
			return fmt.Errorf("redisbudget: budget %q: %w: %w", name, ErrNotBudget, err)
		}
		return adminError(name, "set capacity", err)
	}
	return nil
}

// Reset starts name's current window over: consumed becomes 0 and it returns what
// was consumed. Holds in flight are untouched: each still settles once, its usage
// charged to the fresh count. A budget whose current window has not begun, or that
// Redis holds nothing of, has nothing to reset (0). Errors are as for Status; a failed
// reset changes nothing.
func (f *Family) Reset(ctx context.Context, name string) (uint64, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	return bounded(ctx, f.c, func(ctx context.Context) (uint64, error) {
		fd, now, err := f.find(ctx, name)
		if err != nil || fd == nil {
			return 0, err
		}
		w, err := f.current(ctx, name, fd, now)
		if err != nil || w == nil {
			return 0, err
		}
		n, err := resetScript.Run(ctx, f.c.rdb, []string{w.keys[0]}).Int64()
		if err != nil {
			return 0, adminError(name, "reset", err)
		}
		return uint64(max(n, 0)), nil
	}, nil)
}

// find scans for name's keys (checked): nil when there are none.
func (f *Family) find(ctx context.Context, name string) (*found, time.Time, error) {
	all, _, err := f.scan(ctx, globEscape(base(f.c.prefix, name))+"}:*")
	if err != nil {
		return nil, time.Time{}, adminError(name, "scan", err)
	}
	fd := all[name]
	if fd == nil {
		n, err := f.c.rdb.Exists(ctx, name).Result()
		if err != nil {
			return nil, time.Time{}, adminError(name, "read", err)
		}
		if n == 1 {
			return nil, time.Time{}, fmt.Errorf("redisbudget: %q is a Redis key, %w (a budget's keys are %s}:…)", name, ErrNotBudget, base(f.c.prefix, name))
		}
	}
	now, err := f.c.rdb.Time(ctx).Result()
	if err != nil {
		return nil, time.Time{}, adminError(name, "read the time", err)
	}
	return fd, now, nil
}

// scan finds the budgets whose keys match the glob match, by name, and the keys that
// match but name no budget.
func (f *Family) scan(ctx context.Context, match string) (map[string]*found, []string, error) {
	var mu sync.Mutex
	all := map[string]*found{}
	var stray []string
	one := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, match, 1000).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			name, rest, ok := f.parse(key)
			mu.Lock()
			if !ok {
				stray = append(stray, key)
				mu.Unlock()
				continue
			}
			fd := all[name]
			if fd == nil {
				fd = &found{tags: map[string]bool{}}
				all[name] = fd
			}
			tag, kind := cutLast(rest, ":")
			switch {
			case rest == capSuffix:
				fd.override = true
			case kind == "h" && tag != "":
				fd.tags[tag] = true
			case (kind == "z" || kind == "r") && tag != "":
			default:
				fd.other = append(fd.other, key)
			}
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := f.c.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return one(ctx, c) })
	} else {
		err = one(ctx, f.c.rdb)
	}
	sort.Strings(stray)
	return all, stray, err
}

// parse splits a key into the budget's name and what follows "}:", or reports that
// it is not a budget's key.
func (f *Family) parse(key string) (name, rest string, ok bool) {
	s, ok := strings.CutPrefix(key, base(f.c.prefix, ""))
	if !ok {
		return "", "", false
	}
	name, rest, ok = strings.Cut(s, "}:")
	if !ok || checkName(name) != nil {
		return "", "", false
	}
	return name, rest, true
}

// window is the current window of a budget as its hash describes it.
type window struct {
	keys   []string // as winKeys.keys
	end    time.Time
	defCap uint64
	lease  time.Duration
}

// current picks the window in force at now among those found: the unwindowed one,
// else the latest that has begun and not ended. nil means none (a windowed budget
// whose current window has no reservation yet).
func (f *Family) current(ctx context.Context, name string, fd *found, now time.Time) (*window, error) {
	var best *window
	var bestStart time.Time
	tags := make([]string, 0, len(fd.tags))
	for t := range fd.tags {
		tags = append(tags, t)
	}
	sort.Strings(tags) // "all" sorts after every RFC 3339 start, so it wins
	for _, tag := range tags {
		w, err := f.window(ctx, name, tag)
		if err != nil {
			return nil, err
		}
		if w == nil {
			continue
		}
		if tag == "all" {
			return w, nil
		}
		start, err := time.Parse(time.RFC3339Nano, tag)
		if err != nil {
			return nil, fmt.Errorf("redisbudget: budget %q: %w: key %s has no window start in its name", name, ErrNotBudget, w.keys[0])
		}
		if start.After(now) || (!w.end.IsZero() && !now.Before(w.end)) {
			continue
		}
		if best == nil || start.After(bestStart) {
			best, bestStart = w, start
		}
	}
	return best, nil
}

// window reads the settings in the hash of window tag; nil when the hash is gone.
func (f *Family) window(ctx context.Context, name, tag string) (*window, error) {
	b := base(f.c.prefix, name)
	p := b + "}:" + tag
	w := &window{keys: []string{p + ":h", p + ":z", p + ":r", b + "}:" + capSuffix}}
	v, err := f.c.rdb.HMGet(ctx, w.keys[0], "d", "l", "e", "c").Result()
	if err != nil {
		return nil, adminError(name, "read", err)
	}
	if v[0] == nil && v[1] == nil && v[2] == nil && v[3] == nil {
		if n, err := f.c.rdb.Exists(ctx, w.keys[0]).Result(); err != nil || n == 0 {
			if err != nil {
				err = adminError(name, "read", err)
			}
			return nil, err // expired since the scan
		}
	}
	nums := make([]uint64, 3)
	for i := range nums {
		if v[i] == nil {
			continue
		}
		s, _ := v[i].(string)
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n > maxCapacity {
			return nil, fmt.Errorf("redisbudget: budget %q: %w: field %s of %s is %q", name, ErrNotBudget, []string{"d", "l", "e"}[i], w.keys[0], s)
		}
		nums[i] = n
	}
	w.defCap, w.lease = nums[0], time.Duration(nums[1])*time.Millisecond
	if nums[2] > 0 {
		w.end = time.UnixMilli(int64(nums[2]))
	}
	return w, nil
}

// read reports the budget's current window (or an empty one when it has not begun,
// or the Family's defaults when fd is nil), writing nothing.
func (f *Family) read(ctx context.Context, name string, fd *found, now time.Time, holds bool) (Status, error) {
	s := Status{Name: name}
	if fd == nil {
		return f.unknown(name), nil
	}
	if len(fd.tags) == 0 && !fd.override && len(fd.other) > 0 {
		return s, fmt.Errorf("redisbudget: budget %q: %w: keys %q under its tag are not a budget's", name, ErrNotBudget, fd.other)
	}
	w, err := f.current(ctx, name, fd, now)
	if err != nil {
		return s, err
	}
	if w == nil {
		return f.idle(ctx, name, fd)
	}
	s.InRedis = true
	s.DefaultCapacity, s.Lease, s.WindowEnd = w.defCap, w.lease, w.end
	wantHolds := "0"
	if holds {
		wantHolds = "1"
	}
	c, rest, err := readCounts(ctx, f.c.rdb, statusScript, w.keys, "0", "0", w.defCap, wantHolds)
	if err != nil {
		return s, adminError(name, "read", err)
	}
	s.Capacity, s.FromRedis, s.Consumed, s.Held, s.Remaining = c.capacity, c.fromRedis, c.consumed, c.held, c.remaining()
	for i := 0; i+1 < len(rest); i += 2 {
		s.Holds = append(s.Holds, struct {
			Tokens   uint64
			LeaseEnd time.Time
		}{uint64(max(rest[i], 0)), time.UnixMilli(rest[i+1])})
	}
	return s, nil
}

// unknown is the Status of a budget Redis holds nothing of: the Family's defaults.
func (f *Family) unknown(name string) Status {
	return Status{Name: name, Capacity: f.c.capacity, DefaultCapacity: f.c.capacity, Remaining: f.c.capacity, Lease: f.c.lease}
}

// idle reports a budget with no current window: nothing consumed or held, its
// capacity the override or the last default written.
func (f *Family) idle(ctx context.Context, name string, fd *found) (Status, error) {
	s := Status{Name: name, InRedis: true}
	for tag := range fd.tags {
		if w, err := f.window(ctx, name, tag); err == nil && w != nil && w.defCap > 0 {
			s.DefaultCapacity, s.Lease = w.defCap, w.lease
		}
	}
	s.Capacity = s.DefaultCapacity
	key := base(f.c.prefix, name) + "}:" + capSuffix
	v, err := f.c.rdb.Get(ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		if !fd.override && len(fd.tags) == 0 {
			return f.unknown(name), nil // expired since the scan
		}
	case err != nil:
		return s, adminError(name, "read capacity", err)
	default:
		n, perr := strconv.ParseUint(v, 10, 64)
		if perr != nil || n > maxCapacity {
			return s, fmt.Errorf("redisbudget: budget %q: %w: %s holds %q, not a capacity", name, ErrNotBudget, key, v)
		}
		s.Capacity, s.FromRedis = n, true
	}
	s.Remaining = s.Capacity
	return s, nil
}

// cutLast splits s around its last sep.
func cutLast(s, sep string) (before, after string) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+len(sep):]
}
