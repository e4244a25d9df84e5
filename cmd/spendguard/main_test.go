package main

import (
	"github.com/spendguard/spendguard/internal/testenv"

	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/budget/window"
	"github.com/spendguard/spendguard/internal/testseed"
)

// bin holds the CLI and the example agent, built by the first test that runs one.
var (
	bin       string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHelper); mode != "" {
		os.Exit(helperMain(mode)) // a process of the fleet, started by helper
	}
	code := m.Run()
	if bin != "" {
		_ = os.RemoveAll(bin)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// binary returns the path of the built program name (spendguard or agent).
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		if bin, buildErr = os.MkdirTemp("", "spendguard-cli"); buildErr == nil {
			buildErr = build(bin)
		}
	})
	require.NoError(t, buildErr)
	return filepath.Join(bin, name)
}

// build compiles the CLI and examples/agent into dir, as an operator would.
func build(dir string) error {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	for _, b := range [][2]string{{"spendguard", "."}, {"agent", "../../examples/agent"}} {
		out, err := exec.Command(gobin, "build", "-o", filepath.Join(dir, b[0]), b[1]).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	return nil
}

var ctx = context.Background()

// deadline is the test's context, ended a little before the test binary's -timeout
// (or after two minutes without one), so that a wait on another process fails the
// test with a message instead of hanging it.
func deadline(t *testing.T) context.Context {
	d, ok := t.Deadline()
	if !ok {
		d = time.Now().Add(2 * time.Minute)
	}
	c, cancel := context.WithDeadline(t.Context(), d.Add(-5*time.Second))
	t.Cleanup(cancel)
	return c
}

// redisAddr is the test server (internal/testenv).
func redisAddr(t *testing.T) string { t.Helper(); return testenv.Need(t, testenv.Redis) }

func client(t *testing.T) (*redis.Client, string) {
	addr := redisAddr(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c, addr
}

func unique(t *testing.T) string {
	var raw [5]byte
	_, _ = rand.Read(raw[:])
	return strings.ReplaceAll(t.Name(), "/", "-") + "-" + hex.EncodeToString(raw[:])
}

type result struct {
	code           int
	stdout, stderr string
}

// cli runs the built CLI with args and env (added to a clean environment).
func cli(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(deadline(t), binary(t, "spendguard"), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code, out.String(), errb.String()}
}

// ok runs the CLI against addr and prefix and requires success.
func ok(t *testing.T, addr, prefix string, args ...string) string {
	t.Helper()
	r := cli(t, nil, append([]string{"-redis", addr, "-prefix", prefix}, args...)...)
	require.Equal(t, 0, r.code, "spendguard %q: %s", args, r.stderr)
	require.Empty(t, r.stderr)
	return r.stdout
}

type shown struct {
	Name            string  `json:"name"`
	Capacity        uint64  `json:"capacity"`
	CapacitySource  string  `json:"capacity_source"`
	DefaultCapacity uint64  `json:"default_capacity"`
	Consumed        uint64  `json:"consumed"`
	Held            uint64  `json:"held"`
	Remaining       uint64  `json:"remaining"`
	WindowEnd       *string `json:"window_end"`
	Holds           []struct {
		Tokens   uint64 `json:"tokens"`
		LeaseEnd string `json:"lease_end"`
	} `json:"holds"`
}

func show(t *testing.T, addr, prefix, name string) shown {
	t.Helper()
	var s shown
	require.NoError(t, json.Unmarshal([]byte(ok(t, addr, prefix, "-json", "show", name)), &s))
	return s
}

func list(t *testing.T, addr, prefix string, args ...string) []shown {
	t.Helper()
	var l []shown
	require.NoError(t, json.Unmarshal([]byte(ok(t, addr, prefix, append([]string{"list", "-json"}, args...)...)), &l))
	return l
}

// state is every key under prefix with its dump, to tell that nothing changed.
func state(t *testing.T, rdb *redis.Client, prefix string) map[string]string {
	t.Helper()
	m := map[string]string{}
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		d, err := rdb.Dump(ctx, iter.Val()).Result()
		require.NoError(t, err)
		m[iter.Val()] = d
	}
	require.NoError(t, iter.Err())
	return m
}

func TestCommands(t *testing.T) {
	rdb, addr := client(t)
	prefix := unique(t)
	f, err := redisbudget.NewFamily(rdb, 1000, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	acme, err := f.Budget("acme")
	require.NoError(t, err)
	r, err := acme.TryReserve(ctx, 300)
	require.NoError(t, err)
	require.NoError(t, acme.Record(ctx, r, 200, 50))
	hold, err := acme.TryReserve(ctx, 100)
	require.NoError(t, err)
	daily, err := redisbudget.New(rdb, "daily:bob", 500, redisbudget.WithKeyPrefix(prefix), redisbudget.WithWindow(window.Daily(time.UTC)))
	require.NoError(t, err)
	r, err = daily.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.NoError(t, daily.Record(ctx, r, 7, 0))
	end := snapEnd(t, daily)

	// list, in words and in JSON, sorted by name.
	out := ok(t, addr, prefix, "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	assert.Equal(t, []string{"NAME", "CAPACITY", "SOURCE", "CONSUMED", "HELD", "REMAINING", "WINDOW", "END"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"acme", "1000", "default", "250", "100", "650", "-"}, strings.Fields(lines[1]))
	assert.Equal(t, []string{"daily:bob", "500", "default", "7", "0", "493", end}, strings.Fields(lines[2]))
	l := list(t, addr, prefix)
	require.Len(t, l, 2)
	assert.Equal(t, shown{Name: "acme", Capacity: 1000, CapacitySource: "default", DefaultCapacity: 1000, Consumed: 250, Held: 100, Remaining: 650}, l[0])
	require.NotNil(t, l[1].WindowEnd)
	assert.Equal(t, end, *l[1].WindowEnd)
	assert.Len(t, list(t, addr, prefix, "daily:*"), 1)
	assert.Empty(t, list(t, addr, prefix, "nobody*"))
	raw := ok(t, addr, prefix, "-json", "list")
	assert.Contains(t, raw, `"window_end":null`, "null, not absent")

	// show, with its holds.
	s := show(t, addr, prefix, "acme")
	require.Len(t, s.Holds, 1)
	assert.Equal(t, uint64(100), s.Holds[0].Tokens)
	le, err := time.Parse(time.RFC3339Nano, s.Holds[0].LeaseEnd)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(10*time.Minute), le, time.Minute)
	out = ok(t, addr, prefix, "show", "acme")
	assert.Contains(t, out, "capacity    1000, the processes' default")
	assert.Contains(t, out, "hold 100 tokens")

	// set and unset the live limit: the library's next reserve obeys it.
	out = ok(t, addr, prefix, "set", "acme", "300")
	assert.Contains(t, out, "acme: capacity 300 from Redis")
	s = show(t, addr, prefix, "acme")
	assert.Equal(t, "redis", s.CapacitySource)
	assert.Equal(t, uint64(300), s.Capacity)
	assert.Equal(t, uint64(1000), s.DefaultCapacity)
	_, err = acme.TryReserve(ctx, 1)
	require.ErrorIs(t, err, budget.ErrDenied, "250 consumed + 100 held + 1 > 300")
	ok(t, addr, prefix, "unset", "acme")
	s = show(t, addr, prefix, "acme")
	assert.Equal(t, "default", s.CapacitySource)
	assert.Equal(t, uint64(1000), s.Capacity)
	assert.Contains(t, ok(t, addr, prefix, "unset", "acme"), "had no capacity in Redis")
	// -new sets the limit of a budget nobody has used yet.
	ok(t, addr, prefix, "set", "newcomer", "42", "-new")
	assert.Equal(t, shown{Name: "newcomer", Capacity: 42, CapacitySource: "redis", Remaining: 42, Holds: s.Holds[:0]}, show(t, addr, prefix, "newcomer"))
	nb, err := f.Budget("newcomer")
	require.NoError(t, err)
	_, err = nb.TryReserve(ctx, 43)
	require.ErrorIs(t, err, budget.ErrDenied)

	// reset: consumed 0, the hold still held and settled once.
	assert.Contains(t, ok(t, addr, prefix, "reset", "acme", "-yes"), "consumed 250 -> 0")
	s = show(t, addr, prefix, "acme")
	assert.Equal(t, uint64(0), s.Consumed)
	assert.Equal(t, uint64(100), s.Held)
	require.NoError(t, acme.Record(ctx, hold, 80, 0))
	require.NoError(t, acme.Record(ctx, hold, 80, 0))
	s = show(t, addr, prefix, "acme")
	assert.Equal(t, uint64(80), s.Consumed)
	assert.Equal(t, uint64(0), s.Held)

	// REDIS_URL stands in for -redis.
	res := cli(t, []string{"REDIS_URL=redis://" + addr}, "-prefix", prefix, "-json", "show", "acme")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, `"consumed":80`)
}

func snapEnd(t *testing.T, b *redisbudget.Budget) string {
	s, err := b.Snapshot(ctx)
	require.NoError(t, err)
	return s.WindowEnd.UTC().Format(time.RFC3339)
}

func TestWatch(t *testing.T) {
	rdb, addr := client(t)
	prefix := unique(t)
	b, err := redisbudget.New(rdb, "w", 100, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	r, err := b.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 10, 0))

	cmd := exec.CommandContext(deadline(t), binary(t, "spendguard"), "-redis", addr, "-prefix", prefix, "-interval", "100ms", "watch")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	frames := 0
	for frames < 3 && sc.Scan() {
		if strings.HasPrefix(sc.Text(), "spendguard watch") {
			frames++
		}
		if frames == 2 && strings.HasPrefix(sc.Text(), "w ") {
			// Between frames the budget changes; a later frame shows it.
			r, err := b.TryReserve(ctx, 10)
			require.NoError(t, err)
			require.NoError(t, b.Record(ctx, r, 5, 0))
		}
		if frames == 3 && strings.HasPrefix(sc.Text(), "w ") {
			assert.Equal(t, []string{"w", "100", "default", "15", "0", "85", "-"}, strings.Fields(sc.Text()))
			break
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	go io.Copy(io.Discard, stdout)
	require.NoError(t, cmd.Wait(), "an interrupt ends watch with status 0: %s", stderr.String())
	assert.Equal(t, 3, frames)
}

func TestBadInput(t *testing.T) {
	rdb, addr := client(t)
	prefix := unique(t)
	b, err := redisbudget.New(rdb, "real", 100, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	r, err := b.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 10, 0))
	require.NoError(t, rdb.Set(ctx, prefix+":{str}:all:h", "not a hash", 0).Err())
	require.NoError(t, rdb.HSet(ctx, prefix+":{capx}:cap", "x", "1").Err())
	require.NoError(t, rdb.HSet(ctx, prefix+":{capx}:all:h", "c", "1").Err())
	plain := prefix + "-plain"
	require.NoError(t, rdb.Set(ctx, plain, "v", time.Minute).Err())
	t.Cleanup(func() { rdb.Del(ctx, plain) })
	before := state(t, rdb, prefix)

	R := []string{"-redis", addr, "-prefix", prefix}
	cases := []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{nil, nil, 2, "no command"},
		{nil, []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{nil, []string{"-bogus", "list"}, 2, "flag provided but not defined: -bogus"},
		{nil, []string{"show"}, 2, "show takes a NAME"},
		{nil, []string{"show", "a", "b"}, 2, "show takes a NAME"},
		{nil, []string{"list", "a", "b"}, 2, "list takes at most a PATTERN"},
		{nil, []string{"set", "real"}, 2, "set takes a NAME and a CAPACITY"},
		{nil, []string{"set", "real", "-5"}, 2, `capacity "-5"`},
		{nil, []string{"set", "real", "1.5"}, 2, `capacity "1.5"`},
		{nil, []string{"set", "real", "abc"}, 2, `capacity "abc"`},
		{nil, []string{"set", "real", "+7"}, 2, `capacity "+7"`},
		{nil, []string{"-redis", addr, "-prefix", prefix, "set", "real", "9007199254740993"}, 2, `capacity 9007199254740993 is above 2^53`},
		{nil, []string{"set", "real", "99999999999999999999999"}, 2, `capacity "99999999999999999999999"`},
		{nil, []string{"reset", "real"}, 2, "refuses without -yes"},
		{nil, []string{"-json", "set", "real", "5"}, 2, "-json applies to list, show, rates and rate show"},
		{nil, []string{"-yes", "show", "real"}, 2, "-yes applies to reset"},
		{nil, []string{"-new", "unset", "real"}, 2, "-new applies to set"},
		{nil, []string{"show", prefix + ":{real}:all:h"}, 2, "contains '{' or '}'"},
		{nil, []string{"show", ""}, 2, "empty budget name"},
		{nil, []string{"-prefix", "a{b", "list"}, 2, `-prefix "a{b" contains`},
		{nil, []string{"-interval", "0s", "watch"}, 2, "-interval 0s is not positive"},
		{nil, []string{"list"}, 2, "no Redis to talk to: give -redis ADDR or set REDIS_URL"},
		{[]string{"REDIS_URL=http://" + addr}, []string{"list"}, 2, "REDIS_URL \"http://" + addr + "\" is not a Redis URL"},
		{nil, []string{"-redis", "127.0.0.1:1", "list"}, 1, "cannot reach Redis at 127.0.0.1:1"},
		{[]string{"REDIS_URL=redis://127.0.0.1:1"}, []string{"show", "real"}, 1, "cannot reach Redis at 127.0.0.1:1"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			res := cli(t, c.env, c.args...)
			assert.Equal(t, c.code, res.code)
			assert.Empty(t, res.stdout)
			assert.Equal(t, 1, strings.Count(res.stderr, "\n"), "one line: %q", res.stderr)
			assert.Contains(t, res.stderr, c.want)
			assert.True(t, strings.HasPrefix(res.stderr, "spendguard: "), res.stderr)
		})
	}
	withRedis := []struct {
		args []string
		want string
	}{
		{[]string{"show", "nobody"}, `unknown budget "nobody"`},
		{[]string{"set", "nobody", "5"}, `unknown budget "nobody"`},
		{[]string{"unset", "nobody"}, `unknown budget "nobody"`},
		{[]string{"reset", "nobody", "-yes"}, `unknown budget "nobody"`},
		{[]string{"show", "str"}, "not a spendguard budget"},
		{[]string{"reset", "-yes", "str"}, "not a spendguard budget"},
		{[]string{"set", "capx", "5"}, "not a spendguard budget"},
		{[]string{"show", "capx"}, "not a spendguard budget"},
	}
	for _, c := range withRedis {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			res := cli(t, nil, append(R, c.args...)...)
			assert.Equal(t, 1, res.code)
			assert.Empty(t, res.stdout)
			assert.Equal(t, 1, strings.Count(res.stderr, "\n"), "one line: %q", res.stderr)
			assert.Contains(t, res.stderr, c.want)
		})
	}
	// list lists what it can and names the keys it skipped.
	res := cli(t, nil, append(R, "list")...)
	assert.Equal(t, 0, res.code)
	assert.Contains(t, res.stdout, "NAME")
	assert.Equal(t, 2, strings.Count(res.stderr, "\n"), "one line per key skipped: %q", res.stderr)
	assert.Contains(t, res.stderr, `spendguard: skipped budget "capx"`)
	assert.Contains(t, res.stderr, `spendguard: skipped budget "str"`)
	// A plain Redis key given as a budget name (with the empty prefix, where it
	// could have been one).
	res = cli(t, nil, "-redis", addr, "-prefix", "", "show", plain)
	assert.Equal(t, 1, res.code)
	assert.Contains(t, res.stderr, "is a Redis key, not a spendguard budget")
	assert.Equal(t, before, state(t, rdb, prefix), "bad input changed nothing")
}

