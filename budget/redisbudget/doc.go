// Package redisbudget is a budget.TokenBudget kept in Redis, so that every process of a
// fleet draws on one budget: a tenant's daily allowance, a global cap on a model.
//
// # Guarantees
//
// A Budget keeps the rules of budget.Atomic: a grant is decided against capacity −
// consumed − held at one instant, debt is carried, a reservation settles at most once
// (from any process: settles are idempotent by reservation id), and an estimate of 0 is
// denied once nothing is left. Each reserve and each settle is one Lua script, one
// round trip (EVALSHA, falling back to EVAL). Every hold has a lease (WithLease, 10
// minutes by default) timed by Redis's clock, so a process that dies holding tokens
// leaks nothing: the next reserve or Snapshot after the lease gives the hold back,
// once, and a settle arriving after that still charges its usage, once.
//
// No call waits past its context's deadline, whatever options the go-redis client was
// built with (go-redis itself honours a deadline only with ContextTimeoutEnabled, and
// a cancellation never), and no reservation is granted after it: the reserve script
// compares the deadline with Redis's clock before it grants, and a grant whose reply
// arrives after the caller has left is given back. A call that Redis does not answer
// in time, or that cannot reach it, returns an error wrapping budget.ErrUnavailable:
// the budget fails closed, or, with WithFailOpen, a reserve fails open. A settle that
// returned an error may still reach Redis later; retrying it is safe.
//
// All keys of one budget share the hash tag {name}, so a Budget works on a
// *redis.ClusterClient as on a single server, and fails over with it (see
// WithReplicaAck for what asynchronous replication may lose).
//
// # Families and operators
//
// A Family hands out the budget of any key (a tenant id, a user id, an API key) without
// a call to Redis and keeps nothing per key, so a service can build a tenant's budget
// per request and put it in the request's context (budget.NewContext) next to a global
// budget on the middleware. The same Family reads and changes its budgets from
// anywhere (cmd/spendguard runs these operations): Status and List read and never
// write; SetCapacity stores an override that every process's next reserve reads, with
// no restart; Reset starts the current window over without touching holds in flight.
//
// # Concurrency
//
// Budget and Family are safe for concurrent use, by any number of goroutines and
// processes.
//
// # Zero values and bad input
//
// The zero values of Budget and Family are not usable: build them with New, NewFamily
// and Family.Budget, which make no call to Redis and return an error (never a usable
// nil) for a nil client, a capacity above 2^53 (Lua computes with doubles, exact up
// to 2^53; counts saturate there), a name that is empty, contains '{' or '}' or is not
// valid UTF-8, or a bad option, each error saying which. A nil Option is ignored. A
// reservation another budget issued, or nil, is refused with
// budgetkit.ErrInvalidReservation; keys under the prefix that are not a budget's are
// reported with ErrNotBudget and left as they are.
//
// # Windows
//
// With WithWindow the budget restarts every period, read from the reserving process's
// clock: processes sharing a windowed budget should keep their clocks in sync. A
// reservation settles against the window it was taken in (the window is part of its
// id). A window's keys expire twice the lease after it ends.
//
// # Keys
//
// For a budget named n with the default prefix, in window W ("all" for an unwindowed
// budget, else the window's start in RFC 3339, UTC): spendguard:{n}:W:h, a hash of
// the counters (consumed c, held h, a lower bound n of the earliest lease end, and d,
// l, e: the default capacity, lease in ms and window end of the last process that
// reserved, for operators, and a:<fraction> for each alert claimed);
// spendguard:{n}:W:z, the live holds (member "id:size", scored by lease end); and
// spendguard:{n}:W:r, the holds reclaimed in the last two leases. spendguard:{n}:cap,
// shared by all windows and never expiring, holds the capacity override when one is
// set. A settle whose window's keys have expired, or whose hold Redis lost (a restart
// without persistence), finds nothing to settle and changes nothing.
//
// Redis 5 or later is required (scripts read TIME before writing, which needs effects
// replication); the tests run against Redis 7.
package redisbudget
