// Package testenv is the tests' one rule for the services they need (a redis-server,
// a Redis Cluster, a cluster of their own for failovers): a test reads the service's
// environment variable and fails, with a message saying how to provide it, when the
// variable is empty. It skips only when SPENDGUARD_SERVICES=absent says, explicitly,
// that the run has no services (scripts/unit.sh always provides them).
package testenv

import (
	"os"
	"testing"
)

// The service variables the root module's tests read, as scripts/unit.sh sets them.
const (
	Redis                = "SPENDGUARD_REDIS_ADDR"                   // host:port of a redis-server
	RedisServer          = "SPENDGUARD_REDIS_SERVER"                 // the redis-server binary, for tests that run their own
	RedisCluster         = "SPENDGUARD_REDIS_CLUSTER_ADDRS"          // comma-separated nodes of a Redis Cluster
	RedisFailoverCluster = "SPENDGUARD_REDIS_FAILOVER_CLUSTER_ADDRS" // a cluster the failover tests may kill nodes of
)

// Absent is the variable, and "absent" its value, that makes tests needing a service
// skip instead of fail.
const Absent = "SPENDGUARD_SERVICES"

// Need returns the value of the service variable env. When it is empty, the test
// fails, or skips when SPENDGUARD_SERVICES=absent.
func Need(t testing.TB, env string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	if os.Getenv(Absent) == "absent" {
		t.Skipf("%s is empty and %s=absent: skipped", env, Absent)
		return ""
	}
	t.Fatalf("%s is empty: this test needs it (scripts/unit.sh starts the services and sets it; "+
		"set %s=absent to skip the tests that need a service)", env, Absent)
	return ""
}