func TestParseCapacity(t *testing.T) {
	for s, want := range map[string]uint64{"0": 0, "00": 0, "1": 1, "42": 42, "9007199254740993": 1<<53 + 1} {
		n, err := parseCapacity(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, n)
	}
	for _, s := range []string{"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "1_000", "18446744073709551616"} {
		_, err := parseCapacity(s)
		assert.Error(t, err, "%q", s)
	}
}

func FuzzParseCapacity(f *testing.F) {
	for _, s := range []string{"1", "0", "9007199254740992", "9007199254740993", "-1", "1.0", "０"} {
		f.Add(s)
	}
	max := new(big.Int).SetUint64(math.MaxUint64)
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseCapacity(s)
		want, isInt := new(big.Int).SetString(s, 10)
		valid := isInt && !strings.HasPrefix(s, "+") && !strings.HasPrefix(s, "-") && !strings.Contains(s, "_") &&
			want.Sign() >= 0 && want.Cmp(max) <= 0
		if valid != (err == nil) {
			t.Fatalf("parseCapacity(%q) = %d, %v; want valid=%v", s, n, err, valid)
		}
		if err == nil && strconv.FormatUint(n, 10) != want.String() {
			t.Fatalf("parseCapacity(%q) = %d", s, n)
		}
	})
}

