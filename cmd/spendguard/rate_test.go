package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/ratelimit"
	"github.com/spendguard/spendguard/ratelimit/redisrate"
)

const envRateName = "SPENDGUARD_HELPER_RATE"

// helperLimit is the limit a rate helper process is built with.
var helperLimit = ratelimit.Limit{Interval: time.Hour, Tokens: 100, Requests: 10}

// rateHelper is a running process of a rate limit: it says "running", then for each
// line N on stdin reserves N input tokens (waiting at most 300ms) and answers "ok",
// "never LIMIT" or "wait LIMIT", LIMIT being the limit in force the error names.
func rateHelper(rdb *redis.Client) int {
	lim, err := redisrate.New(rdb, os.Getenv(envRateName), helperLimit)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper rate:", err)
		return 1
	}
	fmt.Println("running")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		n, _ := strconv.ParseUint(in.Text(), 10, 64)
		c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err := lim.Reserve(c, ratelimit.Cost{Input: n})
		cancel()
		var e *ratelimit.Error
		switch {
		case err == nil:
			fmt.Println("ok")
		case errors.As(err, &e) && e.Never:
			fmt.Println("never", formatLimit(e.Limit))
		case errors.As(err, &e):
			fmt.Println("wait", formatLimit(e.Limit))
		default:
			fmt.Fprintln(os.Stderr, "helper rate:", err)
			return 1
		}
	}
	return 0
}

// rateProcess is a running rate helper process.
type rateProcess struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

func (p *rateProcess) reserve(t *testing.T, n int) string {
	t.Helper()
	_, err := fmt.Fprintln(p.in, n)
	require.NoError(t, err)
	require.True(t, p.out.Scan(), "the helper's answer: %v", p.out.Err())
	return p.out.Text()
}

func startRate(t *testing.T, addr, name string) *rateProcess {
	t.Helper()
	cmd := helper(t, addr, "unused", "rate", envRateName+"="+name)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = in.Close(); _ = cmd.Wait() })
	p := &rateProcess{in: in, out: bufio.NewScanner(stdout)}
	require.True(t, p.out.Scan() && p.out.Text() == "running", "the helper did not start: %v", p.out.Err())
	return p
}

// rateState is every key of the rate limits under the default prefix named base*,
// with its dump and expiry time.
func rateState(t *testing.T, rdb *redis.Client, base string) map[string]string {
	t.Helper()
	m := map[string]string{}
	iter := rdb.Scan(ctx, 0, "spendguard-rate:{"+base+"*", 1000).Iterator()
	for iter.Next(ctx) {
		d, err := rdb.Dump(ctx, iter.Val()).Result()
		require.NoError(t, err)
		at, err := rdb.PExpireTime(ctx, iter.Val()).Result() // when it expires, not how long from now
		require.NoError(t, err)
		m[iter.Val()] = d + "|" + strconv.FormatInt(int64(at), 10)
	}
	require.NoError(t, iter.Err())
	return m
}

