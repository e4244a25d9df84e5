// Command spendguard is the operator's view of the token budgets that
// budget/redisbudget keeps in Redis and of the rate limits of ratelimit/redisrate: it
// lists them, shows one with its holds, sets or removes a budget's live capacity or a
// rate limit's live limit, starts a budget's window over, and watches them in a
// terminal or on a web page (serve.go), through the same keys and Lua scripts as the
// library (redisbudget.Family's operations, redisrate.List and SetLimit). Install it with `go install
// ./cmd/spendguard` from a checkout.
//
// Usage (`spendguard help` prints this, from the one command table in main.go):
//
//	usage: spendguard [FLAGS] COMMAND [ARGS]   (flags may also follow the command)
//
//	commands:
//	  list [PATTERN]        every budget (a Redis glob over names), sorted by name
//	  show NAME             one budget, with its live holds and where its capacity comes from
//	  set NAME CAPACITY     store NAME's capacity in Redis, in force from the next reservation
//	                        of every process (-new: for a budget no process has used yet)
//	  unset NAME            remove it: the processes' own capacity is in force again
//	  reset NAME -yes       start NAME's current window over (consumed 0); holds in flight
//	                        still settle, once
//	  watch [PATTERN]       list, refreshed every -interval until interrupted
//	  serve                 a web page of the budgets and rate limits, live, on -listen; set,
//	                        unset and reset from the page need the admin token (-token or
//	                        $SPENDGUARD_ADMIN_TOKEN)
//	  rates [PATTERN]       every rate limit (ratelimit/redisrate) in Redis, sorted by name
//	  rate show NAME        one rate limit: in force and from where, in use in its current
//	                        interval, calls in flight, waiting and paused until
//	  rate set NAME LIMIT   store NAME's limit in Redis, in force from the next reserve of
//	                        every process; LIMIT is TOKENS/INTERVAL (3000/5s) or COUNT=N,.../INTERVAL
//	                        of tokens, input, output, requests (tokens=30000,requests=500/1m);
//	                        it replaces every count, and INTERVAL must be the processes'
//	                        (-new: for a limit no process has used yet)
//	  rate unset NAME       remove it: the processes' own limit is in force again
//	  help                  this text (also -h)
//
//	flags:
//	  -interval DURATION    watch, serve: time between refreshes (default 1s)
//	  -json                 list, show, rates, rate show: print JSON
//	  -listen ADDR          serve: the address to listen on (default 127.0.0.1:8080)
//	  -new                  set, rate set: the budget or limit need not exist yet
//	  -prefix PREFIX        the key prefix the budgets were built with (default spendguard)
//	  -rate-prefix PREFIX   the key prefix the rate limits were built with (default spendguard-rate)
//	  -redis ADDR           Redis: host:port, a redis:// URL, or a Redis Cluster's
//	                        host:port,host:port,...; default $REDIS_URL
//	  -token TOKEN          serve: the admin token; default $SPENDGUARD_ADMIN_TOKEN (better:
//	                        a flag shows in ps); without one the page is read-only
//	  -yes                  reset: do it
//
// -json makes list and show print JSON: objects with name, capacity, capacity_source
// ("redis" or "default"), default_capacity, consumed, held, remaining (in the
// budget's units, tokens by default) and window_end (RFC 3339, or null when the budget
// has no window or its current window has not begun); show adds holds, each with
// tokens and lease_end. rates and rate show print objects with name, limit (as rate set
// takes it, "-" when unknown), interval_ms, tokens, input, output, requests (the counts
// in force, 0: none), limit_source ("redis", "default" or "unknown"), default_limit and
// override (each "-" when none), used_tokens, used_input, used_output, used_requests
// (what the current interval counts), in_flight, held_tokens, waiting_until and
// paused_until (RFC 3339, or null). rates and rate show never write to Redis.
//
// Bad input (an unknown command, flag, budget or rate limit, a
// capacity that is not an integer in [0, 2^53], a LIMIT that is not one, an interval
// other than the processes', a name that is not a budget's, an unreachable Redis) prints one line on stderr, exits non-zero and changes nothing.
// Exit status: 0 done, 1 the command failed, 2 the command line was wrong.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/ratelimit"
)

