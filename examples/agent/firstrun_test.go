package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/budget/redisbudget"
)

// A wrong command line prints its error and the usage once, and exits 2, as
// cmd/spendguard does; a run that fails exits 1 with one line; -h prints the usage
// on stdout and exits 0.
func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string // the first line on stderr
	}{
		{[]string{"-budget", "-5"}, 2, `agent: invalid value "-5" for flag -budget: parse error`},
		{[]string{"-no-such-flag"}, 2, "agent: flag provided but not defined: -no-such-flag"},
		{[]string{"-max-calls", "0"}, 2, "agent: -max-calls must be at least 1, not 0"},
		{[]string{"-provider", "nope"}, 2, `agent: unknown -provider "nope": want scripted, openai, anthropic or ollama`},
		{[]string{"extra"}, 2, `agent: unexpected arguments: ["extra"]`},
		{[]string{"-provider", "openai"}, 1, "agent: -provider openai needs an API key in OPENAI_API_KEY"},
	} {
		var out, errOut bytes.Buffer
		err := runWith(context.Background(), tc.args, &out, env{getenv: func(string) string { return "" }, stderr: &errOut, now: fixedNow})
		code := exit(err, &out, &errOut)
		first, rest, _ := strings.Cut(errOut.String(), "\n")
		if code != tc.code || first != tc.want || out.Len() != 0 {
			t.Errorf("%q: exit %d, stderr starting %q, stdout %q; want %d and %q", tc.args, code, first, out.String(), tc.code, tc.want)
		}
		usages := strings.Count(rest, "Usage of agent:")
		if tc.code == 2 && (usages != 1 || !strings.HasPrefix(rest, "Usage of agent:") || !strings.Contains(rest, "-budget uint")) {
			t.Errorf("%q: after the error, %d usages, want 1:\n%s", tc.args, usages, rest)
		}
		if tc.code == 1 && rest != "" {
			t.Errorf("%q: a failed run prints one line, not:\n%s", tc.args, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	err := runWith(context.Background(), []string{"-h"}, &out, env{getenv: func(string) string { return "" }, stderr: &errOut, now: fixedNow})
	if code := exit(err, &out, &errOut); code != 0 || strings.Count(out.String(), "Usage of agent:") != 1 || errOut.Len() != 0 {
		t.Errorf("-h: exit %d, stdout %q, stderr %q; want 0 and the usage once on stdout", code, out.String(), errOut.String())
	}
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// agentBinary builds the example once for the tests that run it as a user does.
func agentBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "agent-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "agent")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// runBinary runs the built example with args, without any OTEL variable.
func runBinary(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, agentBinary(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// A Redis that refuses connections, or accepts them and never answers, is one line
// naming its address and exit 1, before the run starts, within the dial and ping
// bound (go-redis would otherwise retry for seconds and log every attempt).
func TestDeadRedis(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts (the kernel's backlog), never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()
	for _, addr := range []string{refusedAddr, silent.Addr().String()} {
		start := time.Now()
		stdout, stderr, code := runBinary(t, "-redis", addr)
		took := time.Since(start)
		want := "agent: cannot reach Redis at " + addr + ": "
		if code != 1 || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
			t.Errorf("-redis %s: exit %d, stdout %q, stderr %q; want 1 and one line starting %q", addr, code, stdout, stderr, want)
		}
		if took > 2*redisTimeout+5*time.Second { // the bound, with room for a loaded machine
			t.Errorf("-redis %s: took %v, the bound is a ping of %v", addr, took, redisTimeout)
		}
	}
}

func redisAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("SPENDGUARD_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("SPENDGUARD_REQUIRE_SERVICES") == "1" {
			t.Fatal("SPENDGUARD_REDIS_ADDR is not set")
		}
		t.Skip("SPENDGUARD_REDIS_ADDR is not set (scripts/test.sh starts a redis-server)")
	}
	return addr
}

// After an operator sets the shared budget's capacity (`spendguard set NAME 1000`,
// Family.SetCapacity), the header and the bars show the capacity in force, not
// -budget's; a run denied at its first call says how to start the budget over.
func TestRedisCapacityInForceAndResetHint(t *testing.T) {
	addr := redisAddr(t)
	name := fmt.Sprintf("agent-test-%d", time.Now().UnixNano())
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	fam, err := redisbudget.NewFamily(rdb, 6000)
	if err != nil {
		t.Fatal(err)
	}
	if err := fam.SetCapacity(context.Background(), name, 1000); err != nil {
		t.Fatal(err)
	}
	out, _, err := runScripted(t, "-redis", addr, "-budget-name", name)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	hint := "`spendguard -redis " + addr + " reset " + name + " -yes` starts it over."
	if !strings.Contains(out, fmt.Sprintf("budget %q of 1000 tokens", name)) || strings.Contains(out, "6000") ||
		!strings.Contains(out, "\ncall  1 ") || strings.Contains(out, "\ncall  2 ") || !strings.Contains(out, hint) {
		t.Errorf("want the capacity set in Redis, a denial at call 1 and %q:\n%s", hint, out)
	}

	// A run denied later has spent something itself: no hint.
	if err := fam.SetCapacity(context.Background(), name, 3000); err != nil {
		t.Fatal(err)
	}
	out, _, err = runScripted(t, "-redis", addr, "-budget-name", name)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "of 3000 tokens") || !strings.Contains(out, "\ncall  2 ") || strings.Contains(out, "reset") {
		t.Errorf("want 3000 in force, calls sent, no reset hint:\n%s", out)
	}
}
