package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// started is a sent call of a -rate run: when its limit counted it as started, what
// it reserved from the limit and what its settle counted.
type started struct {
	at                time.Time
	reserved, charged uint64
}

// checkRateWindows asserts the bound the sliding window gives, over every closed span
// of one interval of the calls' start times (a call counts from its admission for at
// least one interval, so a call admitted exactly one interval after another still
// sees it):
//
//   - oneAtATime (an agent's loop: each call settled before the next reserves): the
//     earlier calls' usage plus the last call's estimate is at most the limit, so the
//     usage is at most the limit plus the last call's overage (usage − estimate);
//   - otherwise (calls in flight together): the usage is at most the limit plus the
//     overage of the span's calls.
//
// The wording, "at most 3000 tokens of estimates plus one call's overage",
// is not this bound and does not hold: a settle gives back the allowance a call did
// not use, so later calls fit in the same span, and the estimates of a span add up to
// more than the limit (5,244 of 3,000 in the example's own run). The test logs the
// largest sum of estimates; a limiter that never gave back would be needed for it to
// hold. It returns the calls, by start time, and the largest sum of a span's estimates.
func checkRateWindows(t *testing.T, calls []callRecord, limit uint64, interval time.Duration, oneAtATime bool) ([]started, uint64) {
	t.Helper()
	var s []started
	for _, c := range calls {
		if !c.Sent {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, c.StartedAt)
		if err != nil {
			t.Fatalf("call %d: started_at %q is not RFC 3339: %v", c.Call, c.StartedAt, err)
		}
		s = append(s, started{at, c.RateReserve, c.RateCharged})
	}
	slices.SortFunc(s, func(a, b started) int { return a.at.Compare(b.at) })
	lo := 0
	var maxOver, maxEstimates, maxCounted uint64
	for hi := range s {
		for s[lo].at.Before(s[hi].at.Add(-interval)) {
			lo++
		}
		var counted, estimates, over uint64
		for _, c := range s[lo:hi] {
			counted += c.charged
			estimates += c.reserved
			if c.charged > c.reserved {
				over += c.charged - c.reserved
			}
		}
		last := s[hi]
		estimates += last.reserved
		used := counted + last.charged
		lastOver := uint64(0)
		if last.charged > last.reserved {
			lastOver = last.charged - last.reserved
		}
		maxOver, maxEstimates, maxCounted = max(maxOver, lastOver), max(maxEstimates, estimates), max(maxCounted, counted+last.reserved)
		if oneAtATime {
			if counted+last.reserved > limit {
				t.Errorf("the %v ending at %v counted %d tokens of usage and %d of estimate: over the limit %d", interval, last.at, counted, last.reserved, limit)
			}
			if used > limit+lastOver {
				t.Errorf("the %v ending at %v holds %d tokens used: over the limit %d plus its last call's overage %d", interval, last.at, used, limit, lastOver)
			}
		} else if used > limit+over+lastOver {
			t.Errorf("the %v ending at %v holds %d tokens used: over the limit %d plus its calls' overage %d", interval, last.at, used, limit, over+lastOver)
		}
	}
	t.Logf("%d calls over %v; per span of %v: at most %d tokens counted by the limit, %d of estimates; largest overage of one call %d tokens",
		len(s), s[len(s)-1].at.Sub(s[0].at).Round(time.Millisecond), interval, maxCounted, maxEstimates, maxOver)
	return s, maxEstimates
}