func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"list", "show a", "set a 5 -new", "reset a -yes", "-json show a", "watch -interval 1s x", "-prefix {", "show a{b}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := parse(strings.Fields(line))
		if err != nil {
			return
		}
		if c.cmd == "reset" && !c.yes {
			t.Fatalf("%q: reset parsed without -yes", line)
		}
		for _, a := range c.args {
			if strings.ContainsAny(a, "{}") && c.cmd != "set" {
				t.Fatalf("%q: argument %q with a brace accepted", line, a)
			}
		}
	})
}

// The helper process is this test binary run again with envHelper set: one process
// of a fleet using a family of budgets under SPENDGUARD_HELPER_PREFIX.
//
//	keys:  random reserve/record/release on SPENDGUARD_HELPER_KEYS keys, then print
//	       the usage recorded per key as JSON;
//	until: reserve 10 and record 10 on key "t", 1 ms apart, until the first denial;
//	       print "running" once 250 are recorded, and the usage recorded at the end;
//	hold:  reserve 3 holds of 100 on key "t", print "held", wait for a line on
//	       stdin, record 50 on each, print "done".
const (
	envHelper = "SPENDGUARD_CLI_HELPER"
	envPrefix = "SPENDGUARD_HELPER_PREFIX"
	envKeys   = "SPENDGUARD_HELPER_KEYS"
	envSeed   = "SPENDGUARD_HELPER_SEED"
)