// TestRateCommands: a limit set by the CLI is in force for a running process's next
// reserve, unset gives it its own limit back, and the read commands write nothing.
func TestRateCommands(t *testing.T) {
	rdb, addr := client(t)
	base := unique(t)
	name := base + "-gpt"
	p := startRate(t, addr, name)
	run := func(args ...string) string { return ok(t, addr, "spendguard", args...) }

	require.Equal(t, "ok", p.reserve(t, 90))
	require.Equal(t, "wait tokens=100,requests=10/1h", p.reserve(t, 20), "90 + 20 > 100")

	before := rateState(t, rdb, base)
	var listed []rateJSON
	require.NoError(t, json.Unmarshal([]byte(run("rates", "-json", base+"*")), &listed))
	require.Len(t, listed, 1)
	s := listed[0]
	assert.Equal(t, name, s.Name)
	assert.Equal(t, "tokens=100,requests=10/1h", s.Limit)
	assert.Equal(t, "default", s.LimitSource)
	assert.Equal(t, uint64(90), s.UsedTokens)
	assert.Equal(t, uint64(1), s.UsedRequests)
	assert.Equal(t, 1, s.InFlight)
	assert.Equal(t, int64(time.Hour/time.Millisecond), s.IntervalMS)
	text := run("rates", base+"*")
	assert.Regexp(t, `(?m)^NAME +LIMIT +SOURCE +TOKENS +REQUESTS +IN FLIGHT +WAITING UNTIL +PAUSED UNTIL$`, text)
	assert.Regexp(t, `(?m)^`+name+` +tokens=100,requests=10/1h +default +90 +1 +1 +- +-$`, text)
	shown := run("rate", "show", name)
	assert.Contains(t, shown, "limit       tokens=100,requests=10/1h, the processes' own")
	assert.Contains(t, shown, "in use      90 tokens (90 input + 0 output), 1 requests, in the last 1h")
	var one rateJSON
	require.NoError(t, json.Unmarshal([]byte(run("-json", "rate", "show", name)), &one))
	assert.Equal(t, s, one)
	assert.Equal(t, before, rateState(t, rdb, base), "rates and rate show wrote nothing")

	out := run("rate", "set", name, "1000/1h")
	assert.Equal(t, name+": limit 1000/1h from Redis, in force from the next reserve of every process (was tokens=100,requests=10/1h, the processes' own); in use 90 tokens, 1 requests\n", out)
	assert.Equal(t, "ok", p.reserve(t, 500), "the running process's next reserve counts 1000 tokens, no request limit")
	require.NoError(t, json.Unmarshal([]byte(run("-json", "rate", "show", name)), &one))
	assert.Equal(t, "redis", one.LimitSource)
	assert.Equal(t, "1000/1h", one.Limit)
	assert.Equal(t, "tokens=100,requests=10/1h", one.DefaultLimit)

	run("rate", "set", name, "tokens=50,output=5/1h")
	assert.Equal(t, "never tokens=50,output=5/1h", p.reserve(t, 60))
	out = run("rate", "unset", name)
	assert.Contains(t, out, "limit tokens=50,output=5/1h removed from Redis; the processes' own limit (tokens=100,requests=10/1h) is in force")
	assert.Equal(t, "wait tokens=100,requests=10/1h", p.reserve(t, 5))
	assert.Contains(t, run("rate", "unset", name), "had no limit in Redis; nothing changed")

	// Bad input: a clear line, non-zero, nothing changed.
	before = rateState(t, rdb, base)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rate", "set", name, "100/1m"}, 1, "its processes count per 1h0m0s"},
		{[]string{"rate", "set", name, "100"}, 2, "no /INTERVAL"},
		{[]string{"rate", "set", name, "tokens=1,tokens=2/1s"}, 2, "tokens given twice"},
		{[]string{"rate", "set", name, "9007199254740993/1s"}, 2, "not an integer from 0 to 2^53"},
		{[]string{"rate", "set", base + "-nobody", "100/1h"}, 1, "unknown rate limit"},
		{[]string{"rate", "show", base + "-nobody"}, 1, "unknown rate limit"},
		{[]string{"rate", "unset", base + "-nobody"}, 1, "unknown rate limit"},
	} {
		r := cli(t, nil, append([]string{"-redis", addr}, c.args...)...)
		assert.Equal(t, c.code, r.code, "%q: %s", c.args, r.stderr)
		assert.Contains(t, r.stderr, c.want, "%q", c.args)
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "%q: one line", c.args)
		assert.Empty(t, r.stdout)
	}
	assert.Equal(t, before, rateState(t, rdb, base), "refused commands changed nothing")

	// -new: a limit no process has used yet.
	out = run("rate", "set", base+"-new", "requests=5/1m", "-new")
	assert.Contains(t, out, "(was the processes' own, not yet known)")
	require.NoError(t, json.Unmarshal([]byte(run("-json", "rate", "show", base+"-new")), &one))
	assert.Equal(t, "redis", one.LimitSource)
	assert.Equal(t, uint64(5), one.Requests)
}