// The "done when", on a shorter interval so that the test is quick
// (`go run ./examples/agent -rate 3000/5s -budget 12000 -json` is the same at 5 s):
// the run is stopped by its budget, not by the limit; calls waited instead of
// failing; and every interval of start times holds at most the limit.
func TestRateLimitedRunStopsOnBudget(t *testing.T) {
	const interval = 400 * time.Millisecond
	out, _, err := runScripted(t, "-json", "-rate", "3000/400ms", "-budget", "12000")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.StoppedBy != stoppedByBudget || rep.Denial == nil || rep.Rate != "3000/400ms" {
		t.Fatalf("stopped by %q (denial %+v, rate %q); want the budget", rep.StoppedBy, rep.Denial, rep.Rate)
	}
	waited := 0
	var used uint64
	for _, c := range rep.Calls {
		if c.Error != "" {
			t.Errorf("call %d failed: %s", c.Call, c.Error)
		}
		if c.Sent && (c.StartedAt == "" || c.RateReserve == 0 || c.RateCharged != c.PromptTokens+c.CompletionTokens) {
			t.Errorf("call %d: %+v; want its start, its reservation, and its usage counted", c.Call, c)
		}
		if c.WaitedMs > 0 {
			waited++
		}
		used += c.RateCharged
	}
	if waited == 0 {
		t.Error("no call waited for the limit: the test does not test it")
	}
	s, estimates := checkRateWindows(t, rep.Calls, 3000, interval, true)
	// The settles give back what the calls did not use, so a span's estimates add up
	// to more than the limit: the bound is on what the limit counts, not on estimates.
	if estimates <= 3000 {
		t.Errorf("no span's estimates went over the limit (at most %d): the settles gave nothing back", estimates)
	}
	// As long as its tokens need at the rate: every interval holds at most the limit
	// plus an overage, so k intervals hold at most k of them.
	if d, need := s[len(s)-1].at.Sub(s[0].at), time.Duration(float64(interval)*(float64(used)/3100-1)); d < need {
		t.Errorf("%d tokens went through in %v, faster than 3000 per %v allows (%v)", used, d, interval, need)
	}
}

// Two runs naming the same model share its limit through Redis: their calls together
// stay within it.
func TestRateSharedThroughRedis(t *testing.T) {
	addr := os.Getenv("SPENDGUARD_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("SPENDGUARD_REQUIRE_SERVICES") == "1" {
			t.Fatal("SPENDGUARD_REDIS_ADDR is not set")
		}
		t.Skip("SPENDGUARD_REDIS_ADDR is not set (scripts/test.sh starts a redis-server)")
	}
	model := fmt.Sprintf("rate-test-%d", time.Now().UnixNano())
	var wg sync.WaitGroup
	var reps [2]report
	for i := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, err := runScripted(t, "-json", "-redis", addr, "-budget-name", fmt.Sprintf("%s-%d", model, i),
				"-model", model, "-rate", "3000/300ms", "-budget", "8000")
			if err != nil {
				t.Errorf("run %d: %v\n%s", i, err, out)
				return
			}
			if err := json.Unmarshal([]byte(out), &reps[i]); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	all := append(slices.Clone(reps[0].Calls), reps[1].Calls...)
	for i, r := range reps {
		if r.StoppedBy != stoppedByBudget {
			t.Errorf("run %d stopped by %q, want its budget", i, r.StoppedBy)
		}
	}
	for _, c := range all {
		if c.Error != "" || (c.Sent && !strings.HasPrefix(c.StartedAt, "20")) {
			t.Errorf("call %+v", c)
		}
	}
	checkRateWindows(t, all, 3000, 300*time.Millisecond, false)
}

func TestRateBadInput(t *testing.T) {
	for _, arg := range []string{"3000", "0/5s", "3000/0s", "x/5s", "3000/5parsecs", "-1/5s", "3000/48h", "/"} {
		out, _, err := runScripted(t, "-rate", arg)
		if err == nil || !strings.Contains(err.Error(), "-rate") {
			t.Errorf("-rate %q: err = %v, want one naming -rate\n%s", arg, err, out)
		}
	}
	for arg, want := range map[string]time.Duration{"3000/5s": 5 * time.Second, "90000/m": time.Minute, " 10 / 1m30s ": 90 * time.Second} {
		l, err := parseRate(arg)
		if err != nil || l.Interval != want || l.Tokens == 0 {
			t.Errorf("parseRate(%q) = %+v, %v; want an interval of %v", arg, l, err, want)
		}
	}
}

// FuzzParseRate: any -rate is a valid limit or an error naming the flag, never a panic.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"3000/5s", "1/ms", "90000/m", "/", "9999999999999999999999/1s", "1/-5s", "1/1e9h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := parseRate(s)
		if err != nil {
			if !strings.Contains(err.Error(), "-rate") {
				t.Fatalf("error %q does not name -rate", err)
			}
			return
		}
		if l.Tokens == 0 || l.Interval < time.Millisecond || l.Interval > 24*time.Hour {
			t.Fatalf("parseRate(%q) = %+v", s, l)
		}
	})
}
