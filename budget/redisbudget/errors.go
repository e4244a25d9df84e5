package redisbudget

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/budget"
)

// ErrNotBudget is wrapped by the errors of Family's operations (Status, List's skipped
// keys, Reset, SetCapacity) for keys under the family's prefix that are not what a
// spendguard budget writes: another type, fields no budget has, counts that are not
// counts. Such keys are reported and left as they are.
var ErrNotBudget = errors.New("not a spendguard budget")

var (
	errNilClient = errors.New("redisbudget: nil Redis client")
	// errNotReplicated: WAIT returned with fewer replicas than WithReplicaAck asked for.
	errNotReplicated = errors.New("not on enough replicas")
	// errLate: the reserve script saw, by Redis's clock, that the call's deadline had
	// passed, and granted nothing.
	errLate = errors.New("the call's deadline passed before Redis ran the reserve")
)

// wrap names the budget and the operation, and marks the failures that mean Redis
// could not be reached (or could not serve now, or not before the call's deadline)
// with budget.ErrUnavailable. A cancellation is returned as it is.
func (b *Budget) wrap(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("redisbudget: budget %q: %s: %w", b.name, op, err)
	}
	if !unavailable(err) {
		return fmt.Errorf("redisbudget: budget %q: %s failed in Redis: %w", b.name, op, err)
	}
	if cc, ok := b.rdb.(*redis.ClusterClient); ok && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, errLate) {
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

// adminError names the budget and the operation of a Family operation; a key of the
// wrong type, or a script's complaint about what it read, means the keys are not a
// budget's, and a failure to reach Redis wraps budget.ErrUnavailable.
func adminError(name, op string, err error) error {
	var rerr redis.Error
	switch msg := err.Error(); {
	case errors.As(err, &rerr) && (strings.HasPrefix(msg, "WRONGTYPE") || strings.Contains(msg, "spendguard: corrupt") || strings.Contains(msg, "spendguard: not a budget")):
		return fmt.Errorf("redisbudget: budget %q: %s: %w: %w", name, op, ErrNotBudget, err)
	case !errors.Is(err, context.Canceled) && unavailable(err):
		return fmt.Errorf("%w: redisbudget: budget %q: %s: %w", budget.ErrUnavailable, name, op, err)
	}
	return fmt.Errorf("redisbudget: budget %q: %s: %w", name, op, err)
}