func main() {
	redis.SetLogger(quiet{}) // its errors are reported once, in one line
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// usageError is a wrong command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// command is one line of the command table.
type command struct {
	name string
	args string // as shown in the usage: "NAME CAPACITY", "[PATTERN]"
	// min and max bound the number of arguments.
	min, max int
	help     string // the description; '\n' breaks it into the usage's lines
}

// commands is the one description of the command line: the usage text (`spendguard
// help`, -h), the argument checks and their messages all come from it, and a test
// checks that the package doc's Usage block is that text.
var commands = []command{
	{"list", "[PATTERN]", 0, 1, "every budget (a Redis glob over names), sorted by name"},
	{"show", "NAME", 1, 1, "one budget, with its live holds and where its capacity comes from"},
	{"set", "NAME CAPACITY", 2, 2, "store NAME's capacity in Redis, in force from the next reservation\n" +
		"of every process (-new: for a budget no process has used yet)"},
	{"unset", "NAME", 1, 1, "remove it: the processes' own capacity is in force again"},
	{"reset", "NAME -yes", 1, 1, "start NAME's current window over (consumed 0); holds in flight\n" +
		"still settle, once"},
	{"watch", "[PATTERN]", 0, 1, "list, refreshed every -interval until interrupted"},
	{"serve", "", 0, 0, "a web page of the budgets and rate limits, live, on -listen; set,\n" +
		"unset and reset from the page need the admin token (-token or\n" +
		"$SPENDGUARD_ADMIN_TOKEN)"},
	{"rates", "[PATTERN]", 0, 1, "every rate limit (ratelimit/redisrate) in Redis, sorted by name"},
	{"rate show", "NAME", 1, 1, "one rate limit: in force and from where, in use in its current\n" +
		"interval, calls in flight, waiting and paused until"},
	{"rate set", "NAME LIMIT", 2, 2, "store NAME's limit in Redis, in force from the next reserve of\n" +
		"every process; LIMIT is TOKENS/INTERVAL (3000/5s) or COUNT=N,.../INTERVAL\n" +
		"of tokens, input, output, requests (tokens=30000,requests=500/1m);\n" +
		"it replaces every count, and INTERVAL must be the processes'\n" +
		"(-new: for a limit no process has used yet)"},
	{"rate unset", "NAME", 1, 1, "remove it: the processes' own limit is in force again"},
	{"help", "", 0, 0, "this text (also -h)"},
}

// flagCommands names the commands a flag applies to; flags not named apply to all.
var flagCommands = map[string][]string{
	"json":     {"list", "show", "rates", "rate show"},
	"yes":      {"reset"},
	"new":      {"set", "rate set"},
	"interval": {"watch", "serve"},
	"listen":   {"serve"},
	"token":    {"serve"},
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// names is "list, show, ... or help".
func names() string {
	var b strings.Builder
	for i, c := range commands {
		switch {
		case i == len(commands)-1:
			b.WriteString(" or ")
		case i > 0:
			b.WriteString(", ")
		}
		b.WriteString(c.name)
	}
	return b.String()
}

// takes says what a command's arguments are: "a NAME and a CAPACITY", "at most a PATTERN".
func (c command) takes() string {
	var parts []string
	for _, w := range strings.Fields(c.args) {
		switch {
		case strings.HasPrefix(w, "-"):
		case strings.HasPrefix(w, "["):
			parts = append(parts, "at most a "+strings.Trim(w, "[]"))
		default:
			parts = append(parts, "a "+w)
		}
	}
	if len(parts) == 0 {
		return "no arguments"
	}
	return strings.Join(parts, " and ")
}

type config struct {
	redis, prefix   string
	ratePrefix      string
	json, yes, new_ bool
	interval        time.Duration
	listen, token   string
	cmd             string
	args            []string
}

// flags is the flag set of the command line, bound to c.
func flags(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("spendguard", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line by run
	fs.StringVar(&c.redis, "redis", "", "Redis: host:port, a redis:// URL, or a Redis Cluster's\n"+
		"host:port,host:port,...; default $REDIS_URL")
	fs.StringVar(&c.prefix, "prefix", "spendguard", "the key prefix the budgets were built with")
	fs.StringVar(&c.ratePrefix, "rate-prefix", "spendguard-rate", "the key prefix the rate limits were built with")
	fs.BoolVar(&c.json, "json", false, "list, show, rates, rate show: print JSON")
	fs.BoolVar(&c.yes, "yes", false, "reset: do it")
	fs.BoolVar(&c.new_, "new", false, "set, rate set: the budget or limit need not exist yet")
	fs.DurationVar(&c.interval, "interval", time.Second, "watch, serve: time between refreshes")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "serve: the address to listen on")
	fs.StringVar(&c.token, "token", "", "serve: the admin token; default $SPENDGUARD_ADMIN_TOKEN (better:\n"+
		"a flag shows in ps); without one the page is read-only")
	return fs
}

// usage is the text of `spendguard help`, from the command table and the flags.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: spendguard [FLAGS] COMMAND [ARGS]   (flags may also follow the command)\n\ncommands:\n")
	row := func(left, help string) {
		for i, line := range strings.Split(help, "\n") {
			if i > 0 {
				left = ""
			}
			fmt.Fprintf(&b, "  %-21s %s\n", left, line)
		}
	}
	for _, c := range commands {
		row(strings.TrimSpace(c.name+" "+c.args), c.help)
	}
	b.WriteString("\nflags:\n")
	flags(&config{}).VisitAll(func(f *flag.Flag) {
		arg, help := flag.UnquoteUsage(f)
		switch f.Name {
		case "redis":
			arg = "ADDR"
		case "prefix", "rate-prefix":
			arg = "PREFIX"
		case "listen":
			arg = "ADDR"
		case "token":
			arg = "TOKEN"
		case "interval":
			arg = "DURATION"
		}
		if d := f.DefValue; d != "" && d != "false" {
			help += " (default " + d + ")"
		}
		row(strings.TrimSpace("-"+f.Name+" "+arg), help)
	})
	return b.String()
}

// run is the whole command; its result is the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c, err := parse(args)
	if errors.Is(err, flag.ErrHelp) || (err == nil && c.cmd == "help") {
		fmt.Fprint(stdout, usage())
		return 0
	}
	if err == nil {
		err = c.run(ctx, getenv, stdout, stderr)
	}
	if err == nil {
		return 0
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	msg = strings.TrimPrefix(msg, "redisbudget: ")
	fmt.Fprintln(stderr, "spendguard: "+msg)
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// parse reads the command line. Flags may come before or after the command and its
// arguments (`reset NAME -yes`).
func parse(args []string) (*config, error) {
	c := &config{}
	fs := flags(c)
	var pos []string
	for len(args) > 0 {
		// A negative number is an argument (a capacity refused later with its own
		// message), not a flag.
		seg := args
		for i, a := range args {
			if len(a) > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9' {
				seg = args[:i]
				break
			}
		}
		rest := args[len(seg):]
		if err := fs.Parse(seg); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		if left := fs.Args(); len(left) > 0 {
			pos, args = append(pos, left[0]), append(left[1:len(left):len(left)], rest...)
			continue
		}
		if len(rest) > 0 {
			pos = append(pos, rest[0])
			rest = rest[1:]
		}
		args = rest
	}
	if len(pos) == 0 {
		return nil, usagef("no command: want %s (spendguard help lists them)", names())
	}
	c.cmd, c.args = pos[0], pos[1:]
	if c.cmd == "rate" {
		if _, ok := lookup("rate " + pos[min(1, len(pos)-1)]); len(pos) < 2 || !ok {
			got := "nothing"
			if len(pos) > 1 {
				got = fmt.Sprintf("%q", pos[1])
			}
			return nil, usagef("rate takes show, set or unset, got %s (spendguard help lists them)", got)
		}
		c.cmd, c.args = "rate "+pos[1], pos[2:]
	}
	cmd, ok := lookup(c.cmd)
	if !ok {
		return nil, usagef("unknown command %q: want %s (spendguard help lists them)", c.cmd, names())
	}
	if len(c.args) < cmd.min || len(c.args) > cmd.max {
		return nil, usagef("%s takes %s, got %d argument(s): %q", c.cmd, cmd.takes(), len(c.args), c.args)
	}
	var misplaced error
	fs.Visit(func(f *flag.Flag) {
		if cmds, ok := flagCommands[f.Name]; ok && !slices.Contains(cmds, c.cmd) && misplaced == nil {
			misplaced = usagef("-%s applies to %s, not %s", f.Name, enumerate(cmds), c.cmd)
		}
	})
	switch {
	case misplaced != nil:
		return nil, misplaced
	case c.interval <= 0:
		return nil, usagef("-interval %v is not positive", c.interval)
	case c.cmd == "reset" && !c.yes:
		return nil, usagef("reset starts budget %q's current window over (its consumption back to 0) and refuses without -yes", c.args[0])
	case strings.ContainsAny(c.prefix, "{}"):
		return nil, usagef("-prefix %q contains '{' or '}'", c.prefix)
	case strings.ContainsAny(c.ratePrefix, "{}"):
		return nil, usagef("-rate-prefix %q contains '{' or '}'", c.ratePrefix)
	}
	for i, a := range c.args {
		if (c.cmd == "set" || c.cmd == "rate set") && i == 1 {
			break
		}
		if strings.ContainsAny(a, "{}") {
			what := "budget name"
			switch c.cmd {
			case "list", "watch", "rates":
				what = "pattern"
			case "rate show", "rate set", "rate unset":
				what = "rate limit name"
			}
			return nil, usagef("%s %q contains '{' or '}': give the name between the braces of its keys, not a Redis key", what, a)
		}
		if a == "" {
			if strings.HasPrefix(c.cmd, "rate ") {
				return nil, usagef("empty rate limit name")
			}
			return nil, usagef("empty budget name")
		}
	}
	return c, nil
}

// parseCapacity reads a capacity given on the command line: a decimal integer,
// nothing else. Its range is the library's (redisbudget.Family.SetCapacity: 0 to
// 2^53, 0 denying every reservation), checked there.
func parseCapacity(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, usagef("capacity %q is not an integer from 0 to 2^53", s)
	}
	return n, nil
}

