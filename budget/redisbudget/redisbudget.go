package redisbudget

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/internal/sat"
)

// MaxCapacity is the largest capacity New accepts: 2^53, the largest integer below
// which every integer is exact in the doubles Redis's Lua computes with. Counts that
// would pass it (usage recorded as debt) saturate at it.
const MaxCapacity = 1 << 53

// DefaultLease is how long a hold lives when WithLease is not given.
const DefaultLease = 10 * time.Minute

// DefaultKeyPrefix starts every key when WithKeyPrefix is not given.
const DefaultKeyPrefix = "spendguard"

var (
	//go:embed common.lua
	commonLua string
	//go:embed reclaim.lua
	reclaimLua string
	//go:embed reserve.lua
	reserveLua string
	//go:embed settle.lua
	settleLua string
	//go:embed snapshot.lua
	snapshotLua string
	//go:embed reset.lua
	resetLua string
	//go:embed capacity.lua
	capacityLua string

	reserveScript  = redis.NewScript(commonLua + reclaimLua + reserveLua)
	settleScript   = redis.NewScript(commonLua + settleLua)
	snapshotScript = redis.NewScript(commonLua + reclaimLua + snapshotLua)
	resetScript    = redis.NewScript(commonLua + resetLua)
	capacityScript = redis.NewScript(capacityLua)
)

// Budget is a TokenBudget whose state lives in Redis, shared by every process that
// builds one with the same client target, key prefix and name. It is safe for
// concurrent use.
//
// Its capacity is a default: an override stored in Redis (Admin.SetCapacity, or
// `spendguard set`) takes precedence from the next reservation on, in every process.
type Budget struct {
	*settings
	name string
	base string // prefix:{name}
	cur  atomic.Pointer[winKeys]
	// first holds the keys of the window the budget was built in (of its whole life
	// when unwindowed) in the budget's own allocation: a Family's budget built per
	// request costs two allocations, this struct and one string for all its keys.
	first winKeys
	// left is what the last reserve or settle of the current window through this
	// Budget reported was left (Remaining); leftKnown is false before the first.
	left      atomic.Uint64
	leftKnown atomic.Bool
}

// settings are what New's arguments and options decide, shared by every budget of a
// Family.
type settings struct {
	rdb      redis.UniversalClient
	capacity uint64
	lease    time.Duration
	// Script arguments that never change, boxed once so that calls do not allocate
	// them again.
	capArg   any // capacity
	leaseArg any // lease in ms
	markArg  any // how long a reclaimed hold is remembered, in ms: twice the lease
	window   budget.Window
	clock    func() time.Time
	failOpen bool
	prefix   string
	err      error // the first bad option

	// WithReplicaAck: how many replicas must have a reserve or settle before it
	// returns (0: do not wait), and for how long at most.
	acks         int
	ackTimeout   time.Duration
	ackTimeoutMs int64

	// Alerts (WithAlerts, alert.go): the fractions ascending, boxed once for the
	// settle script.
	alertFractions []float64
	onAlert        func(budget.Alert)
	alertArgs      []any
}

// winKeys are the keys of one window (or of the whole life of an unwindowed budget).
type winKeys struct {
	tag   string    // "all", or the window's start in RFC 3339
	start time.Time // zero when unwindowed
	end   time.Time // zero when unwindowed
	endMs any       // end in Unix ms, 0 when unwindowed: the hash's e, for operators
	keys  []string  // hash, lease set, reclaimed set, capacity override; read-only
	arr   [4]string // keys' backing array
}

// Option configures a Budget built by New.
type Option func(*Budget)

// WithLease sets how long a hold lives before the next reserve or Snapshot reclaims
// it (default DefaultLease), timed by the Redis server's clock (TIME). A reclaimed
// hold is remembered twice as long, so that its late settle is still charged. A lease
// under one millisecond or over a year makes New fail.
func WithLease(d time.Duration) Option {
	return func(b *Budget) {
		if d < time.Millisecond || d > 365*24*time.Hour {
			b.fail(fmt.Errorf("lease %v is outside [1ms, 1 year]", d))
			return
		}
		b.lease = d
	}
}

