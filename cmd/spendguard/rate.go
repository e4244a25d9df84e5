package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/ratelimit"
	"github.com/spendguard/spendguard/ratelimit/redisrate"
)

// The rate limit commands: rates, rate show, rate set, rate unset, through
// redisrate.List and redisrate.SetLimit (the keys and scripts of the limiters).

// errUnknownRate is wrapped by rateOf's error for a limit Redis holds nothing of.
var errUnknownRate = errors.New("unknown rate limit")

// parseLimit reads a LIMIT given on the command line: TOKENS/INTERVAL ("3000/5s"), or
// COUNT=N[,COUNT=N...]/INTERVAL with COUNT among tokens, input, output and requests
// ("tokens=30000,requests=500/1m"). The interval is a Go duration or a bare unit
// ("90000/m"). Counts not given are 0 (none); at least one must be positive, each at
// most 2^53, and the interval at least 1ms.
func parseLimit(s string) (ratelimit.Limit, error) {
	var l ratelimit.Limit
	bad := func(why string) (ratelimit.Limit, error) {
		return ratelimit.Limit{}, usagef("limit %q: %s (want TOKENS/INTERVAL like 3000/5s, or tokens=N,input=N,output=N,requests=N/INTERVAL)", s, why)
	}
	counts, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return bad("no /INTERVAL")
	}
	seen := map[string]bool{}
	for i, term := range strings.Split(counts, ",") {
		key, v, named := strings.Cut(strings.TrimSpace(term), "=")
		if !named {
			if i > 0 {
				return bad(fmt.Sprintf("%q is not COUNT=N", term))
			}
			key, v = "tokens", term
		}
		key, v = strings.TrimSpace(key), strings.TrimSpace(v)
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > 1<<53 {
			return bad(fmt.Sprintf("%s %q is not an integer from 0 to 2^53", key, v))
		}
		if seen[key] {
			return bad(key + " given twice")
		}
		seen[key] = true
		switch key {
		case "tokens":
			l.Tokens = n
		case "input":
			l.Input = n
		case "output":
			l.Output = n
		case "requests":
			l.Requests = n
		default:
			return bad(fmt.Sprintf("%q is not tokens, input, output or requests", key))
		}
	}
	if l.Tokens == 0 && l.Input == 0 && l.Output == 0 && l.Requests == 0 {
		return bad("it limits nothing (every count is 0)")
	}
	per = strings.TrimSpace(per)
	if per != "" && (per[0] < '0' || per[0] > '9') {
		per = "1" + per // "3000/s" is 3000 per 1s
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Millisecond {
		return bad("the interval must be a duration of at least 1ms, like 5s or 1m")
	}
	l.Interval = d
	return l, nil
}

// formatLimit is l as parseLimit reads it ("3000/5s", "tokens=30000,requests=500/1m"),
// or "-" for none.
func formatLimit(l ratelimit.Limit) string {
	if l == (ratelimit.Limit{}) {
		return "-"
	}
	per := shortDuration(l.Interval)
	if l.Input == 0 && l.Output == 0 && l.Requests == 0 {
		return fmt.Sprintf("%d/%s", l.Tokens, per)
	}
	var parts []string
	for _, c := range []struct {
		name string
		n    uint64
	}{{"tokens", l.Tokens}, {"input", l.Input}, {"output", l.Output}, {"requests", l.Requests}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", c.name, c.n))
		}
	}
	return strings.Join(parts, ",") + "/" + per
}

// shortDuration is d without its zero trailing units: 1m, not 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func rateSource(s redisrate.Status) string {
	switch {
	case s.FromRedis:
		return "redis"
	case s.Limit != (ratelimit.Limit{}):
		return "default"
	}
	return "unknown"
}

