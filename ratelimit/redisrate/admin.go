package redisrate

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

	"github.com/spendguard/spendguard/ratelimit"
	"github.com/spendguard/spendguard/ratelimit/internal/window"
)

// Status is one rate limit as an operator sees it, read from Redis at Now.
type Status struct {
	Name string
	// Limit is the limit in force from the next Reserve: Override when FromRedis, else
	// Default (zero when neither is known).
	Limit     ratelimit.Limit
	FromRedis bool
	// Default is the limit the reserving processes were built with, as the last of
	// them to admit a call wrote it (zero when none has since the keys last expired).
	Default ratelimit.Limit
	// Override is the limit stored by SetLimit (zero when none). It is in force only
	// in processes of the same interval: FromRedis is false when Default's differs.
	Override ratelimit.Limit
	// Counted is what the window counts now: the calls admitted in the last interval
	// (and those admitted ahead, waiting for their instant), settled calls at their
	// usage, calls in flight at their estimate. CountedRequests is their number.
	Counted         ratelimit.Cost
	CountedRequests uint64
	// InFlight is the number of reservations not yet settled whose slot still counts;
	// Held is their estimates.
	InFlight int
	Held     ratelimit.Cost
	// WaitingUntil is the latest admission, when it is after Now: calls are waiting
	// for it, and a call that arrives now is admitted no earlier. Zero otherwise.
	WaitingUntil time.Time
	// PausedUntil is the end of a provider's Retry-After pause, when it is after Now.
	PausedUntil time.Time
	// Now is the Redis server's time of the read.
	Now time.Time
}

// List reports every rate limit whose name matches pattern (a Redis glob over names,
// "" for all) that Redis holds anything of (a window, holds, or an override), sorted
// by name, reading each with one script that writes nothing. It finds them with SCAN
// (never KEYS), on every master of a *redis.ClusterClient; keys under the prefix
// whose suffix no limit writes are ignored. The prefix is WithKeyPrefix's (other
// options are ignored).
//
// A limit whose keys cannot be read (another type, a corrupt field) is left out, and
// err joins one error naming each; the others are still returned. A nil client, a
// pattern containing '{' or '}' or a bad option returns only an error, and so does a
// failure to reach Redis, wrapping budget.ErrUnavailable.
func List(ctx context.Context, rdb redis.UniversalClient, pattern string, opts ...Option) ([]Status, error) {
	if isNil(rdb) {
		return nil, errors.New("redisrate: nil Redis client")
	}
	if pattern == "" {
		pattern = "*"
	}
	if strings.ContainsAny(pattern, "{}") {
		return nil, fmt.Errorf("redisrate: pattern %q contains '{' or '}', which no limit name does", pattern)
	}
	c, err := configure(opts)
	if err != nil {
		return nil, fmt.Errorf("redisrate: %w", err)
	}
	start := "{"
	if c.prefix != "" {
		start = c.prefix + ":{"
	}
	names, err := scanNames(ctx, rdb, globEscape(start)+pattern+"}:*", start)
	if err != nil {
		return nil, unavailable("*", "list", err)
	}
	out := []Status{}
	var bad []error
	for _, n := range names {
		s, found, err := status(ctx, rdb, c.prefix, n)
		var rerr redis.Error
		switch {
		case err != nil && errors.As(err, &rerr) && !busy(rerr.Error()):
			bad = append(bad, fmt.Errorf("redisrate: %q: not a rate limit's keys: %w", n, err))
		case err != nil:
			return nil, unavailable(n, "list", err)
		case found:
			out = append(out, s)
		}
	}
	return out, errors.Join(bad...)
}

