// Package redisrate is a ratelimit.Limiter kept in Redis, so that every replica of a
// fleet draws on one provider rate limit: tokens and requests per interval, per model
// or API key, the same sliding window and reserve-then-settle rules as the in-process
// ratelimit.New (see package ratelimit for the window, the bound and the waiting).
//
// Reserve and Settle are one Lua script each (EVALSHA, falling back to EVAL), so one
// round trip each. Reserve's script gives the call the first instant at which it fits,
// never earlier than the limit's latest admission, and the process sleeps until
// then: the fleet's calls are admitted in the order Redis runs their scripts, and
// nothing polls Redis. Times are the Redis server's (TIME), so replicas' clocks do not
// matter. A Settle with a retry-after (a provider's 429) pauses the limit in Redis,
// so that no replica admits a call before it ends.
//
// # Keys and leases
//
// For a limit named n with the default prefix: spendguard-rate:{n}:window, a hash of
// the tokens and requests admitted per slot of 1/64 interval, their sums, the latest
// admission, the pause and the limit the last reserving process was built with; and
// spendguard-rate:{n}:holds, a sorted set of the reservations not yet settled, each leased until its slot stops counting. Both share
// the hash tag {n}, so a limit lives on one Redis Cluster slot and works on a
// *redis.ClusterClient as on a single server. A call that fits reads and writes a few
// fields of the hash; the slots are read whole only when the oldest stops counting
// (once a slot) or a call does not fit. A process that dies holding reservations
// leaks nothing: each still counts at its estimate, as it would have at its usage,
// and stops counting with its slot, one interval after its admission; its hold is
// then forgotten. Both keys expire an interval after the latest admission or pause,
// so an idle limit leaves nothing in Redis but its override, if one was set.
//
// # Changing a limit live
//
// SetLimit stores a limit in spendguard-rate:{n}:limit (a string that never expires),
// which every Reserve's script reads: from the next Reserve on, every process whose
// limit has the same interval counts the stored counts in place of its own, with no
// restart and no extra round trip; removing it (the zero Limit) puts the processes'
// own back. The interval itself is the processes' (it shapes the window's slots), so
// SetLimit refuses another one. List reports each limit in Redis (the limit in force
// and where it comes from, what the window counts, the holds in flight, the waiting
// and the pause) with one script per limit that writes nothing. `spendguard rates`,
// `rate show`, `rate set` and `rate unset` (cmd/spendguard) run them.
//
// Counts are exact up to 2^53 (Lua's doubles); larger ones are clamped. Redis 5 or
// later is required (the scripts read TIME before writing); the tests run Redis 7.
//
// A user who imports only package ratelimit does not import go-redis.
package redisrate
