package redisbudget_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/budget/window"
)

// A daily budget shared by every process that uses the same name. It needs a Redis
// server (SPENDGUARD_REDIS_ADDR, else localhost:6379), so it has no checked output.
func Example() {
	ctx := context.Background()
	addr := os.Getenv("SPENDGUARD_REDIS_ADDR")
	if addr == "" {
		addr = "localhost:6379"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()

	b, err := redisbudget.New(rdb, "example-tenant", 100_000,
		redisbudget.WithWindow(window.Daily(nil)))
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := b.TryReserve(ctx, 1500) // prompt estimate + completion allowance
	switch {
	case errors.Is(err, budget.ErrDenied):
		fmt.Println("over today's budget:", err)
		return
	case err != nil: // errors.Is(err, budget.ErrUnavailable): Redis is down
		fmt.Println(err)
		return
	}
	// ... call the model; it reported 900 prompt and 300 completion tokens.
	if err := b.Record(ctx, r, 900, 300); err != nil {
		fmt.Println(err)
	}
	s, _ := b.Snapshot(ctx)
	fmt.Printf("used %d of %d today\n", s.Consumed, s.Capacity)
}

// Without Redis a budget fails closed, unless it is told to fail open.
func ExampleWithFailOpen() {
	ctx := context.Background()
	// Nothing listens on port 1: every call to this client fails.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()

	strict, _ := redisbudget.New(rdb, "global", 1_000_000)
	_, err := strict.TryReserve(ctx, 500)
	fmt.Println("fail closed:", errors.Is(err, budget.ErrUnavailable))

	lenient, _ := redisbudget.New(rdb, "global", 1_000_000, redisbudget.WithFailOpen())
	r, err := lenient.TryReserve(ctx, 500)
	fmt.Println("fail open:", err == nil, r.Tokens(), "tokens, not accounted:", r.FailedOpen())
	fmt.Println("settle:", lenient.Record(ctx, r, 400, 90))
	// Output:
	// fail closed: true
	// fail open: true 500 tokens, not accounted: true
	// settle: <nil>
}

// A budget on Redis Cluster whose reserves and settles each wait until a replica has
// them, so that a failover loses no acknowledged spend. It needs a cluster
// (SPENDGUARD_REDIS_CLUSTER_ADDRS, comma-separated), so it has no checked output.
func ExampleWithReplicaAck() {
	ctx := context.Background()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: strings.Split(os.Getenv("SPENDGUARD_REDIS_CLUSTER_ADDRS"), ","),
	})
	defer rdb.Close()

	b, err := redisbudget.New(rdb, "example-fleet", 5_000_000,
		redisbudget.WithReplicaAck(1, 250*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := b.TryReserve(ctx, 1500)
	if err != nil { // ErrDenied, or ErrUnavailable: no master, or no replica acknowledged
		fmt.Println(err)
		return
	}
	// ... call the model ...
	if err := b.Record(ctx, r, 1200, 250); err != nil {
		// Not acknowledged: retrying later is safe (a settle is charged once); if no
		// retry succeeds, the hold's lease gives it back.
		fmt.Println(err)
	}
}

// TestExampleFamilyHTTPService runs the example (which needs Redis) and checks its
// output, the comment at its end.
func TestExampleFamilyHTTPService(t *testing.T) {
	t.Setenv("SPENDGUARD_REDIS_ADDR", needService(t, "SPENDGUARD_REDIS_ADDR"))
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = w
	func() {
		defer func() { os.Stdout = stdout }()
		ExampleFamily_httpService()
	}()
	require.NoError(t, w.Close())
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, `acme: 200 ok
globex: 200 ok
globex: 429 over the budget of globex
acme: 200 ok
: 400 redisbudget: empty budget name
acme used 2000 of 5000 (from Redis: false)
globex used 1000 of 500 (from Redis: true)
all tenants used 3000
`, string(out))
}

// Alerts at 50, 80 and 95 % of a fleet's daily budget, each fired once a day by the
// one process whose settle crossed it. It needs a Redis server, so it has no checked
// output.
func ExampleWithAlerts() {
	ctx := context.Background()
	addr := os.Getenv("SPENDGUARD_REDIS_ADDR")
	if addr == "" {
		addr = "localhost:6379"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()

	b, err := redisbudget.New(rdb, "example-alerts", 10_000,
		redisbudget.WithWindow(window.Daily(nil)),
		redisbudget.WithAlerts(func(a budget.Alert) {
			fmt.Printf("%s passed %.0f%%: %d of %d used today\n", a.Snapshot.Name, 100*a.Fraction, a.Snapshot.Consumed, a.Snapshot.Capacity)
		}, 0.5, 0.8, 0.95))
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := b.TryReserve(ctx, 6000)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = b.Record(ctx, r, 5200, 400) // may cross 50 % (if no process has today)
}