// rateJSON is one rate limit in -json output and on the page.
type rateJSON struct {
	Name         string  `json:"name"`
	Limit        string  `json:"limit"` // as rate set takes it; "-" when unknown
	IntervalMS   int64   `json:"interval_ms"`
	Tokens       uint64  `json:"tokens"`
	Input        uint64  `json:"input"`
	Output       uint64  `json:"output"`
	Requests     uint64  `json:"requests"`
	LimitSource  string  `json:"limit_source"` // redis, default or unknown
	DefaultLimit string  `json:"default_limit"`
	Override     string  `json:"override"`
	UsedTokens   uint64  `json:"used_tokens"`
	UsedInput    uint64  `json:"used_input"`
	UsedOutput   uint64  `json:"used_output"`
	UsedRequests uint64  `json:"used_requests"`
	InFlight     int     `json:"in_flight"`
	HeldTokens   uint64  `json:"held_tokens"`
	WaitingUntil *string `json:"waiting_until"`
	PausedUntil  *string `json:"paused_until"`
}

func toRateJSON(s redisrate.Status) rateJSON {
	l := s.Limit
	j := rateJSON{Name: s.Name, Limit: formatLimit(l), IntervalMS: l.Interval.Milliseconds(),
		Tokens: l.Tokens, Input: l.Input, Output: l.Output, Requests: l.Requests, LimitSource: rateSource(s),
		DefaultLimit: formatLimit(s.Default), Override: formatLimit(s.Override),
		UsedTokens: s.Counted.Input + s.Counted.Output, UsedInput: s.Counted.Input, UsedOutput: s.Counted.Output,
		UsedRequests: s.CountedRequests, InFlight: s.InFlight, HeldTokens: s.Held.Input + s.Held.Output}
	stamp := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		v := t.UTC().Format(time.RFC3339Nano)
		return &v
	}
	j.WaitingUntil, j.PausedUntil = stamp(s.WaitingUntil), stamp(s.PausedUntil)
	return j
}

// listRates is redisrate.List, with the limits it could not read as lines.
func listRates(ctx context.Context, rdb redis.UniversalClient, prefix, pattern string) ([]redisrate.Status, []string, error) {
	l, err := redisrate.List(ctx, rdb, pattern, redisrate.WithKeyPrefix(prefix))
	if err != nil && (l == nil || errors.Is(err, budget.ErrUnavailable)) {
		return nil, nil, err
	}
	var skipped []string
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			skipped = append(skipped, strings.TrimPrefix(line, "redisrate: "))
		}
	}
	return l, skipped, nil
}

// rateOf is the limit called name, or an error wrapping errUnknownRate.
func rateOf(ctx context.Context, rdb redis.UniversalClient, prefix, name string) (redisrate.Status, error) {
	l, err := redisrate.List(ctx, rdb, globQuote(name), redisrate.WithKeyPrefix(prefix))
	if err != nil {
		return redisrate.Status{}, err
	}
	for _, s := range l {
		if s.Name == name {
			return s, nil
		}
	}
	return redisrate.Status{}, fmt.Errorf("%w %q: nothing of it in Redis (no process has used it lately, its keys expired, and it has no limit set)", errUnknownRate, name)
}

