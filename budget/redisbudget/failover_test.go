package redisbudget_test

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/budget/redisbudget"
)

func TestReplicaAckRejects(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ReadTimeout: time.Second})
	defer rdb.Close()
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	defer ring.Close()
	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
		opt  redisbudget.Option
		want string
	}{
		{"no replica", rdb, redisbudget.WithReplicaAck(0, 100*time.Millisecond), "outside [1, 16]"},
		{"too many replicas", rdb, redisbudget.WithReplicaAck(17, 100*time.Millisecond), "outside [1, 16]"},
		{"zero timeout", rdb, redisbudget.WithReplicaAck(1, 0), "outside [1ms, 1 minute]"},
		{"endless timeout", rdb, redisbudget.WithReplicaAck(1, time.Hour), "outside [1ms, 1 minute]"},
		{"read timeout first", rdb, redisbudget.WithReplicaAck(1, time.Second), "ReadTimeout 1s"},
		{"ring", ring, redisbudget.WithReplicaAck(1, 100*time.Millisecond), "*redis.Ring"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := redisbudget.New(tc.rdb, "b", 1, tc.opt)
			assert.Nil(t, b)
			require.ErrorContains(t, err, tc.want)
		})
	}
	b, err := redisbudget.New(rdb, "b", 1, redisbudget.WithReplicaAck(16, 999*time.Millisecond))
	require.NoError(t, err)
	assert.Equal(t, "b", b.Name())
}

// TestReplicaAckWithoutReplicaFailsClosed: a server with no replica never
// acknowledges, so every reserve and settle fails with ErrUnavailable (a settle stays
// retryable), or fails open when asked to.
func TestReplicaAckWithoutReplicaFailsClosed(t *testing.T) {
	rdb := client(t)
	name := uniqueName(t)
	plain, err := redisbudget.New(rdb, name, 1000)
	require.NoError(t, err)
	acked, err := redisbudget.New(rdb, name, 1000, redisbudget.WithReplicaAck(1, 20*time.Millisecond))
	require.NoError(t, err)

	_, err = acked.TryReserve(ctx, 10)
	require.ErrorIs(t, err, budget.ErrUnavailable)
	assert.ErrorContains(t, err, "0 of 1 replicas acknowledged within 20ms")

	r, err := plain.TryReserve(ctx, 10)
	require.NoError(t, err)
	r = budgetkit.NewReservation(acked, budgetkit.ID(r), r.Tokens())
	require.ErrorIs(t, acked.Record(ctx, r, 5, 0), budget.ErrUnavailable)
	assert.False(t, budgetkit.Settled(r), "an unacknowledged settle can be retried")
	require.ErrorIs(t, acked.Record(ctx, r, 5, 0), budget.ErrUnavailable)
	// The master did settle, once: the retry found nothing to do.
	assert.Equal(t, budget.Snapshot{Name: name, Capacity: 1000, Consumed: 5, Held: 10, Remaining: 985}, snap(t, plain),
		"the first reserve's hold, not acknowledged, waits for its lease")

	open, err := redisbudget.New(rdb, name, 1000, redisbudget.WithReplicaAck(1, 20*time.Millisecond), redisbudget.WithFailOpen())
	require.NoError(t, err)
	r, err = open.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.True(t, r.FailedOpen(), "granted without accounting: the acknowledgement could not be had")
}