// SetLimit stores l as the limit called name, in force from the next Reserve of every
// process whose limit has l's interval (whole milliseconds, rounded up), whatever
// counts they were built with; the zero Limit removes it, and the processes' own
// limit is in force again. It never changes what the window counts: a limit set below
// it makes calls wait until enough of it stops counting. It does not need the limit
// to exist yet.
//
// It returns an error and changes nothing for a nil client, a name New would refuse, a
// limit New would refuse or with a count above 2^53, an interval other than the one
// the reserving processes last wrote (no process would count it), keys of another
// type, or a bad option; an error wrapping budget.ErrUnavailable when Redis cannot be
// reached (the change may then have been made or not).
func SetLimit(ctx context.Context, rdb redis.UniversalClient, name string, l ratelimit.Limit, opts ...Option) error {
	if isNil(rdb) {
		return errors.New("redisrate: nil Redis client")
	}
	if name == "" || strings.ContainsAny(name, "{}") {
		return fmt.Errorf("redisrate: limit name %q is empty or contains '{' or '}' (the name is the keys' hash tag)", name)
	}
	c, err := configure(opts)
	if err != nil {
		return fmt.Errorf("redisrate: %q: %w", name, err)
	}
	value := ""
	if l != (ratelimit.Limit{}) {
		if err := window.Check(l.Interval, l.Tokens, l.Input, l.Output, l.Requests); err != nil {
			return fmt.Errorf("redisrate: %q: %w", name, err)
		}
		if l.Interval < time.Millisecond {
			return fmt.Errorf("redisrate: %q: interval %v is under a millisecond", name, l.Interval)
		}
		if max(l.Tokens, l.Input, l.Output, l.Requests) > maxCount {
			return fmt.Errorf("redisrate: %q: a count above 2^53", name)
		}
		value = limitString(l)
	}
	res, err := setLimitScript.Run(ctx, rdb, keysOf(c.prefix, name), intervalMs(l.Interval), 0, value).Slice()
	if err != nil {
		var rerr redis.Error
		if errors.As(err, &rerr) && !busy(rerr.Error()) {
			return fmt.Errorf("redisrate: %q: set limit failed in Redis: %w", name, err)
		}
		return unavailable(name, "set limit", err)
	}
	if len(res) == 2 && res[0] == int64(0) {
		ms, _ := strconv.ParseInt(fmt.Sprint(res[1]), 10, 64)
		return fmt.Errorf("redisrate: %q: its processes count per %v: a limit per %v would be in force in none of them",
			name, time.Duration(ms)*time.Millisecond, l.Interval)
	}
	return nil
}

func configure(opts []Option) (config, error) {
	c := config{prefix: "spendguard-rate"}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c, c.err
}