// globQuote makes name a Redis glob that matches name only.
func globQuote(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if strings.IndexByte(`*?[]\`, name[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(name[i])
	}
	return b.String()
}

func (c *config) rate(ctx context.Context, rdb redis.UniversalClient, limit ratelimit.Limit, stdout, stderr io.Writer) error {
	name := ""
	if len(c.args) > 0 {
		name = c.args[0]
	}
	switch c.cmd {
	case "rates":
		l, skipped, err := listRates(ctx, rdb, c.ratePrefix, name)
		if err != nil {
			return err
		}
		for _, k := range skipped {
			fmt.Fprintf(stderr, "spendguard: skipped %s\n", k)
		}
		return printRates(stdout, l, c.json)
	case "rate show":
		s, err := rateOf(ctx, rdb, c.ratePrefix, name)
		if err != nil {
			return err
		}
		return printRate(stdout, s, c.json)
	case "rate set":
		before, err := rateOf(ctx, rdb, c.ratePrefix, name)
		if errors.Is(err, errUnknownRate) && c.new_ {
			err = nil
		}
		if err != nil {
			if errors.Is(err, errUnknownRate) {
				err = fmt.Errorf("%w (rate set -new gives a limit no process has used yet)", err)
			}
			return err
		}
		if err := redisrate.SetLimit(ctx, rdb, name, limit, redisrate.WithKeyPrefix(c.ratePrefix)); err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), "redisrate: "))
		}
		fmt.Fprintf(stdout, "%s: limit %s from Redis, in force from the next reserve of every process (was %s); in use %d tokens, %d requests\n",
			name, formatLimit(limit), describeRate(before), before.Counted.Input+before.Counted.Output, before.CountedRequests)
		return nil
	case "rate unset":
		before, err := rateOf(ctx, rdb, c.ratePrefix, name)
		if err != nil {
			return err
		}
		if err := redisrate.SetLimit(ctx, rdb, name, ratelimit.Limit{}, redisrate.WithKeyPrefix(c.ratePrefix)); err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), "redisrate: "))
		}
		if before.Override == (ratelimit.Limit{}) {
			fmt.Fprintf(stdout, "%s: had no limit in Redis; nothing changed (%s)\n", name, describeRate(before))
			return nil
		}
		fmt.Fprintf(stdout, "%s: limit %s removed from Redis; the processes' own limit (%s) is in force from the next reserve\n",
			name, formatLimit(before.Override), formatLimit(before.Default))
		return nil
	}
	return usagef("unknown command %q", c.cmd)
}

// describeRate says which limit is in force and where it comes from.
func describeRate(s redisrate.Status) string {
	switch {
	case s.FromRedis && s.Default != (ratelimit.Limit{}):
		return fmt.Sprintf("%s from Redis; the processes' own is %s", formatLimit(s.Limit), formatLimit(s.Default))
	case s.FromRedis:
		return formatLimit(s.Limit) + " from Redis"
	case s.Override != (ratelimit.Limit{}):
		return fmt.Sprintf("%s, the processes' own; %s in Redis is for another interval and in force nowhere",
			formatLimit(s.Default), formatLimit(s.Override))
	case s.Default != (ratelimit.Limit{}):
		return formatLimit(s.Default) + ", the processes' own"
	}
	return "the processes' own, not yet known"
}

func until(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s (in %v)", t.UTC().Format(time.RFC3339), t.Sub(now).Round(time.Millisecond))
}

func printRates(w io.Writer, l []redisrate.Status, asJSON bool) error {
	if asJSON {
		out := make([]rateJSON, len(l))
		for i, s := range l {
			out[i] = toRateJSON(s)
		}
		return json.NewEncoder(w).Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLIMIT\tSOURCE\tTOKENS\tREQUESTS\tIN FLIGHT\tWAITING UNTIL\tPAUSED UNTIL")
	for _, s := range l {
		wait, pause := "-", "-"
		if !s.WaitingUntil.IsZero() {
			wait = s.WaitingUntil.UTC().Format(time.RFC3339)
		}
		if !s.PausedUntil.IsZero() {
			pause = s.PausedUntil.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", s.Name, formatLimit(s.Limit), rateSource(s),
			s.Counted.Input+s.Counted.Output, s.CountedRequests, s.InFlight, wait, pause)
	}
	return tw.Flush()
}

func printRate(w io.Writer, s redisrate.Status, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(toRateJSON(s))
	}
	fmt.Fprintf(w, "rate limit  %s\n", s.Name)
	fmt.Fprintf(w, "limit       %s\n", describeRate(s))
	fmt.Fprintf(w, "in use      %d tokens (%d input + %d output), %d requests, in the last %s\n",
		s.Counted.Input+s.Counted.Output, s.Counted.Input, s.Counted.Output, s.CountedRequests, shortDuration(s.Limit.Interval))
	fmt.Fprintf(w, "in flight   %d call(s) holding %d tokens\n", s.InFlight, s.Held.Input+s.Held.Output)
	fmt.Fprintf(w, "waiting     %s\n", until(s.WaitingUntil, s.Now))
	fmt.Fprintf(w, "paused      %s\n", until(s.PausedUntil, s.Now))
	return nil
}