// TestReplicaAckOnCluster: with the acknowledgement, what a reserve or settle wrote
// is on the replica by the time it returns, and a flushed script cache falls back to
// EVAL as without it.
func TestReplicaAckOnCluster(t *testing.T) {
	rdb := clusterClient(t)
	b := newBudget(t, rdb, 1000, redisbudget.WithReplicaAck(1, time.Second))
	master, err := rdb.MasterForKey(ctx, b.Keys()[0])
	require.NoError(t, err)
	replica := clientAt(t, replicaOf(t, master))
	require.NoError(t, replica.Do(ctx, "readonly").Err())
	onReplica := func() (consumed, held string) {
		v, err := replica.HMGet(ctx, b.Keys()[0], "c", "h").Result()
		require.NoError(t, err)
		return fmt.Sprint(v[0]), fmt.Sprint(v[1])
	}

	r, err := b.TryReserve(ctx, 300)
	require.NoError(t, err)
	c, h := onReplica()
	assert.Equal(t, "300", h)
	require.NoError(t, master.ScriptFlush(ctx).Err())
	require.NoError(t, b.Record(ctx, r, 120, 3))
	c, h = onReplica()
	assert.Equal(t, []string{"123", "0"}, []string{c, h})
	assert.Equal(t, budget.Snapshot{Name: b.Name(), Capacity: 1000, Consumed: 123, Remaining: 877}, snap(t, b))
}

// replicaOf is the address of master's (first) replica.
func replicaOf(t *testing.T, master *redis.Client) string {
	t.Helper()
	info, err := master.Info(ctx, "replication").Result()
	require.NoError(t, err)
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "slave0:"); ok {
			f := map[string]string{}
			for kv := range strings.SplitSeq(rest, ",") {
				k, v, _ := strings.Cut(kv, "=")
				f[k] = v
			}
			return f["ip"] + ":" + f["port"]
		}
	}
	t.Fatalf("%s has no replica:\n%s", master.Options().Addr, info)
	return ""
}

// serverInfo reads one field of INFO server.
func serverInfo(t *testing.T, c *redis.Client, field string) string {
	t.Helper()
	info, err := c.Info(ctx, "server").Result()
	require.NoError(t, err)
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO server of %s has no %s", c.Options().Addr, field)
	return ""
}

// TestClusterFailover kills -9 the master of a budget's slot under load, right after
// its replica fell behind (stopped, its replication link cut: the master goes on
// acknowledging writes the replica never gets), and counts what the budget lost once
// the replica has taken over: usage of settles that had returned nil, and usage
// whose reservation the new master never heard of (its settle finds nothing).
//
// Without WithReplicaAck the loss is more than zero and no more than what the master
// acknowledged after the replica stopped receiving (the bound the package documents);
// with it nothing is lost. Either way every failed call in the failover window fails
// with ErrUnavailable, and the same client works again once the replica is master.
//
// It runs on a cluster of its own (SPENDGUARD_REDIS_FAILOVER_CLUSTER_ADDRS), since other
// packages test on the shared one at the same time.
func TestClusterFailover(t *testing.T) {
	bin := needService(t, "SPENDGUARD_REDIS_SERVER")
	addrs := strings.Split(needService(t, envFailoverCluster), ",")
	for _, tc := range []struct {
		name string
		opts []redisbudget.Option
	}{
		{"without ack", nil},
		{"with ack", []redisbudget.Option{redisbudget.WithReplicaAck(1, 250*time.Millisecond)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := failover(t, bin, addrs, tc.opts != nil, tc.opts...)
			t.Logf("%s: %d settles (%d tokens) acknowledged, %d of them at risk (%d tokens: acknowledged after the replica fell behind); "+
				"lost %d tokens; %d calls failed with ErrUnavailable; replica promoted %v and first success %v after the kill",
				tc.name, res.settles, res.acked, res.atRiskSettles, res.atRisk, res.lost(), res.unavailable, res.promotion.Round(time.Millisecond), res.window.Round(time.Millisecond))
			assert.LessOrEqual(t, res.consumed, res.acked, "nothing is charged twice")
			assert.Positive(t, res.unavailable, "the failover window showed as ErrUnavailable")
			if tc.opts == nil {
				assert.Positive(t, res.lost(), "without the acknowledgement this failover loses settled usage (else the test shows nothing)")
				assert.LessOrEqual(t, res.lost(), res.atRisk, "only what the master acknowledged after the replica fell behind is lost")
			} else {
				assert.Zero(t, res.lost(), "with the acknowledgement nothing settled is lost")
			}
		})
	}
}