// scanNames finds the names of the keys matching match (each start + name + "}:" +
// a limit's suffix), sorted, on every master of a cluster.
func scanNames(ctx context.Context, rdb redis.UniversalClient, match, start string) ([]string, error) {
	var mu sync.Mutex
	set := map[string]bool{}
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, match, 1000).Iterator()
		for iter.Next(ctx) {
			k := strings.TrimPrefix(iter.Val(), start)
			i := strings.Index(k, "}:")
			if i <= 0 {
				continue
			}
			switch k[i+2:] {
			case "window", "holds", "limit":
				if n := k[:i]; !strings.ContainsAny(n, "{}") {
					mu.Lock()
					set[n] = true
					mu.Unlock()
				}
			}
		}
		return iter.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	case *redis.Ring:
		err = c.ForEachShard(ctx, scan)
	default:
		err = fmt.Errorf("a %T cannot be scanned", rdb)
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// status reads the limit name with the status script; found is false when Redis holds
// none of its keys.
func status(ctx context.Context, rdb redis.UniversalClient, prefix, name string) (Status, bool, error) {
	res, err := statusScript.Run(ctx, rdb, keysOf(prefix, name)).Slice()
	if err != nil {
		return Status{}, false, err
	}
	if len(res) != 4 {
		return Status{}, false, corruptError(fmt.Sprintf("unexpected reply %v", res))
	}
	str := func(v any) string { s, _ := v.(string); return s }
	list := func(v any) []string {
		a, _ := v.([]any)
		out := make([]string, len(a))
		for i, x := range a {
			out[i] = str(x)
		}
		return out
	}
	nowMs, err := strconv.ParseInt(str(res[0]), 10, 64)
	if err != nil {
		return Status{}, false, corruptError("unexpected time " + str(res[0]))
	}
	ov, hash, holds := str(res[1]), list(res[2]), list(res[3])
	s := Status{Name: name, Now: time.UnixMilli(nowMs)}
	if ov == "" && len(hash) == 0 && len(holds) == 0 {
		return s, false, nil
	}
	corrupt := func(what, v string) error {
		return corruptError(fmt.Sprintf("spendguard: corrupt %s in %s: %q", what, keysOf(prefix, name)[0], v))
	}
	if ov != "" {
		if s.Override, err = parseLimit(ov); err != nil {
			return s, false, corruptError(fmt.Sprintf("spendguard: corrupt limit in %s: %q", keysOf(prefix, name)[2], ov))
		}
	}
	fields := map[string]string{}
	for i := 0; i+1 < len(hash); i += 2 {
		fields[hash[i]] = hash[i+1]
	}
	if v, ok := fields["L"]; ok {
		if s.Default, err = parseLimit(v); err != nil {
			return s, false, corrupt("limit", v)
		}
	}
	s.Limit = s.Default
	if s.Override != (ratelimit.Limit{}) && (s.Default.Interval == 0 || s.Default.Interval == s.Override.Interval) {
		s.Limit, s.FromRedis = s.Override, true
	}
	num := func(k string) (int64, error) {
		v, ok := fields[k]
		if !ok {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, corrupt(k, v)
		}
		return n, nil
	}
	for k, at := range map[string]*time.Time{"t": &s.WaitingUntil, "p": &s.PausedUntil} {
		ms, err := num(k)
		if err != nil {
			return s, false, err
		}
		if ms > nowMs {
			*at = time.UnixMilli(ms)
		}
	}
	// The slots that count now, by the interval of the limit (the sums when unknown).
	iv := intervalMs(s.Limit.Interval)
	w := int64(window.Width(time.Duration(iv), 1))
	for f, v := range fields {
		if !strings.HasPrefix(f, "#") {
			continue
		}
		k, err1 := strconv.ParseInt(f[1:], 10, 64)
		var a, b, c uint64
		_, err2 := fmt.Sscanf(v, "%d %d %d", &a, &b, &c)
		if err1 != nil || err2 != nil {
			return s, false, corrupt("slot "+f, v)
		}
		if iv > 0 && (k+1)*w <= nowMs-iv {
			continue
		}
		s.Counted.Input, s.Counted.Output, s.CountedRequests = s.Counted.Input+a, s.Counted.Output+b, s.CountedRequests+c
	}
	for _, m := range holds {
		p := strings.Split(m, ":")
		if len(p) != 4 {
			return s, false, corrupt("hold", m)
		}
		in, err1 := strconv.ParseUint(p[2], 10, 64)
		out, err2 := strconv.ParseUint(p[3], 10, 64)
		if err1 != nil || err2 != nil {
			return s, false, corrupt("hold", m)
		}
		s.InFlight++
		s.Held.Input, s.Held.Output = s.Held.Input+in, s.Held.Output+out
	}
	return s, true, nil
}

// parseLimit reads a limit string "interval T I O R".
func parseLimit(v string) (ratelimit.Limit, error) {
	var ms int64
	var l ratelimit.Limit
	if n, err := fmt.Sscanf(v, "%d %d %d %d %d", &ms, &l.Tokens, &l.Input, &l.Output, &l.Requests); err != nil || n != 5 || ms <= 0 {
		return l, errors.New("corrupt limit")
	}
	l.Interval = time.Duration(ms) * time.Millisecond
	return l, nil
}

// unavailable marks an error reaching Redis with budget.ErrUnavailable.
func unavailable(name, op string, err error) error {
	return (&limiter{name: name}).wrap(op, err)
}

// globEscape quotes the characters Redis's glob matching treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// corruptError is a reply no limit's keys give: a redis.Error, as Redis's own
// refusals are, so that List reports the limit instead of failing.
type corruptError string

func (e corruptError) Error() string { return string(e) }
func (corruptError) RedisError()     {}