// connect opens the Redis named by -redis or REDIS_URL and checks that it answers.
func (c *config) connect(ctx context.Context, getenv func(string) string) (redis.UniversalClient, error) {
	target, from := c.redis, "-redis"
	if target == "" {
		target, from = getenv("REDIS_URL"), "REDIS_URL"
	}
	if target == "" {
		return nil, usagef("no Redis to talk to: give -redis ADDR or set REDIS_URL")
	}
	var rdb redis.UniversalClient
	addr := target
	switch {
	case strings.Contains(target, "://"):
		opts, err := redis.ParseURL(target)
		if err != nil {
			return nil, usagef("%s %q is not a Redis URL: %v", from, target, err)
		}
		addr = opts.Addr
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 2*time.Second, 5*time.Second, 5*time.Second
		opts.MaxRetries, opts.DialerRetries = 1, 1
		rdb = redis.NewClient(opts)
	case strings.Contains(target, ","): // the nodes of a Redis Cluster
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(target, ","),
			DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
			MaxRetries: 1, DialerRetries: 1})
	default:
		rdb = redis.NewClient(&redis.Options{Addr: target,
			DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
			MaxRetries: 1, DialerRetries: 1})
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("cannot reach Redis at %s: %v", addr, err)
	}
	return rdb, nil
}