func helperMain(mode string) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "helper %s: "+format+"\n", append([]any{mode}, args...)...)
		return 1
	}
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("SPENDGUARD_REDIS_ADDR"), PoolSize: 16})
	defer rdb.Close()
	f, err := redisbudget.NewFamily(rdb, 1_000_000_000, redisbudget.WithKeyPrefix(os.Getenv(envPrefix)))
	if err != nil {
		return fail("NewFamily: %v", err)
	}
	switch mode {
	case "rate":
		return rateHelper(rdb)
	case "keys":
		nkeys, _ := strconv.Atoi(os.Getenv(envKeys))
		seed, _ := strconv.ParseUint(os.Getenv(envSeed), 10, 64)
		var mu sync.Mutex
		recorded := map[string]uint64{}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := mrand.New(mrand.NewPCG(seed, uint64(g)))
				for range 200 {
					key := "k" + strconv.Itoa(rng.IntN(nkeys))
					b, err := f.Budget(key) // per call, as a service per request
					if err != nil {
						errs <- err
						return
					}
					r, err := b.TryReserve(ctx, 1+rng.Uint64N(100))
					if err != nil {
						errs <- err
						return
					}
					if rng.IntN(4) == 0 {
						err = b.Release(ctx, r)
					} else {
						u := rng.Uint64N(2 * r.Tokens())
						err = b.Record(ctx, r, u, 0)
						mu.Lock()
						recorded[key] += u
						mu.Unlock()
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return fail("%v", err)
		}
		if err := json.NewEncoder(os.Stdout).Encode(recorded); err != nil {
			return fail("%v", err)
		}
		return 0
	case "until":
		b, err := f.Budget("t")
		if err != nil {
			return fail("%v", err)
		}
		var sum uint64
		for {
			r, err := b.TryReserve(ctx, 10)
			if err != nil {
				if !errorsIsDenied(err) {
					return fail("%v", err)
				}
				fmt.Println(sum)
				return 0
			}
			if err := b.Record(ctx, r, 10, 0); err != nil {
				return fail("%v", err)
			}
			sum += 10
			if sum == 250 {
				fmt.Println("running") // the test waits for this line from each process
			}
			time.Sleep(time.Millisecond)
		}
	case "hold":
		b, err := f.Budget("t")
		if err != nil {
			return fail("%v", err)
		}
		var rs []*budget.Reservation
		for range 3 {
			r, err := b.TryReserve(ctx, 100)
			if err != nil {
				return fail("%v", err)
			}
			rs = append(rs, r)
		}
		fmt.Println("held")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return fail("stdin: %v", err)
		}
		for _, r := range rs {
			if err := b.Record(ctx, r, 50, 0); err != nil {
				return fail("%v", err)
			}
		}
		fmt.Println("done")
		return 0
	}
	return fail("unknown mode")
}