type failoverResult struct {
	acked, consumed uint64 // usage of the settles that returned nil; what the promoted replica has
	settles         int
	atRisk          uint64 // usage whose reserve or settle returned after the replica fell behind
	atRiskSettles   int
	unavailable     int
	window          time.Duration // from the kill to the first call that succeeded after it
	promotion       time.Duration // from the kill to the replica's promotion
}

func (r failoverResult) lost() uint64 { return r.acked - min(r.acked, r.consumed) }

func failover(t *testing.T, bin string, addrs []string, acks bool, opts ...redisbudget.Option) failoverResult {
	rdb := clusterClientAt(t, addrs)
	b := newBudget(t, rdb, redisbudget.MaxCapacity, opts...)
	master, err := rdb.MasterForKey(ctx, b.Keys()[0])
	require.NoError(t, err)
	replica := clientAt(t, replicaOf(t, master))
	masterPID, _ := strconv.Atoi(serverInfo(t, master, "process_id"))
	masterConf := serverInfo(t, master, "config_file")
	replicaPID, _ := strconv.Atoi(serverInfo(t, replica, "process_id"))
	require.NotZero(t, masterPID)
	require.NotZero(t, replicaPID)
	require.NotEmpty(t, masterConf, "the cluster's nodes run from config files (scripts/lib.sh)")

	// Whatever happens, leave the cluster whole for the tests after this one.
	var killed bool
	t.Cleanup(func() {
		_ = syscall.Kill(replicaPID, syscall.SIGCONT)
		if killed {
			restartNode(t, bin, masterConf, master.Options().Addr)
		}
	})

	var (
		// gate is held shared by every reserve+settle, and exclusively while the
		// replica is made to fall behind: so that "after the cut" is exact.
		gate        sync.RWMutex
		mu          sync.Mutex
		res         failoverResult
		pending     []settle  // settles that failed: retried once the cluster is back
		cutAt       time.Time // the replica fell behind
		killedAt    time.Time
		promotedAt  time.Time
		recovered   = make(chan struct{})
		recoverOnce sync.Once
		stop        = make(chan struct{})
		wg          sync.WaitGroup
	)
	after := func(at, mark time.Time) bool { return !mark.IsZero() && !at.Before(mark) }
	// Acknowledged by the old master after its replica stopped receiving. (Nothing
	// succeeds between the kill and the promotion.)
	atRisk := func(at time.Time) bool { return after(at, cutAt) && !after(at, promotedAt) }
	s0 := seed(t)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(s0, uint64(g)))
			fail := func(err error) bool {
				if err == nil {
					return false
				}
				assert.ErrorIs(t, err, budget.ErrUnavailable, "a failover fails calls as unavailable, nothing else")
				mu.Lock()
				res.unavailable++
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
				return true
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				gate.RLock()
				r, err := b.TryReserve(ctx, 100)
				if err != nil {
					gate.RUnlock()
					fail(err)
					continue
				}
				reserved := time.Now()
				u := 1 + rng.Uint64N(100)
				err = b.Record(ctx, r, u, 0)
				settled := time.Now()
				gate.RUnlock()
				mu.Lock()
				if err != nil {
					pending = append(pending, settle{r, u, reserved})
				} else {
					res.acked += u
					res.settles++
					if atRisk(reserved) || atRisk(settled) {
						res.atRisk += u
						res.atRiskSettles++
					}
					if after(reserved, killedAt) {
						recoverOnce.Do(func() {
							res.window = settled.Sub(killedAt)
							close(recovered)
						})
					}
				}
				mu.Unlock()
				fail(err)
			}
		}()
	}

	time.Sleep(300 * time.Millisecond) // under load
	// The replica falls behind: with the calls paused, it catches up with everything
	// acknowledged so far, then it is stopped and its link cut so that it cannot
	// catch up with what follows.
	gate.Lock()
	waitInSync(t, master, replica)
	require.NoError(t, syscall.Kill(replicaPID, syscall.SIGSTOP))
	mu.Lock()
	cutAt = time.Now()
	mu.Unlock()
	gate.Unlock()
	require.NoError(t, master.Do(ctx, "client", "kill", "type", "replica").Err())
	time.Sleep(300 * time.Millisecond) // the master goes on acknowledging
	require.NoError(t, syscall.Kill(masterPID, syscall.SIGKILL))
	mu.Lock()
	killedAt, killed = time.Now(), true
	mu.Unlock()
	require.NoError(t, syscall.Kill(replicaPID, syscall.SIGCONT))

	// With the acknowledgement a master needs a replica: the promoted one has none
	// until the dead node is back (what a supervisor restarting crashed servers
	// does), which it is as soon as the replica has taken over.
	waitPromoted(t, replica)
	mu.Lock()
	promotedAt = time.Now()
	res.promotion = promotedAt.Sub(killedAt)
	mu.Unlock()
	if acks {
		restartNode(t, bin, masterConf, master.Options().Addr)
		killed = false
	}

	select {
	case <-recovered:
		time.Sleep(100 * time.Millisecond) // a little load on the new master
	case <-time.After(30 * time.Second):
		close(stop)
		wg.Wait()
		t.Fatalf("no call succeeded in the 30s after the master was killed (%d unavailable)", res.unavailable)
	}
	close(stop)
	wg.Wait()

	// What failed is retried until it settles (an unacknowledged settle may or may not
	// have reached the new master; a retry is charged at most once).
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range pending {
		for {
			err := b.Record(ctx, p.r, p.usage, 0)
			if err == nil {
				break
			}
			require.ErrorIs(t, err, budget.ErrUnavailable)
			require.True(t, time.Now().Before(deadline), "a settle still failing 10s after the failover: %v", err)
			time.Sleep(20 * time.Millisecond)
		}
		res.acked += p.usage
		res.settles++
		res.atRisk += p.usage // it may have been settled on the old master only
		res.atRiskSettles++
	}
	sn := snap(t, b)
	res.consumed = sn.Consumed

	promoted, err := rdb.MasterForKey(ctx, b.Keys()[0])
	require.NoError(t, err)
	assert.Equal(t, replica.Options().Addr, promoted.Options().Addr, "the replica is the slot's master now")
	return res
}