func (c *config) run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	var capacity uint64
	var limit ratelimit.Limit
	var err error
	switch c.cmd {
	case "set":
		if capacity, err = parseCapacity(c.args[1]); err != nil {
			return err
		}
	case "rate set":
		if limit, err = parseLimit(c.args[1]); err != nil {
			return err
		}
	}
	rdb, err := c.connect(ctx, getenv)
	if err != nil {
		return err
	}
	defer rdb.Close()
	switch c.cmd {
	case "rates", "rate show", "rate set", "rate unset":
		return c.rate(ctx, rdb, limit, stdout, stderr)
	}
	a, err := redisbudget.NewFamily(rdb, 0, redisbudget.WithKeyPrefix(c.prefix))
	if err != nil {
		return usageError{err.Error()}
	}
	arg := func(i int) string {
		if i < len(c.args) {
			return c.args[i]
		}
		return ""
	}
	switch c.cmd {
	case "list":
		l, skipped, err := listBudgets(ctx, a, arg(0))
		if err != nil {
			return err
		}
		for _, k := range skipped {
			fmt.Fprintf(stderr, "spendguard: skipped %s\n", k)
		}
		return printList(stdout, l, c.json)
	case "show":
		s, err := statusOf(ctx, a, arg(0))
		if err != nil {
			return err
		}
		return printShow(stdout, s, c.json)
	case "set":
		before, err := statusOf(ctx, a, arg(0))
		if errors.Is(err, errUnknownBudget) && c.new_ {
			err = nil
		}
		if err != nil {
			if errors.Is(err, errUnknownBudget) {
				err = fmt.Errorf("%w (set -new gives a budget no process has used yet its capacity)", err)
			}
			return err
		}
		if err := a.SetCapacity(ctx, arg(0), capacity); err != nil {
			if badCapacity(ctx, err) {
				return usageError{err.Error()}
			}
			return err
		}
		fmt.Fprintf(stdout, "%s: capacity %d from Redis, in force from the next reservation (was %s); consumed %d, held %d\n",
			arg(0), capacity, describe(before), before.Consumed, before.Held)
		return nil
	case "unset":
		before, err := statusOf(ctx, a, arg(0))
		if err != nil {
			return err
		}
		if err := a.UnsetCapacity(ctx, arg(0)); err != nil {
			return err
		}
		if !before.FromRedis {
			fmt.Fprintf(stdout, "%s: had no capacity in Redis; nothing changed (%s)\n", arg(0), describe(before))
			return nil
		}
		fmt.Fprintf(stdout, "%s: capacity %d removed from Redis; the processes' own capacity is in force from the next reservation%s\n",
			arg(0), before.Capacity, defaultNote(before))
		return nil
	case "reset":
		n, err := resetOf(ctx, a, arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: current window started over: consumed %d -> 0; holds in flight still settle\n", arg(0), n)
		return nil
	case "watch":
		return c.watch(ctx, a, arg(0), stdout)
	case "serve":
		return c.serve(ctx, a, rdb, getenv, stdout)
	}
	return usagef("unknown command %q", c.cmd) // parse let no other through
}

