package redisbudget

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/budget"
	budgetwindow "github.com/spendguard/spendguard/budget/window" // redisbudget has a window type of its own
)

const (
	// maxCapacity is the largest capacity accepted: 2^53, the largest integer below
	// which every integer is exact in the doubles Redis's Lua computes with. Counts
	// that would pass it (usage recorded as debt) saturate at it.
	maxCapacity = 1 << 53
	// defaultLease is how long a hold lives when WithLease is not given.
	defaultLease = 10 * time.Minute
	// defaultPrefix starts every key when WithKeyPrefix is not given.
	defaultPrefix = "spendguard"
)

// Option configures the budgets built by New and NewFamily.
type Option func(*config)

// config is what the arguments and options of New or NewFamily decide, shared
// read-only by every budget of a Family.
type config struct {
	rdb      redis.UniversalClient
	capacity uint64
	lease    time.Duration
	// Script arguments that never change, boxed once so that calls do not allocate
	// them again.
	capArg   any // capacity
	leaseArg any // lease in ms
	markArg  any // how long a reclaimed hold is remembered, in ms: twice the lease
	window   budgetwindow.Window
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

	// offset is Redis's clock minus this process's, in ms, as the last reserve
	// measured it: a call's deadline is sent to the reserve script in Redis's time.
	offset atomic.Int64
	// late counts the calls abandoned at their context's end whose goroutine has not
	// returned yet (call.go); the tests wait on it.
	late sync.WaitGroup
}

func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// WithLease sets how long a hold lives before the next reserve or Snapshot reclaims
// it (10 minutes by default), timed by the Redis server's clock (TIME). A reclaimed
// hold is remembered twice as long, so that its late settle is still charged. A lease
// under one millisecond or over a year makes New fail.
func WithLease(d time.Duration) Option {
	return func(c *config) {
		if d < time.Millisecond || d > 365*24*time.Hour {
			c.fail(fmt.Errorf("lease %v is outside [1ms, 1 year]", d))
			return
		}
		c.lease = d
	}
}

// WithWindow resets the budget at the start of every period of w, as budget.WithWindow
// does for budget.Atomic. A nil w means no window.
//
// The window is chosen with the clock of the process that reserves, not Redis's:
// processes sharing a windowed budget should keep their clocks in sync. A reservation
// settles against the window it was taken in, whenever it is settled. A window's keys
// expire once the window has ended and twice the lease has passed.
func WithWindow(w budgetwindow.Window) Option { return func(c *config) { c.window = w } }

// WithFailOpen makes the budget grant when Redis cannot be reached: TryReserve and
// TryReserveRange return a reservation built by budgetkit.NewFailOpen (its FailedOpen
// is true) and settling it does nothing. Without it, those calls fail closed with an
// error wrapping budget.ErrUnavailable.
//
// A call fails open once the client has given up on Redis: a server that refuses
// connections after go-redis's dial retries and command retries (DialerRetries,
// MaxRetries and their backoffs: 0.5 to 1.7 s with the default options), a frozen one
// after the client's ReadTimeout (3 s by default) and retries. Build the client with
// fewer retries or shorter timeouts to fail open sooner. A call whose context ends
// first is never granted, not even fail-open: it returns an error wrapping
// budget.ErrUnavailable and the context's error.
func WithFailOpen() Option { return func(c *config) { c.failOpen = true } }

// WithKeyPrefix sets the start of every key ("spendguard" by default); keys are
// prefix:{name}:…, so that all keys of one budget share a Redis Cluster hash slot. An
// empty prefix leaves keys starting at {name}. A prefix containing '{' or '}', or
// that is not valid UTF-8, makes New fail.
func WithKeyPrefix(p string) Option {
	return func(c *config) {
		switch {
		case strings.ContainsAny(p, "{}"):
			c.fail(fmt.Errorf("key prefix %q contains '{' or '}'", p))
		case !utf8.ValidString(p):
			c.fail(fmt.Errorf("key prefix %q is not valid UTF-8", p))
		default:
			c.prefix = p
		}
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
	return func(c *config) {
		if n < 1 || n > 16 {
			c.fail(fmt.Errorf("replica acknowledgements %d are outside [1, 16]", n))
			return
		}
		if timeout < time.Millisecond || timeout > time.Minute {
			c.fail(fmt.Errorf("replica acknowledgement timeout %v is outside [1ms, 1 minute]", timeout))
			return
		}
		c.acks, c.ackTimeout, c.ackTimeoutMs = n, timeout, timeout.Milliseconds()
	}
}

// withClock sets the clock windows are read from (time.Now by default; nil means
// time.Now). Leases never use it: they are timed by Redis. The tests set it
// (export_test.go).
func withClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// newConfig checks the client and the capacity and applies the options.
func newConfig(rdb redis.UniversalClient, capacity uint64, opts []Option) (*config, error) {
	if isNil(rdb) {
		return nil, errNilClient
	}
	if err := checkCapacity(capacity); err != nil {
		return nil, err
	}
	c := &config{rdb: rdb, capacity: capacity, lease: defaultLease, prefix: defaultPrefix}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	if c.acks > 0 {
		var read time.Duration
		switch cl := rdb.(type) {
		case *redis.Client:
			read = cl.Options().ReadTimeout
		case *redis.ClusterClient:
			read = cl.Options().ReadTimeout
		default:
			c.fail(fmt.Errorf("WithReplicaAck needs a *redis.Client or a *redis.ClusterClient, not a %T", rdb))
		}
		if read > 0 && read <= c.ackTimeout {
			c.fail(fmt.Errorf("the client's ReadTimeout %v would end a wait for replicas (WithReplicaAck) of %v first", read, c.ackTimeout))
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	c.capArg = capacity
	c.buildAlerts()
	c.leaseArg = c.lease.Milliseconds()
	c.markArg = 2 * c.lease.Milliseconds()
	return c, nil
}

// checkCapacity is the one rule for a capacity, New's, NewFamily's and
// Family.SetCapacity's: at most 2^53 (0 denies everything).
func checkCapacity(n uint64) error {
	if n > maxCapacity {
		return fmt.Errorf("capacity %d is above 2^53 (%d), the largest Redis's Lua numbers hold exactly", n, uint64(maxCapacity))
	}
	return nil
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
