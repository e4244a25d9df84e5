package redisbudget_test

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
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

// The helper process is this test binary run again with SPENDGUARD_HELPER set:
//
//	ops:  random reserve/record/release against the budget, then print
//	      "recorded N" (the usage it recorded) and exit;
//	hold: reserve SPENDGUARD_HELPER_HOLDS holds of 100, print "ready", and wait to
//	      be killed.
const (
	envHelper   = "SPENDGUARD_HELPER"
	envName     = "SPENDGUARD_HELPER_BUDGET"
	envCapacity = "SPENDGUARD_HELPER_CAPACITY"
	envSeed     = "SPENDGUARD_HELPER_SEED"
	envHolds    = "SPENDGUARD_HELPER_HOLDS"
	envLease    = "SPENDGUARD_HELPER_LEASE"
)

// helperMain is what the test binary does when started by helper (TestMain hands over
// to it when envHelper is set): play one process of a fleet sharing a budget. Its
// exit code and stderr say what went wrong.
func helperMain(mode string) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "helper %s: "+format+"\n", append([]any{mode}, args...)...)
		return 1
	}
	rdb := helperClient()
	defer rdb.Close()
	capacity, _ := strconv.ParseUint(os.Getenv(envCapacity), 10, 64)
	lease, _ := time.ParseDuration(os.Getenv(envLease))
	if lease == 0 {
		lease = redisbudget.DefaultLease
	}
	b, err := redisbudget.New(rdb, os.Getenv(envName), capacity, redisbudget.WithLease(lease))
	if err != nil {
		return fail("New: %v", err)
	}
	switch mode {
	case "hold":
		n, _ := strconv.Atoi(os.Getenv(envHolds))
		for range n {
			if _, err := b.TryReserve(ctx, 100); err != nil {
				return fail("TryReserve: %v", err)
			}
		}
		fmt.Println("ready")
		time.Sleep(time.Hour) // until killed
		return 0
	case "ops":
		s, _ := strconv.ParseUint(os.Getenv(envSeed), 10, 64)
		var mu sync.Mutex
		var recorded uint64
		var errs []error
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(s, uint64(g)))
				report := func(err error) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				for range 100 {
					r, err := b.TryReserve(ctx, rng.Uint64N(400))
					if errors.Is(err, budget.ErrDenied) {
						continue
					}
					if err != nil {
						report(err)
						return
					}
					if rng.IntN(4) == 0 {
						if err := b.Release(ctx, r); err != nil {
							report(err)
						}
						continue
					}
					u := rng.Uint64N(r.Tokens() + 1)
					if err := b.Record(ctx, r, u, 0); err != nil {
						report(err)
						return
					}
					if err := b.Record(ctx, r, u, 0); err != nil { // duplicate: a no-op
						report(err)
						return
					}
					mu.Lock()
					recorded += u
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			return fail("%v", errors.Join(errs...))
		}
		fmt.Printf("recorded %d\n", recorded)
		return 0
	default:
		return fail("unknown helper mode")
	}
}

// helper starts the test binary as a helper process in mode with env added.
func helper(t *testing.T, mode string, env ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$") // TestMain hands over to helperMain
	cmd.Env = append(os.Environ(), append(env, envHelper+"="+mode)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, bufio.NewScanner(out)
}

// TestSeveralProcesses shares one budget between four OS processes, eight goroutines
// each, and checks the budget's invariants from a fifth.
func TestSeveralProcesses(t *testing.T) { onEachRedis(t, testSeveralProcesses) }

func testSeveralProcesses(t *testing.T, rdb redis.UniversalClient) {
	const capacity = 20000
	name := uniqueName(t)
	b, err := redisbudget.New(rdb, name, capacity)
	require.NoError(t, err)
	s := seed(t)

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			sn, err := b.Snapshot(ctx)
			if !assert.NoError(t, err) {
				return
			}
			assert.LessOrEqual(t, sn.Consumed+sn.Held, uint64(capacity), "over capacity: %+v", sn)
		}
	}()

	var total uint64
	var scanners []*bufio.Scanner
	var cmds []*exec.Cmd
	for p := range 4 {
		cmd, sc := helper(t, "ops", redisEnv(rdb), envName+"="+name, envCapacity+"="+strconv.Itoa(capacity),
			envSeed+"="+strconv.FormatUint(s+uint64(p), 10))
		cmds, scanners = append(cmds, cmd), append(scanners, sc)
	}
	for i, sc := range scanners {
		var line string
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "recorded ") {
				line = l
			}
		}
		require.NoError(t, cmds[i].Wait(), "helper %d", i)
		n, err := strconv.ParseUint(strings.TrimPrefix(line, "recorded "), 10, 64)
		require.NoError(t, err, "helper %d printed %q", i, line)
		total += n
	}
	close(stop)
	<-done
	sn := snap(t, b)
	t.Logf("4 processes recorded %d of %d", total, capacity)
	assert.Equal(t, total, sn.Consumed, "consumed is the sum of what every process recorded")
	assert.Zero(t, sn.Held)
}

// TestKilledProcessHoldsAreReclaimed kills -9 a process holding reservations: after
// their lease the next script gives them back.
func TestKilledProcessHoldsAreReclaimed(t *testing.T) {
	t.Parallel() // waits out leases; its budget is its own
	onEachRedis(t, testKilledProcessHoldsAreReclaimed)
}

func testKilledProcessHoldsAreReclaimed(t *testing.T, rdb redis.UniversalClient) {
	name := uniqueName(t)
	const lease = 3 * time.Second // long enough to see the holds right after the kill
	b, err := redisbudget.New(rdb, name, 1000, redisbudget.WithLease(time.Hour))
	require.NoError(t, err)

	cmd, sc := helper(t, "hold", redisEnv(rdb), envName+"="+name, envCapacity+"=1000", envHolds+"=6", envLease+"="+lease.String())
	for sc.Scan() && sc.Text() != "ready" {
	}
	require.Equal(t, "ready", sc.Text(), "helper did not get its holds: %v", sc.Err())
	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no settle, no cleanup
	_ = cmd.Wait()

	held := snap(t, b).Held
	require.Equal(t, uint64(600), held, "the dead process's holds are still there within their lease")
	deadline := time.Now().Add(30 * time.Second)
	for held != 0 {
		require.True(t, time.Now().Before(deadline), "holds of a killed process were never reclaimed")
		time.Sleep(50 * time.Millisecond)
		held = snap(t, b).Held
	}
	r, err := b.TryReserve(ctx, 1000)
	require.NoError(t, err, "the whole capacity is back")
	require.NoError(t, b.Release(ctx, r))
}