// waitInSync waits until replica has applied everything master wrote.
func waitInSync(t *testing.T, master, replica *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, s := replOffset(t, master, "master_repl_offset"), replOffset(t, replica, "slave_repl_offset")
		if m != 0 && m == s {
			return
		}
		require.True(t, time.Now().Before(deadline), "replica at offset %d, master at %d after 10s", s, m)
		time.Sleep(5 * time.Millisecond)
	}
}

func replOffset(t *testing.T, c *redis.Client, field string) int64 {
	info, err := c.Info(ctx, "replication").Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("INFO replication of %s has no %s", c.Options().Addr, field)
	return 0
}

// waitPromoted waits until replica is a master.
func waitPromoted(t *testing.T, replica *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := replica.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "role:master") {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s was not promoted in 30s: %v", replica.Options().Addr, err)
		time.Sleep(20 * time.Millisecond)
	}
}

type settle struct {
	r        *budget.Reservation
	usage    uint64
	reserved time.Time
}

// restartNode starts a killed cluster node again from its config file (it
// daemonizes), and waits until it has rejoined as an in-sync replica, so that the
// cluster has a replica for every master again.
func restartNode(t *testing.T, bin, conf, addr string) {
	out, err := exec.Command(bin, conf).CombinedOutput()
	if err != nil {
		t.Errorf("restarting %s: %v\n%s", addr, err, out)
		return
	}
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := c.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up") {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s did not rejoin as a replica in 30s: %v\n%s", addr, err, info)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