// WithWindow resets the budget at the start of every period of w, as budget.WithWindow
// does for budget.Atomic. A nil w means no window.
//
// The window is chosen with the clock of the process that reserves (WithClock,
// time.Now by default), not Redis's: processes sharing a windowed budget should keep
// their clocks in sync. A reservation settles against the window it was taken in,
// whenever it is settled. A window's keys expire once the window has ended and twice
// the lease has passed.
func WithWindow(w budget.Window) Option { return func(b *Budget) { b.window = w } }

// WithClock sets the clock windows are read from (time.Now by default; nil means
// time.Now). Leases never use it: they are timed by Redis.
func WithClock(now func() time.Time) Option { return func(b *Budget) { b.clock = now } }

// WithFailOpen makes the budget grant when Redis cannot be reached: TryReserve and
// TryReserveRange return a reservation built by budgetkit.NewFailOpen (its FailedOpen
// is true) and settling it does nothing. Without it, those calls
// fail closed with an error wrapping budget.ErrUnavailable.
func WithFailOpen() Option { return func(b *Budget) { b.failOpen = true } }

// WithKeyPrefix sets the start of every key (default DefaultKeyPrefix); keys are
// prefix:{name}:…, so that all keys of one budget share a Redis Cluster hash slot. An
// empty prefix leaves keys starting at {name}. A prefix containing '{' or '}' makes
// New fail.
func WithKeyPrefix(p string) Option {
	return func(b *Budget) {
		if strings.ContainsAny(p, "{}") {
			b.fail(fmt.Errorf("key prefix %q contains '{' or '}'", p))
			return
		}
		b.prefix = p
	}
}

// WithReplicaAck makes every reserve and settle wait until n replicas of the master
// holding the budget have it before returning: the script and Redis's WAIT n timeout
// go down one connection, in one round trip, to the master of the budget's slot.
// Replication is asynchronous, so without it a master that fails right after a settle
// may take that settle with it, and its replica, promoted, never saw it (on a healthy
// link that is the last milliseconds of writes; a replica cut off from its master
// misses everything since). With it, a reserve or settle that returned nil is on n
// replicas, and a failover that promotes one of them (Redis Cluster promotes the most
// up-to-date replica) loses nothing that was acknowledged. It costs the replica's
// round trip on every reserve and settle; Snapshot does not wait.
//
// A write that n replicas did not acknowledge within timeout returns an error wrapping
// budget.ErrUnavailable (with WithFailOpen, a reserve then fails open). The write may
// still have happened on the master: a settle stays unsettled, and retrying it is safe
// (settles are idempotent); a reserve's hold is given back by its lease.
//
// The client must be a *redis.Client (a single master, or a Sentinel failover client)
// or a *redis.ClusterClient whose ReadTimeout, if set, is longer than timeout, else
// New fails, as it does for n outside [1, 16] or a timeout outside [1ms, 1 minute]
// (WAIT 0 would block forever).
func WithReplicaAck(n int, timeout time.Duration) Option {
	return func(b *Budget) {
		if n < 1 || n > 16 {
			b.fail(fmt.Errorf("replica acknowledgements %d are outside [1, 16]", n))
			return
		}
		if timeout < time.Millisecond || timeout > time.Minute {
			b.fail(fmt.Errorf("replica acknowledgement timeout %v is outside [1ms, 1 minute]", timeout))
			return
		}
		b.acks, b.ackTimeout, b.ackTimeoutMs = n, timeout, timeout.Milliseconds()
	}
}

