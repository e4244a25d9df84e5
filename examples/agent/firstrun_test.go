package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/internal/testenv"
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
	return testenv.Need(t, "SPENDGUARD_REDIS_ADDR")
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

// runRaw runs the example offline as runScripted does, and returns its output as
// printed, lines unjoined.
func runRaw(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	e := env{getenv: func(string) string { return "" }, stderr: io.Discard, now: fixedNow}
	if err := runWith(context.Background(), args, &out, e); err != nil {
		t.Fatalf("%q: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// The default output keeps within 100 columns, in every mode: the per-call lines
// (with their notes), the fallback's, the header and the prose after the calls.
func TestOutputFits100Columns(t *testing.T) {
	for _, args := range [][]string{
		nil, {"-money"}, {"-fallback"}, {"-hard-cap"}, {"-hard-cap", "-money", "-budget", "80000"},
		{"-scenario", "stuck"}, {"-scenario", "rag"}, {"-agent", "mrkl"}, {"-rate", "3000/5s", "-budget", "8000"},
	} {
		out := runRaw(t, args...)
		for _, l := range strings.Split(out, "\n") {
			if n := utf8.RuneCountInString(l); n > width {
				t.Errorf("%q: a line of %d columns:\n%s", args, n, l)
			}
		}
		if !strings.Contains(out, "\n  ") { // the prose is broken, not cut
			t.Errorf("%q: no continued line:\n%s", args, out)
		}
	}
}

// A money budget's lines give every number its unit: the amounts in µ$, the usage in
// tokens; the prose says micro-USD wherever it gives an amount.
func TestMoneyLinesCarryUnits(t *testing.T) {
	out := runRaw(t, "-fallback")
	sent := regexp.MustCompile(`^call +\d+ +\d+µ\$ +\d+µ\$ +\d+ tokens \(\d+ \+ \d+\) +(over )?\d+µ\$  \[[#-]{10}\] +\d+%(  fell back)?$`)
	denied := regexp.MustCompile(`^call +\d+ +\d+µ\$  DENIED on scripted-small \(fell back from scripted-large\), not sent$`)
	rows := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "call ") {
			rows++
			if !sent.MatchString(l) && !denied.MatchString(l) {
				t.Errorf("a call line with a number without its unit:\n%s", l)
			}
		}
	}
	text := unwrap(out)
	if rows < 3 || !strings.Contains(text, "micro-USD left.") || !strings.Contains(text, "micro-USD remaining.") {
		t.Errorf("%d call lines; want the denial's and the summary's amounts in micro-USD:\n%s", rows, out)
	}
}

// An answer a hard cap cut at its max_tokens says so: "cut" in -json and CUT on its
// line, for exactly the answers the server stopped at that limit.
func TestHardCapCutIsShown(t *testing.T) {
	out, rec, err := runScripted(t, "-json", "-hard-cap")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	replies, cuts := rec.sent(), 0
	for i, r := range replies {
		c := rep.Calls[i]
		if c.Cut != (r.FinishReason == "length") {
			t.Errorf("call %d: cut %v, the server's finish reason %q (max_tokens %d)", c.Call, c.Cut, r.FinishReason, c.MaxTokens)
		}
		if c.Cut {
			cuts++
		}
	}
	if cuts == 0 {
		t.Fatalf("no answer cut: the test needs one\n%s", out)
	}
	text := runRaw(t, "-hard-cap")
	if n := len(regexp.MustCompile(`(?m)  max_tokens \d+ CUT$`).FindAllString(text, -1)); n != cuts {
		t.Errorf("%d lines marked CUT, %d answers cut:\n%s", n, cuts, text)
	}
}

var update = flag.Bool("update", false, "rewrite README.md's example output (TestREADMEOutput)")

// goldenMark is the comment in README.md before the fenced block of
// `go run ./examples/agent`'s output.
const goldenMark = "<!-- output of: go run ./examples/agent (TestREADMEOutput; go test ./examples/agent -run TestREADMEOutput -update rewrites it) -->"

// TestREADMEOutput keeps the README's example output true: `go run ./examples/agent`
// (the scripted server: deterministic) prints exactly the block after goldenMark.
func TestREADMEOutput(t *testing.T) {
	stdout, stderr, code := runBinary(t)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	const path = "../../README.md"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, after, ok := strings.Cut(string(readme), goldenMark+"\n```\n")
	if !ok {
		t.Fatalf("README.md has no %q followed by a fenced block", goldenMark)
	}
	block, rest, ok := strings.Cut(after, "```\n")
	if !ok {
		t.Fatal("README.md: the example's block is not closed")
	}
	if block == stdout {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(before+goldenMark+"\n```\n"+stdout+"```\n"+rest), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's example output is not what go run ./examples/agent prints (-update rewrites it):\nREADME:\n%s\nprinted:\n%s", block, stdout)
}