// enumerate is "a", "a and b", "a, b and c".
func enumerate(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func describe(s redisbudget.Status) string {
	if s.FromRedis {
		return fmt.Sprintf("%d from Redis%s", s.Capacity, defaultNote(s))
	}
	if s.DefaultCapacity == 0 {
		return "the processes' default, not yet known"
	}
	return fmt.Sprintf("%d, the processes' default", s.Capacity)
}

func defaultNote(s redisbudget.Status) string {
	if s.DefaultCapacity == 0 {
		return ""
	}
	return fmt.Sprintf("; their default is %d", s.DefaultCapacity)
}

// watch prints the list every interval until ctx ends (an interrupt), clearing the
// screen first when stdout is a terminal.
func (c *config) watch(ctx context.Context, a *redisbudget.Family, pattern string, stdout io.Writer) error {
	clear := false
	if f, ok := stdout.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			clear = true
		}
	}
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		if clear {
			fmt.Fprint(stdout, "\x1b[H\x1b[2J")
		}
		fmt.Fprintf(stdout, "spendguard watch %q at %s (Ctrl-C to stop)\n", pattern, time.Now().Format(time.TimeOnly))
		if l, skipped, err := listBudgets(ctx, a, pattern); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintln(stdout, "error:", err) // keep watching: Redis may come back
		} else {
			if err := printList(stdout, l, false); err != nil {
				return err
			}
			if len(skipped) > 0 {
				fmt.Fprintf(stdout, "(%d key(s) under the prefix are not a budget's: spendguard list names them)\n", len(skipped))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// budgetJSON is one budget in -json output.
type budgetJSON struct {
	Name            string  `json:"name"`
	Capacity        uint64  `json:"capacity"`
	CapacitySource  string  `json:"capacity_source"`
	DefaultCapacity uint64  `json:"default_capacity"`
	Consumed        uint64  `json:"consumed"`
	Held            uint64  `json:"held"`
	Remaining       uint64  `json:"remaining"`
	WindowEnd       *string `json:"window_end"`
}

type holdJSON struct {
	Tokens   uint64 `json:"tokens"`
	LeaseEnd string `json:"lease_end"`
}

type showJSON struct {
	budgetJSON
	Holds []holdJSON `json:"holds"`
}

func toJSON(s redisbudget.Status) budgetJSON {
	j := budgetJSON{Name: s.Name, Capacity: s.Capacity, CapacitySource: source(s), DefaultCapacity: s.DefaultCapacity,
		Consumed: s.Consumed, Held: s.Held, Remaining: s.Remaining}
	if !s.WindowEnd.IsZero() {
		e := s.WindowEnd.UTC().Format(time.RFC3339)
		j.WindowEnd = &e
	}
	return j
}

func toShowJSON(s redisbudget.Status) showJSON {
	j := showJSON{budgetJSON: toJSON(s), Holds: []holdJSON{}}
	for _, h := range s.Holds {
		j.Holds = append(j.Holds, holdJSON{Tokens: h.Tokens, LeaseEnd: h.LeaseEnd.UTC().Format(time.RFC3339Nano)})
	}
	return j
}

func source(s redisbudget.Status) string {
	if s.FromRedis {
		return "redis"
	}
	return "default"
}

func windowEnd(s redisbudget.Status) string {
	if s.WindowEnd.IsZero() {
		return "-"
	}
	return s.WindowEnd.UTC().Format(time.RFC3339)
}

func printList(w io.Writer, l []redisbudget.Status, asJSON bool) error {
	if asJSON {
		out := make([]budgetJSON, len(l))
		for i, s := range l {
			out[i] = toJSON(s)
		}
		return json.NewEncoder(w).Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCAPACITY\tSOURCE\tCONSUMED\tHELD\tREMAINING\tWINDOW END")
	for _, s := range l {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\n", s.Name, s.Capacity, source(s), s.Consumed, s.Held, s.Remaining, windowEnd(s))
	}
	return tw.Flush()
}

func printShow(w io.Writer, s redisbudget.Status, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(toShowJSON(s))
	}
	fmt.Fprintf(w, "budget      %s\n", s.Name)
	fmt.Fprintf(w, "capacity    %s\n", describe(s))
	fmt.Fprintf(w, "consumed    %d\n", s.Consumed)
	fmt.Fprintf(w, "held        %d in %d hold(s)\n", s.Held, len(s.Holds))
	fmt.Fprintf(w, "remaining   %d\n", s.Remaining)
	fmt.Fprintf(w, "window end  %s\n", windowEnd(s))
	if s.Lease > 0 {
		fmt.Fprintf(w, "lease       %v\n", s.Lease)
	}
	for _, h := range s.Holds {
		fmt.Fprintf(w, "  hold %d tokens, lease ends %s\n", h.Tokens, h.LeaseEnd.UTC().Format(time.RFC3339))
	}
	return nil
}
