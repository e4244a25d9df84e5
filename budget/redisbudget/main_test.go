package redisbudget_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/spendguard/spendguard/internal/testenv"
)

func TestMain(m *testing.M) {
	// The tests dial closed ports on purpose; go-redis would log every refused dial.
	redis.SetLogger(quiet{})
	if mode := os.Getenv(envHelper); mode != "" {
		os.Exit(helperMain(mode)) // a helper process of TestSeveralProcesses or the kill -9 test
	}
	goleak.VerifyTestMain(m)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var ctx = context.Background()

// needService is the service variable env's value (internal/testenv: a failure when
// it is empty, unless the run says its services are absent).
func needService(t testing.TB, env string) string { t.Helper(); return testenv.Need(t, env) }

// client connects to the shared test server, closed when the test ends.
func client(t testing.TB) *redis.Client {
	t.Helper()
	return clientAt(t, needService(t, "SPENDGUARD_REDIS_ADDR"))
}

func clientAt(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:         addr,
		DialTimeout:  time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		PoolSize:     64,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// uniqueName gives each test its own budget on the shared server.
func uniqueName(t testing.TB) string {
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	n := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	return n + "-" + hex.EncodeToString(raw[:])
}

var errCanceled = context.Canceled

func contextWithCancel() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }

// keysOf lists the keys of budget b's name (SCAN: never blocks the shared server; on
// a cluster, the master holding the name's slot).
func keysOf(t *testing.T, rdb redis.UniversalClient, b interface{ Name() string }) []string {
	t.Helper()
	var keys []string
	iter := nodeFor(t, rdb, "{"+b.Name()+"}").Scan(ctx, 0, "*{"+b.Name()+"}*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	require.NoError(t, iter.Err())
	return keys
}
