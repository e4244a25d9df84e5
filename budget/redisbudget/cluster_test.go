package redisbudget_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/redisbudget"
)

// envCluster names the Redis Cluster (3 masters with a replica each) that
// scripts/test.sh starts: its nodes' host:port, comma-separated.
const envCluster = "SPENDGUARD_REDIS_CLUSTER_ADDRS"

// envFailoverCluster names a second cluster of the same shape for the tests that kill
// and stop its nodes.
const envFailoverCluster = "SPENDGUARD_REDIS_FAILOVER_CLUSTER_ADDRS"

// envHelperRedis tells a helper process which Redis its parent test ran on:
// "single:host:port" or "cluster:host:port,host:port,...".
const envHelperRedis = "SPENDGUARD_HELPER_REDIS"

// onEachRedis runs f as two subtests: "single" on the shared redis-server and
// "cluster" on the Redis Cluster through redis.NewClusterClient. Each needs its
// service (needService); the suite's tests take their client from here, so that each
// runs on both.
func onEachRedis(t *testing.T, f func(t *testing.T, rdb redis.UniversalClient)) {
	t.Helper()
	t.Run("single", func(t *testing.T) { f(t, client(t)) })
	t.Run("cluster", func(t *testing.T) { f(t, clusterClient(t)) })
}

// clusterClient connects to the test cluster, closed when the test ends.
func clusterClient(t testing.TB) *redis.ClusterClient {
	t.Helper()
	return clusterClientAt(t, strings.Split(needService(t, envCluster), ","))
}

func clusterClientAt(t testing.TB, addrs []string) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:        addrs,
		DialTimeout:  time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		PoolSize:     64,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// nodeFor is the client of the server holding key: rdb itself, or on a cluster the
// master of key's slot (for the commands a cluster client would send to a random
// node, like SCAN).
func nodeFor(t testing.TB, rdb redis.UniversalClient, key string) redis.UniversalClient {
	t.Helper()
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, key)
		require.NoError(t, err)
		return node
	}
	return rdb
}

// redisEnv is the variable that points a helper process at rdb's server or cluster.
func redisEnv(rdb redis.UniversalClient) string {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return envHelperRedis + "=cluster:" + strings.Join(c.Options().Addrs, ",")
	case *redis.Client:
		return envHelperRedis + "=single:" + c.Options().Addr
	}
	panic(fmt.Sprintf("redisEnv: unexpected client %T", rdb))
}

// helperClient is a helper process's client, on the Redis its parent named.
func helperClient() redis.UniversalClient {
	kind, addrs, _ := strings.Cut(os.Getenv(envHelperRedis), ":")
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:         strings.Split(addrs, ","),
		IsClusterMode: kind == "cluster",
		PoolSize:      16,
	})
}

// TestClusterManyBudgets spreads budgets over every master of the cluster and drives
// them all at once: each keeps its own books (its keys share one slot, so each script
// runs on one node), and together they cover all three masters.
func TestClusterManyBudgets(t *testing.T) {
	rdb := clusterClient(t)
	const n, capacity = 48, 1000
	budgets := make([]*redisbudget.Budget, n)
	masters := map[string]bool{}
	for i := range budgets {
		budgets[i] = newBudget(t, rdb, capacity)
		node, err := rdb.MasterForKey(ctx, budgets[i].Keys()[0])
		require.NoError(t, err)
		masters[node.Options().Addr] = true
	}
	require.Len(t, masters, 3, "48 random names land on every master")

	var wg sync.WaitGroup
	recorded := make([]uint64, n)
	for i, b := range budgets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 30 {
				r, err := b.TryReserve(ctx, 60)
				if errors.Is(err, budget.ErrDenied) {
					continue
				}
				if !assert.NoError(t, err) {
					return
				}
				u := uint64(j%7) * 10
				assert.NoError(t, b.Record(ctx, r, u, 5))
				recorded[i] += u + 5
			}
		}()
	}
	wg.Wait()
	for i, b := range budgets {
		s := snap(t, b)
		assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: capacity, Consumed: recorded[i], Remaining: capacity - recorded[i]}, s)
		keys := keysOf(t, rdb, b)
		assert.Equal(t, []string{b.Keys()[0]}, keys, "a settled budget keeps its counters only")
	}
}
