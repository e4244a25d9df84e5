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

var (
	// ErrUnknownBudget is wrapped by Admin's errors for a name no key in Redis belongs
	// to: no process has used the budget (or its keys have expired) and it has no
	// capacity override.
	ErrUnknownBudget = errors.New("unknown budget")
	// ErrNotBudget is wrapped by Admin's errors for keys that look like a budget's by
	// their name but do not hold what a spendguard budget writes.
	ErrNotBudget = errors.New("not a spendguard budget")
)

// Admin reads and changes the budgets under one key prefix from outside the processes
// that use them, through the same keys and scripts: it is what cmd/spendguard runs.
// It knows a budget by its keys in Redis, so it sees a budget once a process has
// reserved from it (or an override was set), and it reports the default capacity,
// lease and window end that the reserving processes write next to the counts.
//
// Admin finds budgets with SCAN (never KEYS); on a *redis.ClusterClient it scans every
// master. It is safe for concurrent use.
type Admin struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewAdmin returns an Admin of the budgets whose keys start with prefix
// (DefaultKeyPrefix for budgets built without WithKeyPrefix). It makes no call to
// Redis. A nil client, or a prefix containing '{' or '}', returns an error.
func NewAdmin(rdb redis.UniversalClient, prefix string) (*Admin, error) {
	if isNil(rdb) {
		return nil, errors.New("redisbudget: nil Redis client")
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("redisbudget: key prefix %q contains '{' or '}'", prefix)
	}
	return &Admin{rdb: rdb, prefix: prefix}, nil
}

// Status is one budget's current window as an operator sees it.
type Status struct {
	Name string
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
	// Holds are the live holds, by lease end; filled by Status, not by List.
	Holds []Hold
}

// Hold is one reservation's hold on a budget.
type Hold struct {
	Tokens   uint64
	LeaseEnd time.Time
}

// found is what SCAN found of one budget's keys.
type found struct {
	tags     map[string]bool // windows that have a hash ("all": unwindowed)
	override bool
}