func errorsIsDenied(err error) bool { _, ok := asDenied(err); return ok }

func asDenied(err error) (*budget.DeniedError, bool) {
	var d *budget.DeniedError
	ok := errors.As(err, &d)
	return d, ok
}

// helper starts this test binary as a helper process.
func helper(t *testing.T, addr, prefix, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(deadline(t), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, "SPENDGUARD_REDIS_ADDR="+addr, envPrefix+"="+prefix)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestManyKeysFromSeveralProcesses(t *testing.T) {
	_, addr := client(t)
	prefix := unique(t)
	const nkeys = 300
	seed := testseed.Get(t)
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for p := range 4 {
		cmd := helper(t, addr, prefix, "keys", envKeys+"="+strconv.Itoa(nkeys), envSeed+"="+strconv.FormatUint(seed+uint64(p), 10))
		var out bytes.Buffer
		cmd.Stdout = &out
		require.NoError(t, cmd.Start())
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	want := map[string]uint64{}
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait())
		var rec map[string]uint64
		require.NoError(t, json.Unmarshal(outs[i].Bytes(), &rec))
		for k, v := range rec {
			want[k] += v
		}
	}
	l := list(t, addr, prefix)
	got := map[string]uint64{}
	var names []string
	for _, s := range l {
		got[s.Name] = s.Consumed
		names = append(names, s.Name)
		assert.Zero(t, s.Held, s.Name)
		assert.Equal(t, uint64(1_000_000_000), s.Capacity)
	}
	assert.True(t, sort.StringsAreSorted(names))
	assert.Greater(t, len(l), nkeys/2, "most keys were used")
	for k := range got {
		if _, ok := want[k]; !ok {
			want[k] = 0 // a key whose reservations were all released
		}
	}
	assert.Equal(t, want, got, "every key's consumed is the sum its processes recorded")
}