func (b *Budget) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// New returns the budget called name, of capacity tokens per window, kept in Redis
// through rdb. Every process that builds it with the same name (and prefix) shares it;
// capacity, lease and window are each process's own, so give them the same values.
//
// New makes no call to Redis. It returns an error for a nil client, an empty name or
// one containing '{' or '}' (the name is the key's hash tag), a capacity above
// MaxCapacity, or a bad option. A capacity of 0 denies everything.
func New(rdb redis.UniversalClient, name string, capacity uint64, opts ...Option) (*Budget, error) {
	if isNil(rdb) {
		return nil, errors.New("redisbudget: nil Redis client")
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	s, err := newSettings(rdb, capacity, opts)
	if err != nil {
		return nil, fmt.Errorf("redisbudget: budget %q: %w", name, err)
	}
	return s.budget(name), nil
}

// newSettings checks the capacity and applies the options.
func newSettings(rdb redis.UniversalClient, capacity uint64, opts []Option) (*settings, error) {
	if capacity > MaxCapacity {
		return nil, fmt.Errorf("capacity %d is above 2^53 (%d), the largest Redis's Lua numbers hold exactly", capacity, uint64(MaxCapacity))
	}
	b := &Budget{settings: &settings{rdb: rdb, capacity: capacity, lease: DefaultLease, prefix: DefaultKeyPrefix}}
	for _, o := range opts {
		if o != nil {
			o(b)
		}
	}
	if b.acks > 0 {
		var read time.Duration
		switch c := rdb.(type) {
		case *redis.Client:
			read = c.Options().ReadTimeout
		case *redis.ClusterClient:
			read = c.Options().ReadTimeout
		default:
			b.fail(fmt.Errorf("WithReplicaAck needs a *redis.Client or a *redis.ClusterClient, not a %T", rdb))
		}
		if read > 0 && read <= b.ackTimeout {
			b.fail(fmt.Errorf("the client's ReadTimeout %v would end a wait for replicas (WithReplicaAck) of %v first", read, b.ackTimeout))
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	if b.clock == nil {
		b.clock = time.Now
	}
	b.capArg = capacity
	b.buildAlerts()
	b.leaseArg = b.lease.Milliseconds()
	b.markArg = 2 * b.lease.Milliseconds()
	return b.settings, nil
}

// checkName returns why name cannot name a budget, or nil.
func checkName(name string) error {
	if name == "" {
		return errors.New("redisbudget: empty budget name")
	}
	if strings.ContainsAny(name, "{}") {
		return fmt.Errorf("redisbudget: budget name %q contains '{' or '}', which would break its Redis Cluster hash tag", name)
	}
	return nil
}

// budget builds the budget called name (already checked) with s; it makes no call to
// Redis.
func (s *settings) budget(name string) *Budget {
	b := &Budget{settings: s, name: name}
	if b.window == nil {
		b.fill(&b.first, "all", time.Time{}, time.Time{})
	} else {
		tag, start, end := b.bounds(b.clock())
		b.fill(&b.first, tag, start, end)
	}
	b.cur.Store(&b.first)
	return b
}

func isNil(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case nil:
		return true
	case *redis.Client:
		return c == nil
	case *redis.ClusterClient:
		return c == nil
	case *redis.Ring:
		return c == nil
	}
	return false
}

// fill sets w to the keys of window tag. The four keys are slices of one string, so
// that they cost one allocation; while b.base is unset (the budget being built) it is
// written from the prefix and name, and b.base becomes a slice of the same string.
func (b *Budget) fill(w *winKeys, tag string, start, end time.Time) {
	*w = winKeys{tag: tag, start: start, end: end, endMs: int64(0)}
	if !end.IsZero() {
		w.endMs = end.UnixMilli()
	}
	n := len(b.base)
	if n == 0 {
		n = len(b.name) + 2
		if b.prefix != "" {
			n += len(b.prefix) + 1
		}
	}
	p := n + 1 + len(tag) + 2 // base:tag:h
	var sb strings.Builder
	sb.Grow(3*p + n + 1 + len(capSuffix))
	for _, s := range [...]string{":h", ":z", ":r"} {
		if b.base != "" {
			sb.WriteString(b.base)
		} else {
			if b.prefix != "" {
				sb.WriteString(b.prefix)
				sb.WriteByte(':')
			}
			sb.WriteByte('{')
			sb.WriteString(b.name)
			sb.WriteByte('}')
		}
		sb.WriteByte(':')
		sb.WriteString(tag)
		sb.WriteString(s)
	}
	all := sb.String()
	if b.base == "" {
		b.base = all[:n]
	}
	sb.WriteString(b.base)
	sb.WriteString(":" + capSuffix)
	all = sb.String() // the same bytes, grown in place: Grow reserved them
	for i := range 3 {
		w.arr[i] = all[i*p : (i+1)*p]
	}
	w.arr[3] = all[3*p:]
	w.keys = w.arr[:]
}

// bounds returns the tag and bounds of the window holding t.
func (b *Budget) bounds(t time.Time) (string, time.Time, time.Time) {
	start, end := b.window.Bounds(t)
	if !end.After(t) { // a broken Window; never loop on it
		end = t.Add(time.Nanosecond)
	}
	return start.UTC().Format(time.RFC3339Nano), start, end
}

// windowAt builds the keys of the window holding t.
func (b *Budget) windowAt(t time.Time) *winKeys {
	w := new(winKeys)
	tag, start, end := b.bounds(t)
	b.fill(w, tag, start, end)
	return w
}

// current returns the keys of the window in force by the budget's clock.
func (b *Budget) current() (*winKeys, time.Time) {
	w := b.cur.Load()
	if b.window == nil {
		return w, time.Time{}
	}
	now := b.clock()
	if now.Before(w.end) && !now.Before(w.start) {
		return w, now
	}
	n := b.windowAt(now)
	b.cur.Store(n) // racing stores build equal keys; either is right
	return n, now
}

var noTTL any = int64(0)

// ttlArg is how long (ms) a window's keys must outlive now: until its end, then
// twice the lease, so that late settles still find their holds.
func (b *Budget) ttlArg(w *winKeys, now time.Time) any {
	if b.window == nil {
		return noTTL
	}
	d := w.end.Sub(now)
	if d < 0 {
		d = 0
	}
	if d > 100*365*24*time.Hour { // a window that never ends: keep its keys
		return noTTL
	}
	d += 2 * b.lease
	return d.Milliseconds() + 1
}

// Name is the budget's name, as given to New.
func (b *Budget) Name() string { return b.name }

// Capacity is the number of tokens the budget grants per window unless Redis holds an
// override for it (Snapshot reports the capacity in force).
func (b *Budget) Capacity() uint64 { return b.capacity }

// Remaining is what the next reservation may take as of the last reserve or settle
// made through b in its current window: capacity in force − consumed − held, floored
// at 0, as the script reported it, with no round trip (budget.RemainingReader, which
// middleware reads after every settle instead of a Snapshot). Other processes' calls
// since then are not in it, nor a window that has rolled over; before b's first call
// it is b's capacity. Use Snapshot for a fresh, fleet-wide reading.
func (b *Budget) Remaining() uint64 {
	if !b.leftKnown.Load() {
		return b.capacity
	}
	return b.left.Load()
}

// learnLeft notes what a script reported was left (negative: in debt, nothing).
func (b *Budget) learnLeft(left int64) {
	b.left.Store(uint64(max(left, 0)))
	b.leftKnown.Store(true)
}

// Lease is how long a hold lives before it is reclaimed.
func (b *Budget) Lease() time.Duration { return b.lease }

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
	if n > MaxCapacity {
		n = MaxCapacity + 2
	}
	return n
}

// TryReserve holds estimate tokens in one round trip, or returns a
// *budget.DeniedError when capacity − consumed − held is less than estimate or is 0.
// When Redis cannot be reached or does not answer in time it returns an error wrapping
// budget.ErrUnavailable, or, with WithFailOpen, a fail-open reservation. A cancelled
// ctx returns an error wrapping context.Canceled (never a fail-open grant). Other
// failures (a key of the wrong type, a script error) return a descriptive error.
func (b *Budget) TryReserve(ctx context.Context, estimate uint64) (*budget.Reservation, error) {
	return b.reserve(ctx, estimate, estimate)
}

// TryReserveRange holds as much as is left between min and max (all of max when it
// fits), in one round trip, or returns a *budget.DeniedError with Requested = min when
// less than min, or nothing, is left. min > max is a request for exactly min. Failures
// are as for TryReserve; a fail-open reservation holds max.
func (b *Budget) TryReserveRange(ctx context.Context, min, max uint64) (*budget.Reservation, error) {
	if max < min {
		max = min
	}
	return b.reserve(ctx, min, max)
}

func (b *Budget) reserve(ctx context.Context, min, max uint64) (*budget.Reservation, error) {
	w, now := b.current()
	id := newID()
	res, err := b.run(ctx, reserveScript, w.keys,
		b.markArg, b.ttlArg(w, now), b.capArg, arg(min), arg(max), id, b.leaseArg, w.endMs)
	if err != nil {
		err = b.wrap("reserve", err)
		if b.failOpen && errors.Is(err, budget.ErrUnavailable) {
			return budgetkit.NewFailOpen(b, max), nil
		}
		return nil, err
	}
	switch {
	case len(res) == 2 && res[0] == 0 && res[1] >= 0:
		b.learnLeft(res[1])
		return nil, &budget.DeniedError{Budget: b.name, Requested: min, Remaining: uint64(res[1])}
	case len(res) == 3 && res[0] == 1 && res[1] >= 0:
		b.learnLeft(res[2])
		if w.tag != "all" {
			id = w.tag + "/" + id
		}
		return budgetkit.NewReservation(b, id, uint64(res[1])), nil
	}
	return nil, fmt.Errorf("redisbudget: budget %q: reserve: unexpected reply %v", b.name, res)
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
// or foreign r returns an error wrapping budget.ErrInvalidReservation; a fail-open
// reservation settles as a no-op. When Redis cannot be reached the error wraps
// budget.ErrUnavailable (even with WithFailOpen) and r stays unsettled, so the call
// may be retried; if it never is, the lease gives the hold back.
func (b *Budget) Record(ctx context.Context, r *budget.Reservation, prompt, completion uint64) error {
	return b.settle(ctx, r, sat.Add(prompt, completion))
}

// Release returns r's hold whole, in one round trip. Duplicates, bad reservations and
// failures are handled as by Record.
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
	id := budgetkit.ID(r)
	w := b.cur.Load()
	if tag, rest, ok := strings.Cut(id, "/"); ok {
		if tag != w.tag {
			start, err := time.Parse(time.RFC3339Nano, tag)
			if err != nil || b.window == nil {
				return fmt.Errorf("%w: malformed reservation id %q for budget %q", budget.ErrInvalidReservation, id, b.name)
			}
			_, end := b.window.Bounds(start)
			w = new(winKeys)
			b.fill(w, tag, start, end)
		}
		id = rest
	} else if w.tag != "all" {
		return fmt.Errorf("%w: malformed reservation id %q for budget %q", budget.ErrInvalidReservation, id, b.name)
	}
	var now time.Time
	if b.window != nil {
		now = b.clock()
	}
	res, err := b.settleReporting(ctx, w, now, id, r.Tokens(), arg(usage))
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

// run runs a reserve or settle script: one EVALSHA (EVAL when the server does not have
// it), or with WithReplicaAck the script and a WAIT on one connection.
func (b *Budget) run(ctx context.Context, s *redis.Script, keys []string, args ...any) ([]int64, error) {
	if b.acks == 0 {
		return s.Run(ctx, b.rdb, keys, args...).Int64Slice()
	}
	// WAIT counts the replicas that have every write made on its own connection, so the
	// script goes to the master of the keys' slot directly, pipelined with the WAIT.
	node := b.rdb
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			return nil, err
		}
		node = m
	}
	var res *redis.Cmd
	var acked *redis.Cmd
	for _, sha := range [...]bool{true, false} {
		pipe := node.Pipeline()
		if sha {
			res = s.EvalSha(ctx, pipe, keys, args...)
		} else {
			res = s.Eval(ctx, pipe, keys, args...)
		}
		acked = pipe.Do(ctx, "wait", b.acks, b.ackTimeoutMs)
		_, _ = pipe.Exec(ctx) // the errors are the commands'
		if !sha || !redis.HasErrorPrefix(res.Err(), "NOSCRIPT") {
			break
		}
	}
	v, err := res.Int64Slice()
	var n int64
	if err == nil {
		n, err = acked.Int64()
	}
	if err != nil {
		return nil, err
	}
	if n < int64(b.acks) {
		return nil, fmt.Errorf("%w: %d of %d replicas acknowledged within %v", errNotReplicated, n, b.acks, b.ackTimeout)
	}
	return v, nil
}

