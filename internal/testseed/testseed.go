// Package testseed gives randomized tests a seed that is printed and can be replayed:
// a failing run logs "seed N", and SPENDGUARD_SEED=N go test ... runs it again.
package testseed

import (
	"fmt"
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
	s, note, err := Seed()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d (%s)", s, note)
	return s
}

// Seed is Get's choice without a test: the seed, a note saying where it came from (or
// how to replay it), and an error for a SPENDGUARD_SEED that is not an unsigned integer.
func Seed() (seed uint64, note string, err error) {
	if v := os.Getenv(Env); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, "", fmt.Errorf("%s=%q: not an unsigned integer", Env, v)
		}
		return s, "from " + Env, nil
	}
	s := uint64(time.Now().UnixNano())
	return s, fmt.Sprintf("replay with %s=%d", Env, s), nil
}