func TestCapacitySetWhileFourProcessesReserve(t *testing.T) {
	rdb, addr := client(t)
	prefix := unique(t)
	binary(t, "spendguard") // built before the clock of the race below starts
	dctx := deadline(t)
	var cmds []*exec.Cmd
	var outs []*bufio.Scanner
	running := make(chan error, 4)
	for range 4 {
		cmd := helper(t, addr, prefix, "until")
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(stdout)
		go func() {
			if !sc.Scan() || sc.Text() != "running" {
				running <- fmt.Errorf("helper's first line %q (%v), want running", sc.Text(), sc.Err())
				return
			}
			running <- nil
		}()
		cmds, outs = append(cmds, cmd), append(outs, sc)
	}
	t.Cleanup(func() {
		for _, cmd := range cmds {
			_ = cmd.Process.Kill()
		}
	})
	// Every process has recorded 250: at least 1000 are consumed, and they go on.
	for range cmds {
		select {
		case err := <-running:
			require.NoError(t, err)
		case <-dctx.Done():
			t.Fatal("the helpers did not all report running before the test's deadline")
		}
	}
	f, err := redisbudget.NewFamily(rdb, 1, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	b, err := f.Budget("t")
	require.NoError(t, err)
	s, err := b.Snapshot(ctx)
	require.NoError(t, err)
	seen := s.Consumed
	require.GreaterOrEqual(t, seen, uint64(1000))
	// Far enough above what is used for the change to land before it is reached
	// (four processes use at most 40 tokens a millisecond: this is 1.5 s of them).
	limit := seen + 60_000
	ok(t, addr, prefix, "set", "t", strconv.FormatUint(limit, 10))
	var sum uint64
	for i, cmd := range cmds {
		require.True(t, outs[i].Scan(), "the helper's total: %v", outs[i].Err())
		n, err := strconv.ParseUint(strings.TrimSpace(outs[i].Text()), 10, 64)
		require.NoError(t, err)
		require.NoError(t, cmd.Wait())
		sum += n
	}
	st := show(t, addr, prefix, "t")
	assert.Equal(t, sum, st.Consumed, "consumed is the sum recorded")
	assert.Equal(t, limit, st.Consumed, "granted up to the new limit, never past it")
	assert.Zero(t, st.Held)
	assert.Equal(t, "redis", st.CapacitySource)
}

func TestResetDuringHoldsInFlight(t *testing.T) {
	_, addr := client(t)
	prefix := unique(t)
	// Something consumed first, by another process.
	cmd := helper(t, addr, prefix, "hold")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	require.True(t, sc.Scan())
	require.Equal(t, "held", sc.Text())

	ok(t, addr, prefix, "set", "t", "1000") // so that consumption can be seen against it
	rdb, _ := client(t)
	f, err := redisbudget.NewFamily(rdb, 1_000_000_000, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	b, err := f.Budget("t")
	require.NoError(t, err)
	r, err := b.TryReserve(ctx, 200)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 200, 0))
	s := show(t, addr, prefix, "t")
	require.Equal(t, uint64(200), s.Consumed)
	require.Equal(t, uint64(300), s.Held)
	require.Len(t, s.Holds, 3)

	assert.Contains(t, ok(t, addr, prefix, "reset", "t", "-yes"), "consumed 200 -> 0")
	s = show(t, addr, prefix, "t")
	assert.Equal(t, uint64(0), s.Consumed)
	assert.Equal(t, uint64(300), s.Held, "holds in flight are untouched")
	assert.Equal(t, uint64(700), s.Remaining)

	_, err = io.WriteString(stdin, "go\n")
	require.NoError(t, err)
	require.True(t, sc.Scan())
	require.Equal(t, "done", sc.Text())
	require.NoError(t, cmd.Wait())
	s = show(t, addr, prefix, "t")
	assert.Equal(t, uint64(150), s.Consumed, "each hold settled once, after the reset")
	assert.Zero(t, s.Held)
}