// List reports every budget whose name matches pattern (a Redis glob, "" for all),
// sorted by name, reclaiming expired holds as a reserve would. A pattern containing
// '{' or '}' returns an error; so does a budget whose keys are not a spendguard
// budget's (wrapping ErrNotBudget). Failures to reach Redis are returned as they are.
func (a *Admin) List(ctx context.Context, pattern string) ([]Status, error) {
	if pattern == "" {
		pattern = "*"
	}
	if strings.ContainsAny(pattern, "{}") {
		return nil, fmt.Errorf("redisbudget: pattern %q contains '{' or '}', which no budget name does", pattern)
	}
	all, err := a.scan(ctx, globEscape(a.base(""))+pattern+"}:*")
	if err != nil {
		return nil, err
	}
	now, err := a.rdb.Time(ctx).Result()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Status, 0, len(names))
	for _, n := range names {
		s, err := a.read(ctx, n, all[n], now, false)
		if errors.Is(err, ErrUnknownBudget) { // its keys expired since the scan
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Status reports the budget called name, with its live holds, reclaiming expired
// holds as a reserve would. It returns an error wrapping ErrUnknownBudget when no key
// belongs to name, ErrNotBudget when its keys are not a budget's (or name is not a
// budget name but a Redis key), and a descriptive error for a name that cannot name a
// budget. Failures to reach Redis are returned as they are.
func (a *Admin) Status(ctx context.Context, name string) (Status, error) {
	f, now, err := a.find(ctx, name)
	if err != nil {
		return Status{}, err
	}
	return a.read(ctx, name, f, now, true)
}

// SetCapacity stores capacity as name's capacity, in force from the next reservation
// of every process, whatever capacity they were built with. It does not require the
// budget to exist yet, so that a key can be given its limit before its first use. It
// never changes what is consumed or held: a capacity below the consumption denies
// further reservations until the next window (or a Reset). A bad name, a capacity
// above MaxCapacity, or an override key holding another type returns an error and
// changes nothing.
func (a *Admin) SetCapacity(ctx context.Context, name string, capacity uint64) error {
	if err := checkName(name); err != nil {
		return err
	}
	if capacity > MaxCapacity {
		return fmt.Errorf("redisbudget: capacity %d is above 2^53 (%d), the largest Redis's Lua numbers hold exactly", capacity, uint64(MaxCapacity))
	}
	return a.capacity(ctx, name, strconv.FormatUint(capacity, 10))
}

// UnsetCapacity removes name's override: the processes' own capacity is in force from
// the next reservation on. Removing an override that does not exist does nothing. A
// bad name returns an error.
func (a *Admin) UnsetCapacity(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return a.capacity(ctx, name, "")
}

func (a *Admin) capacity(ctx context.Context, name, v string) error {
	key := a.base(name) + "}:" + capSuffix
	if err := capacityScript.Run(ctx, a.rdb, []string{key}, v).Err(); err != nil && !errors.Is(err, redis.Nil) {
		if strings.Contains(err.Error(), "not a capacity") {
			return fmt.Errorf("redisbudget: budget %q: %w: %w", name, ErrNotBudget, err)
		}
		return fmt.Errorf("redisbudget: budget %q: %w", name, err)
	}
	return nil
}

// Reset starts name's current window over: consumed becomes 0 and it returns what
// was consumed. Holds in flight are untouched: each still settles once, its usage
// charged to the fresh count. A budget whose current window has not begun has nothing
// to reset. Errors are as for Status; a failed reset changes nothing.
func (a *Admin) Reset(ctx context.Context, name string) (uint64, error) {
	f, now, err := a.find(ctx, name)
	if err != nil {
		return 0, err
	}
	w, err := a.current(ctx, name, f, now)
	if err != nil || w == nil {
		return 0, err
	}
	n, err := resetScript.Run(ctx, a.rdb, []string{w.keys[0]}).Int64()
	if err != nil {
		return 0, a.fail(name, "reset", err)
	}
	if n < 0 {
		return 0, nil
	}
	return uint64(n), nil
}

// base is the start of name's keys up to its hash tag's closing brace (excluded).
func (a *Admin) base(name string) string {
	if a.prefix == "" {
		return "{" + name
	}
	return a.prefix + ":{" + name
}

// find scans for name's keys.
func (a *Admin) find(ctx context.Context, name string) (*found, time.Time, error) {
	if err := checkName(name); err != nil {
		return nil, time.Time{}, err
	}
	all, err := a.scan(ctx, globEscape(a.base(name))+"}:*")
	if err != nil {
		return nil, time.Time{}, err
	}
	f := all[name]
	if f == nil {
		if n, err := a.rdb.Exists(ctx, name).Result(); err == nil && n == 1 {
			return nil, time.Time{}, fmt.Errorf("redisbudget: %q is a Redis key, %w (a budget's keys are %s}:…)", name, ErrNotBudget, a.base(name))
		}
		return nil, time.Time{}, fmt.Errorf("redisbudget: %w %q: no key %s}:… in Redis", ErrUnknownBudget, name, a.base(name))
	}
	now, err := a.rdb.Time(ctx).Result()
	return f, now, err
}

// scan finds the budgets whose keys match the glob match, by name.
func (a *Admin) scan(ctx context.Context, match string) (map[string]*found, error) {
	var mu sync.Mutex
	all := map[string]*found{}
	one := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, match, 1000).Iterator()
		for iter.Next(ctx) {
			name, rest, ok := a.parse(iter.Val())
			if !ok {
				continue
			}
			mu.Lock()
			f := all[name]
			if f == nil {
				f = &found{tags: map[string]bool{}}
				all[name] = f
			}
			if rest == capSuffix {
				f.override = true
			} else if tag, ok := strings.CutSuffix(rest, ":h"); ok {
				f.tags[tag] = true
			}
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := a.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return one(ctx, c) })
	} else {
		err = one(ctx, a.rdb)
	}
	return all, err
}

