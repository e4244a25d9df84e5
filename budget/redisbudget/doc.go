// Package redisbudget is a budget.TokenBudget kept in Redis, so that every process of a
// fleet draws on one budget: a tenant's daily allowance, a global cap on a model.
//
// A Budget keeps the rules of budget.Atomic (grants decided against capacity −
// consumed − held at one instant, debt carried, settle at most once, an estimate of 0
// denied once nothing is left) with one Redis round trip per reserve and one per
// settle: each is a Lua script run with EVALSHA, falling back to EVAL when the server
// does not have it cached. All keys of one budget share the hash tag {name}, so the
// budget works on Redis Cluster.
//
// # Families and live limits
//
// A Family hands out the budget of any key (a tenant id, a user id, an API key) on
// demand: Family.Budget makes no call to Redis and keeps nothing per key, so a
// service can build a tenant's budget per request, put it in the request's context
// with budget.NewContext, and let the middleware charge it together with a global
// budget, all-or-nothing (see the Family example).
//
// A budget's capacity (New's, or the Family's default) can be overridden in Redis,
// per name: Admin.SetCapacity, or `spendguard set NAME CAPACITY`. Every reserve and
// Snapshot reads the override, so a change takes effect on the next reservation of
// every process, without a restart; Admin.UnsetCapacity returns the budget to the
// processes' own capacity. Lowering a capacity below what is consumed denies further
// reservations; it never rewrites recorded usage, and holds in flight still settle
// exactly once. Snapshot reports the capacity in force.
//
// # Operating budgets
//
// Admin reads and changes budgets from outside the processes that use them, through
// the same keys and scripts: their status and live holds, the override, and Reset,
// which starts the current window over (consumed 0) without touching holds in flight.
// cmd/spendguard is the operator's command line over it. So that Admin can report
// them, every reserve that writes records next to the counters the capacity, lease
// and window end the reserving process was built with.
//
// # Leases
//
// Every hold has a lease (WithLease, DefaultLease by default), timed by the Redis
// server's clock. A process that dies holding tokens does not leak them: the first
// script to read the budget after the lease ends (a reserve or a Snapshot, the calls
// whose result depends on what is held) gives the hold back, exactly once, at most
// 100 holds per call.
//
// Settles are idempotent by reservation id, from any process: settling removes the
// live hold, so a duplicate finds nothing to do. A hold reclaimed by its lease is
// remembered for twice the lease (the settle marker), so that a settle arriving after
// the reclaim still charges its usage, once, without freeing the hold a second time.
// No marker is written per settle, so a busy budget keeps no more in Redis than its
// live holds and its recently reclaimed ones. Reservation ids are 16 random bytes, so
// processes never collide.
//
// # Numbers
//
// Lua computes with doubles, exact up to 2^53: New refuses capacities above
// MaxCapacity (2^53), and counts saturate there, which leaves a budget exhausted.
//
// # Windows
//
// With WithWindow the budget restarts every period. The period is read from the
// reserving process's clock (WithClock), so processes sharing a windowed budget should
// keep their clocks in sync; a reservation settles against the window it was taken in
// (the window is part of its id). A window's keys expire twice the lease after it
// ends.
//
// # Failures
//
// When Redis cannot be reached, times out, or is loading, calls return an error
// wrapping budget.ErrUnavailable: the budget fails closed. WithFailOpen makes
// reservations succeed instead, as budget.NewFailOpenReservation reservations whose
// settles do nothing. Any other error (a key holding the wrong type, a script error)
// is returned as it is, named after the budget, and never wraps ErrUnavailable.
//
// # Redis Cluster and failover
//
// A budget's keys share one hash slot, so a Budget works on a *redis.ClusterClient
// as on a single server; the tests run the whole suite on a 3-master cluster. When a
// master fails, calls to its slots fail with budget.ErrUnavailable until a replica
// has taken over (seconds, with cluster-node-timeout), then succeed again with the
// same client: an outage makes the cluster client reread the slots at once instead
// of at its next periodic reload (a minute by default).
//
// Replication is asynchronous: a failover loses the reserves and settles that the old
// master acknowledged but its replica had not received (on a healthy link the last
// milliseconds of writes; a replica that was cut off misses everything since). A lost
// settle leaves its usage uncharged; a lost reserve's later settle finds no hold and
// charges nothing either. That is the bound without WithReplicaAck: the usage whose
// reserve or settle was acknowledged after the promoted replica last heard from its
// master (Redis's min-replicas-max-lag caps how long that can be). With
// WithReplicaAck(n, timeout) each reserve and settle returns only once n replicas
// have it, so a failover loses nothing that was acknowledged, at the price of the
// replica's round trip on every call, and of failing closed while a master has fewer
// than n replicas (after a failover, until the failed node rejoins as a replica).
//
// # Keys
//
// For a budget named n with the default prefix, in window W ("all" for an unwindowed
// budget, else the window's start in RFC 3339, UTC): spendguard:{n}:W:h, a hash of
// the counters (consumed, held, a lower bound of the earliest lease end);
// spendguard:{n}:W:z, the live holds (member "id:size", scored by lease end); and
// spendguard:{n}:W:r, the holds reclaimed in the last two leases. The hash also holds
// d, l and e: the default capacity, lease (ms) and window end (Unix ms, 0 for none) of
// the last process that reserved, for Admin. spendguard:{n}:cap, shared by all
// windows and never expiring, holds the capacity override when one is set. A settle whose
// window's keys have expired, or whose hold Redis lost (a restart without
// persistence), finds nothing to settle and changes nothing.
//
// Redis 5 or later is required (scripts read TIME before writing, which needs effects
// replication); the tests run against Redis 7.
package redisbudget