// agentReport is the part of examples/agent's -json report the test reads.
type agentReport struct {
	Budget   string `json:"budget"`
	Capacity uint64 `json:"capacity"`
	Consumed uint64 `json:"consumed"`
	Sent     int    `json:"sent"`
	Calls    []struct {
		Denied bool `json:"denied"`
	} `json:"calls"`
}

func runAgent(t *testing.T, args ...string) agentReport {
	t.Helper()
	cmd := exec.CommandContext(deadline(t), binary(t, "agent"), append([]string{"-json"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	var rep agentReport
	require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
	return rep
}

// TestAgentAndCLIAgree runs examples/agent against Redis, as `go run ./examples/agent
// -redis ADDR` does, and reads its budget with the CLI's defaults (no -prefix): the
// CLI reports what the run's summary printed, and a limit set below a run's need
// stops the next run at its first call.
func TestAgentAndCLIAgree(t *testing.T) {
	rdb, addr := client(t)
	name := unique(t) // the agent's default is "agent"; a name of its own keeps test runs apart
	t.Cleanup(func() {
		a, _ := redisbudget.NewFamily(rdb, 0)
		_ = a.UnsetCapacity(ctx, name)
		_, _ = a.Reset(ctx, name)
	})
	showDefault := func() shown {
		res := cli(t, nil, "-redis", addr, "-json", "show", name)
		require.Equal(t, 0, res.code, res.stderr)
		var s shown
		require.NoError(t, json.Unmarshal([]byte(res.stdout), &s))
		return s
	}
	first := runAgent(t, "-redis", addr, "-budget-name", name)
	require.NotZero(t, first.Consumed)
	require.Greater(t, first.Sent, 1)
	s := showDefault()
	assert.Equal(t, first.Consumed, s.Consumed, "the CLI reports what the run printed")
	assert.Equal(t, first.Capacity, s.Capacity)
	assert.Equal(t, "default", s.CapacitySource)

	// A limit below what the next run needs: it stops at its first call, though
	// the run itself is built with a capacity that would cover it.
	res := cli(t, nil, "-redis", addr, "set", name, strconv.FormatUint(first.Consumed+100, 10))
	require.Equal(t, 0, res.code, res.stderr)
	second := runAgent(t, "-redis", addr, "-budget-name", name, "-budget", "1000000")
	require.NotEmpty(t, second.Calls)
	assert.True(t, second.Calls[0].Denied, "the first call is denied")
	assert.Zero(t, second.Sent)
	assert.Equal(t, first.Consumed+100, second.Capacity, "the run reports the capacity in force")
	assert.Equal(t, first.Consumed, showDefault().Consumed, "nothing was charged")

	// Without the override the run's own capacity is in force again.
	res = cli(t, nil, "-redis", addr, "unset", name)
	require.Equal(t, 0, res.code, res.stderr)
	third := runAgent(t, "-redis", addr, "-budget-name", name, "-budget", strconv.FormatUint(2*first.Consumed, 10))
	assert.NotZero(t, third.Sent)
	assert.Greater(t, third.Consumed, first.Consumed)
	assert.Equal(t, third.Consumed, showDefault().Consumed, "the CLI reports what the last run printed")
}

// TestCommandsOnCluster runs the CLI against a Redis Cluster (-redis with every
// node): budgets whose keys live on different masters are all listed, and the
// commands reach each budget's master.
func TestCommandsOnCluster(t *testing.T) {
	addrs := testenv.Need(t, testenv.RedisCluster)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := unique(t)
	f, err := redisbudget.NewFamily(rdb, 1000, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	var names []string
	masters := map[string]bool{}
	for i := range 12 {
		name := "tenant-" + strconv.Itoa(i)
		names = append(names, name)
		b, err := f.Budget(name)
		require.NoError(t, err)
		r, err := b.TryReserve(ctx, 100)
		require.NoError(t, err)
		require.NoError(t, b.Record(ctx, r, uint64(i), 0))
		m, err := rdb.MasterForKey(ctx, prefix+":{"+name+"}:all:h")
		require.NoError(t, err)
		masters[m.Options().Addr] = true
	}
	require.Greater(t, len(masters), 1, "the budgets are spread over several masters")
	sort.Strings(names)

	l := list(t, addrs, prefix)
	var got []string
	for _, s := range l {
		got = append(got, s.Name)
	}
	assert.Equal(t, names, got)
	ok(t, addrs, prefix, "set", "tenant-7", "5")
	s := show(t, addrs, prefix, "tenant-7")
	assert.Equal(t, shown{Name: "tenant-7", Capacity: 5, CapacitySource: "redis", DefaultCapacity: 1000, Consumed: 7, Holds: s.Holds[:0]}, s)
	b, err := f.Budget("tenant-7")
	require.NoError(t, err)
	_, err = b.TryReserve(ctx, 1)
	require.ErrorIs(t, err, budget.ErrDenied)
	ok(t, addrs, prefix, "reset", "tenant-7", "-yes")
	ok(t, addrs, prefix, "unset", "tenant-7")
	s = show(t, addrs, prefix, "tenant-7")
	assert.Equal(t, uint64(0), s.Consumed)
	assert.Equal(t, uint64(1000), s.Remaining)
}