// parse splits a key into the budget's name and what follows "}:", or reports that
// it is not a budget's key.
func (a *Admin) parse(key string) (name, rest string, ok bool) {
	s, ok := strings.CutPrefix(key, a.base(""))
	if !ok {
		return "", "", false
	}
	name, rest, ok = strings.Cut(s, "}:")
	if !ok || name == "" || strings.ContainsAny(name, "{}") {
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
func (a *Admin) current(ctx context.Context, name string, f *found, now time.Time) (*window, error) {
	var best *window
	var bestStart time.Time
	tags := make([]string, 0, len(f.tags))
	for t := range f.tags {
		tags = append(tags, t)
	}
	sort.Strings(tags) // "all" sorts after every RFC 3339 start, so it wins
	for _, tag := range tags {
		w, err := a.window(ctx, name, tag)
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
func (a *Admin) window(ctx context.Context, name, tag string) (*window, error) {
	p := a.base(name) + "}:" + tag
	w := &window{keys: []string{p + ":h", p + ":z", p + ":r", a.base(name) + "}:" + capSuffix}}
	v, err := a.rdb.HMGet(ctx, w.keys[0], "d", "l", "e", "c").Result()
	if err != nil {
		return nil, a.fail(name, "read", err)
	}
	if v[0] == nil && v[1] == nil && v[2] == nil && v[3] == nil {
		if n, err := a.rdb.Exists(ctx, w.keys[0]).Result(); err != nil || n == 0 {
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
		if err != nil || n > MaxCapacity {
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

// read reports the budget's current window (or an empty one when it has not begun).
func (a *Admin) read(ctx context.Context, name string, f *found, now time.Time, holds bool) (Status, error) {
	s := Status{Name: name}
	w, err := a.current(ctx, name, f, now)
	if err != nil {
		return s, err
	}
	if w == nil {
		return a.idle(ctx, name, f)
	}
	s.DefaultCapacity, s.Lease, s.WindowEnd = w.defCap, w.lease, w.end
	lease := w.lease
	if lease <= 0 {
		lease = DefaultLease
	}
	mark := 2 * lease.Milliseconds()
	var ttl int64 // as Budget.ttlArg: the window's end plus twice the lease
	if !w.end.IsZero() {
		ttl = max(w.end.Sub(now), 0).Milliseconds() + mark + 1
	}
	c, err := snapshot(ctx, a.rdb, w.keys, mark, ttl, w.defCap)
	if err != nil {
		return s, a.fail(name, "snapshot", err)
	}
	s.Capacity, s.FromRedis, s.Consumed, s.Held, s.Remaining = c.capacity, c.fromRedis, c.consumed, c.held, c.remaining()
	if !holds {
		return s, nil
	}
	z, err := a.rdb.ZRangeWithScores(ctx, w.keys[1], 0, -1).Result()
	if err != nil {
		return s, a.fail(name, "read holds", err)
	}
	for _, m := range z {
		id, _ := m.Member.(string)
		_, size, _ := cutLast(id, ":")
		n, err := strconv.ParseUint(size, 10, 64)
		if err != nil {
			return s, fmt.Errorf("redisbudget: budget %q: %w: hold %q in %s", name, ErrNotBudget, id, w.keys[1])
		}
		s.Holds = append(s.Holds, Hold{Tokens: n, LeaseEnd: time.UnixMilli(int64(m.Score))})
	}
	return s, nil
}

// idle reports a budget with no current window: nothing consumed or held, its
// capacity the override or the last default written.
func (a *Admin) idle(ctx context.Context, name string, f *found) (Status, error) {
	s := Status{Name: name}
	for tag := range f.tags {
		if w, err := a.window(ctx, name, tag); err == nil && w != nil && w.defCap > 0 {
			s.DefaultCapacity, s.Lease = w.defCap, w.lease
		}
	}
	s.Capacity = s.DefaultCapacity
	key := a.base(name) + "}:" + capSuffix
	v, err := a.rdb.Get(ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		if !f.override && len(f.tags) == 0 {
			return s, fmt.Errorf("redisbudget: %w %q: no counters or capacity of it in Redis (expired, or never written)", ErrUnknownBudget, name)
		}
	case err != nil:
		return s, a.fail(name, "read capacity", err)
	default:
		n, perr := strconv.ParseUint(v, 10, 64)
		if perr != nil || n > MaxCapacity {
			return s, fmt.Errorf("redisbudget: budget %q: %w: %s holds %q, not a capacity", name, ErrNotBudget, key, v)
		}
		s.Capacity, s.FromRedis = n, true
	}
	s.Remaining = s.Capacity
	return s, nil
}

// fail names the budget and the operation; a key of the wrong type means the keys
// are not a budget's.
func (a *Admin) fail(name, op string, err error) error {
	if strings.Contains(err.Error(), "WRONGTYPE") || strings.Contains(err.Error(), "spendguard: corrupt") {
		return fmt.Errorf("redisbudget: budget %q: %s: %w: %w", name, op, ErrNotBudget, err)
	}
	return fmt.Errorf("redisbudget: budget %q: %s: %w", name, op, err)
}

// globEscape quotes the characters Redis's glob matching treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