// errNotReplicated: WAIT returned with fewer replicas than WithReplicaAck asked for.
var errNotReplicated = errors.New("not on enough replicas")

// Consumed is the usage recorded in the current window, in one round trip (which also
// reclaims expired holds). Failures are as for Snapshot.
func (b *Budget) Consumed(ctx context.Context) (uint64, error) {
	s, err := b.Snapshot(ctx)
	return s.Consumed, err
}

// Snapshot reports the current window as one atomic read, in one round trip; it first
// reclaims holds whose lease has ended. Its Capacity is the one in force: Redis's
// override when there is one, else the budget's own. When Redis cannot be reached the
// error wraps budget.ErrUnavailable, whatever the failure policy.
func (b *Budget) Snapshot(ctx context.Context) (budget.Snapshot, error) {
	w, now := b.current()
	s := budget.Snapshot{Name: b.name, Capacity: b.capacity, WindowEnd: w.end}
	st, err := snapshot(ctx, b.rdb, w.keys, b.markArg, b.ttlArg(w, now), b.capArg)
	if err != nil {
		return s, b.wrap("snapshot", err)
	}
	s.Capacity, s.Consumed, s.Held, s.Remaining = st.capacity, st.consumed, st.held, st.remaining()
	return s, nil
}

// counts are what the snapshot script reports.
type counts struct {
	consumed, held, capacity uint64
	fromRedis                bool
}

