package redisrate_test

import (
	"github.com/spendguard/spendguard/internal/testenv"

	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	if mode := os.Getenv(envHelper); mode != "" {
		os.Exit(helperMain(mode)) // a process of TestFourProcesses
	}
	goleak.VerifyTestMain(m)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var ctx = context.Background()

// needService is the service variable env's value (internal/testenv: a failure when
// it is empty, unless the run says its services are absent).
func needService(t testing.TB, env string) string { t.Helper(); return testenv.Need(t, env) }

func client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: needService(t, "SPENDGUARD_REDIS_ADDR"), PoolSize: 64,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func clusterClient(t testing.TB) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(needService(t, "SPENDGUARD_REDIS_CLUSTER_ADDRS"), ","),
		PoolSize: 64, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// onEachRedis runs f on the single server and on the cluster.
func onEachRedis(t *testing.T, f func(t *testing.T, rdb redis.UniversalClient)) {
	t.Helper()
	t.Run("single", func(t *testing.T) { f(t, client(t)) })
	t.Run("cluster", func(t *testing.T) { f(t, clusterClient(t)) })
}

// uniqueName gives each test its own limit on the shared servers.
func uniqueName(t testing.TB) string {
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	return strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()) + "-" + hex.EncodeToString(raw[:])
}

// redisEnv is the variable that points a helper process at rdb's server or cluster.
func redisEnv(rdb redis.UniversalClient) string {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return envRedis + "=cluster:" + strings.Join(c.Options().Addrs, ",")
	case *redis.Client:
		return envRedis + "=single:" + c.Options().Addr
	}
	panic(fmt.Sprintf("redisEnv: unexpected client %T", rdb))
}

func helperClient() redis.UniversalClient {
	kind, addrs, _ := strings.Cut(os.Getenv(envRedis), ":")
	return redis.NewUniversalClient(&redis.UniversalOptions{Addrs: strings.Split(addrs, ","), IsClusterMode: kind == "cluster", PoolSize: 16})
}