func TestRateCommandsOnCluster(t *testing.T) {
	addrs := os.Getenv("SPENDGUARD_REDIS_CLUSTER_ADDRS")
	if addrs == "" {
		if os.Getenv("SPENDGUARD_REQUIRE_SERVICES") == "1" {
			t.Fatal("SPENDGUARD_REDIS_CLUSTER_ADDRS is empty but SPENDGUARD_REQUIRE_SERVICES=1")
		}
		t.Skip("SPENDGUARD_REDIS_CLUSTER_ADDRS is empty")
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	defer cc.Close()
	base := unique(t)
	var names []string
	for i := range 6 { // spread over the masters
		n := fmt.Sprintf("%s-%d", base, i)
		lim, err := redisrate.New(cc, n, ratelimit.Limit{Interval: time.Minute, Tokens: 100})
		require.NoError(t, err)
		_, err = lim.Reserve(ctx, ratelimit.Cost{Input: uint64(i + 1)})
		require.NoError(t, err)
		names = append(names, n)
	}
	r := cli(t, nil, "-redis", addrs, "-json", "rates", base+"-*")
	require.Equal(t, 0, r.code, r.stderr)
	var l []rateJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &l))
	require.Len(t, l, 6)
	for i, s := range l {
		assert.Equal(t, names[i], s.Name)
		assert.Equal(t, uint64(i+1), s.UsedTokens)
	}
	r = cli(t, nil, "-redis", addrs, "rate", "set", names[3], "7/1m")
	require.Equal(t, 0, r.code, r.stderr)
	st, err := redisrate.List(ctx, cc, names[3])
	require.NoError(t, err)
	require.Len(t, st, 1)
	assert.Equal(t, uint64(7), st[0].Limit.Tokens)
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]ratelimit.Limit{
		"3000/5s":                         {Interval: 5 * time.Second, Tokens: 3000},
		" 90000 / m ":                     {Interval: time.Minute, Tokens: 90000},
		"tokens=30000,requests=500/1m":    {Interval: time.Minute, Tokens: 30000, Requests: 500},
		"input=20000, output=4000/1m30s":  {Interval: 90 * time.Second, Input: 20000, Output: 4000},
		"requests=0,tokens=1/1ms":         {Interval: time.Millisecond, Tokens: 1},
		"tokens=9007199254740992/24h":     {Interval: 24 * time.Hour, Tokens: 1 << 53},
		"output=1,input=2,requests=3/2h":  {Interval: 2 * time.Hour, Input: 2, Output: 1, Requests: 3},
		"3000,requests=4/s":               {Interval: time.Second, Tokens: 3000, Requests: 4},
		"tokens=3000,input=1,output=2/1s": {Interval: time.Second, Tokens: 3000, Input: 1, Output: 2},
	} {
		got, err := parseLimit(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
			back, err := parseLimit(formatLimit(got))
			assert.NoError(t, err)
			assert.Equal(t, got, back, "%q formats as %q", in, formatLimit(got))
		}
	}
	for _, in := range []string{"", "/", "3000", "0/5s", "x/5s", "-1/5s", "3000/0s", "3000/1us", "3000/5parsecs",
		"tokens=1,tokens=2/1s", "rpm=5/1m", "1,2/1s", "tokens=/1s", "9007199254740993/1s"} {
		_, err := parseLimit(in)
		var u usageError
		assert.ErrorAs(t, err, &u, "%q", in)
	}
	assert.Equal(t, "1m", shortDuration(time.Minute))
	assert.Equal(t, "1h", shortDuration(time.Hour))
	assert.Equal(t, "1h30m", shortDuration(90*time.Minute))
	assert.Equal(t, "1m30s", shortDuration(90*time.Second))
}

// FuzzParseLimit: any LIMIT is refused with a usage error or read as a limit that
// the library accepts and that formats back to itself.
func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"3000/5s", "tokens=1,requests=2/1m", "1/ms", "=/", ",/", "1,tokens=2/3h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := parseLimit(s)
		if err != nil {
			if !errors.As(err, new(usageError)) {
				t.Fatalf("parseLimit(%q): %v is not a usage error", s, err)
			}
			return
		}
		if l.Interval < time.Millisecond || (l.Tokens|l.Input|l.Output|l.Requests) == 0 || max(l.Tokens, l.Input, l.Output, l.Requests) > 1<<53 {
			t.Fatalf("parseLimit(%q) = %+v", s, l)
		}
		back, err := parseLimit(formatLimit(l))
		if err != nil || back != l {
			t.Fatalf("parseLimit(%q) = %+v formats as %q, which reads back as %+v, %v", s, l, formatLimit(l), back, err)
		}
	})
}
