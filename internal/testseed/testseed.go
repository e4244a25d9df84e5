// Package testseed gives randomized tests a seed that is printed and can be replayed:
// a failing run logs "seed N", and SPENDGUARD_SEED=N go test ... runs it again.
package testseed

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Env is the variable that fixes the seed.
const Env = "SPENDGUARD_SEED"

// Get returns the seed from SPENDGUARD_SEED, or a fresh one from the clock, and logs it
// either way. A value that is not an unsigned integer fails the test.
func Get(t testing.TB) uint64 {
	t.Helper()
	if v := os.Getenv(Env); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: not an unsigned integer", Env, v)
		}
		t.Logf("seed %d (from %s)", s, Env)
		return s
	}
	s := uint64(time.Now().UnixNano())
	t.Logf("seed %d (replay with %s=%d)", s, Env, s)
	return s
}