func (c counts) remaining() uint64 {
	if u := sat.Add(c.consumed, c.held); u < c.capacity {
		return c.capacity - u
	}
	return 0
}

// snapshot runs the snapshot script on one window's keys (hash, lease set, reclaimed
// set, capacity override).
func snapshot(ctx context.Context, rdb redis.UniversalClient, keys []string, mark, ttl, defCap any) (counts, error) {
	res, err := snapshotScript.Run(ctx, rdb, keys, mark, ttl, defCap).Int64Slice()
	if err != nil {
		return counts{}, err
	}
	if len(res) != 4 || res[0] < 0 || res[1] < 0 || res[2] < 0 {
		return counts{}, replyError{fmt.Errorf("unexpected reply %v", res)}
	}
	return counts{uint64(res[0]), uint64(res[1]), uint64(res[2]), res[3] == 1}, nil
}

// wrap names the budget and the operation, and marks the failures that mean Redis
// could not be reached (or could not serve now) with budget.ErrUnavailable.
func (b *Budget) wrap(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("redisbudget: budget %q: %s: %w", b.name, op, err)
	}
	if !unavailable(err) {
		return fmt.Errorf("redisbudget: budget %q: %s failed in Redis: %w", b.name, op, err)
	}
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		// The outage may be a failover. go-redis rereads which master holds a slot only
		// on a redirect or once a minute (ClusterStateReloadInterval), and a dead master
		// sends no redirect: without this, calls would fail for up to a minute after a
		// replica took over. Reloads are asynchronous and coalesced.
		cc.ReloadState(context.Background())
	}
	return fmt.Errorf("%w: redisbudget: budget %q: %s: %w", budget.ErrUnavailable, b.name, op, err)
}

// unavailable tells a store that cannot be reached or cannot serve now (network
// errors, timeouts, a closed client, a server loading or failing over) from one that
// answered with an error about the data or the script.
func unavailable(err error) bool {
	if errors.As(err, new(replyError)) {
		return false
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return true
	}
	msg := strings.TrimPrefix(rerr.Error(), "ERR ")
	// MOVED and ASK reach here only from WithReplicaAck's direct calls to a master
	// (the cluster client follows them itself): the slot's master has changed.
	for _, p := range [...]string{"LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS", "MOVED", "ASK", "max number of clients"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// replyError is a reply of a shape the scripts never send: Redis answered, so it does
// not mean Redis is unavailable.
type replyError struct{ error }

var (
	_ budget.TokenBudget     = (*Budget)(nil)
	_ budget.RangeReserver   = (*Budget)(nil)
	_ budget.Observable      = (*Budget)(nil)
	_ budget.RemainingReader = (*Budget)(nil)
	_ budgetkit.Alerting     = (*Budget)(nil)
)
