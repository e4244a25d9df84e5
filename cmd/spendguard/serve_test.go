package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/budget/window"
	"github.com/spendguard/spendguard/ratelimit"
	"github.com/spendguard/spendguard/ratelimit/redisrate"
)

// page is a test's view of one serve: its Redis, prefix and HTTP server.
type page struct {
	t      *testing.T
	srv    *server
	http   *httptest.Server
	prefix string
}

func newPage(t *testing.T, prefix, token string) *page {
	rdb, _ := client(t)
	a, err := redisbudget.NewFamily(rdb, 0, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	hs := httptest.NewUnstartedServer(nil)
	s := newServer(a, prefix, token, 1e9, hs.Listener.Addr().(*net.TCPAddr))
	hs.Config.Handler = s
	hs.Start()
	t.Cleanup(hs.Close)
	s.idx.refresh(ctx) // the background loop is serve's; the tests refresh by hand
	return &page{t, s, hs, prefix}
}

func (p *page) get(path string, v any) int {
	p.t.Helper()
	r, err := http.Get(p.http.URL + path)
	require.NoError(p.t, err)
	defer r.Body.Close()
	require.NoError(p.t, json.NewDecoder(r.Body).Decode(v))
	return r.StatusCode
}

func (p *page) post(op, token, body string) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.http.URL+"/api/"+op, strings.NewReader(body))
	require.NoError(p.t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r, err := http.DefaultClient.Do(req)
	require.NoError(p.t, err)
	defer r.Body.Close()
	var out map[string]string
	require.NoError(p.t, json.NewDecoder(r.Body).Decode(&out))
	return r.StatusCode, out["message"] + out["error"]
}

// TestServeShowsWhatListPrints: the page's rows are `spendguard -json list`'s
// objects, paginated and filtered by a Redis glob, sorted by name or by use.
func TestServeShowsWhatListPrints(t *testing.T) {
	rdb, addr := client(t)
	prefix := unique(t)
	f, err := redisbudget.NewFamily(rdb, 1000, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	for i := range 25 {
		b, err := f.Budget(fmt.Sprintf("tenant-%02d", i))
		require.NoError(t, err)
		r, err := b.TryReserve(ctx, 100)
		require.NoError(t, err)
		require.NoError(t, b.Record(ctx, r, uint64(10*i), 0))
	}
	daily, err := redisbudget.New(rdb, "daily:bob", 500, redisbudget.WithKeyPrefix(prefix), redisbudget.WithWindow(window.Daily(nil)))
	require.NoError(t, err)
	_, err = daily.TryReserve(ctx, 40) // a live hold
	require.NoError(t, err)
	p := newPage(t, prefix, "")

	var want []row
	require.NoError(t, json.Unmarshal([]byte(ok(t, addr, prefix, "-json", "list")), &want))
	for i := range want {
		want[i].Kind = "budget"
	}
	var got []row
	for page := 1; ; page++ {
		var bp budgetsPage
		require.Equal(t, http.StatusOK, p.get("/api/budgets?per=10&page="+strconv.Itoa(page), &bp))
		assert.Equal(t, 26, bp.Total)
		assert.Equal(t, 3, bp.Pages)
		assert.Equal(t, page, bp.Page)
		got = append(got, bp.Rows...)
		if page == bp.Pages {
			break
		}
	}
	assert.Equal(t, want, got, "every budget, as -json list prints it")

	var bp budgetsPage
	p.get("/api/budgets?pattern=tenant-1[0-4]", &bp)
	assert.Equal(t, 5, bp.Matched)
	assert.Equal(t, "tenant-10", bp.Rows[0].Name)
	p.get("/api/budgets?sort=used&per=2", &bp)
	assert.Equal(t, []string{"tenant-24", "tenant-23"}, []string{bp.Rows[0].Name, bp.Rows[1].Name}, "240 and 230 of 1000 used")
	p.get("/api/budgets?page=99&per=10", &bp)
	assert.Equal(t, 3, bp.Page, "a page past the last is the last")

	var show showJSON
	require.Equal(t, http.StatusOK, p.get("/api/budget?name=daily:bob", &show))
	require.Len(t, show.Holds, 1)
	assert.Equal(t, uint64(40), show.Holds[0].Tokens)

	for _, c := range []struct{ path, want string }{
		{"/api/budgets?pattern=a{b", "contains '{' or '}'"},
		{"/api/budgets?pattern=[ab", "without its ']'"},
		{"/api/budgets?page=0", `page "0" is not an integer`},
		{"/api/budgets?per=100000", `per "100000" is not an integer from 1 to 500`},
		{"/api/budgets?sort=size", `sort "size" is not name or used`},
		{"/api/budget?name=", "empty budget name"},
		{"/api/budget?name=" + prefix + ":{x}:all:h", "contains '{' or '}'"},
	} {
		var e map[string]string
		assert.Equal(t, http.StatusBadRequest, p.get(c.path, &e), c.path)
		assert.Contains(t, e["error"], c.want, c.path)
	}
	var e map[string]string
	assert.Equal(t, http.StatusNotFound, p.get("/api/budget?name=nobody", &e))
	assert.Contains(t, e["error"], `unknown budget "nobody"`)
}

// TestServeWrites: set, unset and reset need the admin token; without a token the
// server is read-only; bad input is refused with a message and changes nothing.
func TestServeWrites(t *testing.T) {
	rdb, addr := client(t)
	prefix := unique(t)
	b, err := redisbudget.New(rdb, "acme", 1000, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	r, err := b.TryReserve(ctx, 100)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 60, 0))
	before := state(t, rdb, prefix)

	ro := newPage(t, prefix, "")
	var info map[string]any
	ro.get("/api/info", &info)
	assert.Equal(t, false, info["writable"])
	for _, op := range []string{"set", "unset", "reset"} {
		code, msg := ro.post(op, "anything", `{"name":"acme","capacity":"5"}`)
		assert.Equal(t, http.StatusForbidden, code, op)
		assert.Contains(t, msg, "read-only: spendguard serve was started without an admin token")
	}

	p := newPage(t, prefix, "s3cret")
	for _, c := range []struct {
		op, token, body string
		code            int
		want            string
	}{
		{"set", "", `{"name":"acme","capacity":"5"}`, 403, "the admin token is missing or wrong"},
		{"set", "wrong", `{"name":"acme","capacity":"5"}`, 403, "the admin token is missing or wrong"},
		{"set", "s3cret", `{"name":"acme","capacity":"-5"}`, 400, `capacity "-5"`},
		{"set", "s3cret", `{"name":"acme","capacity":"1e3"}`, 400, `capacity "1e3"`},
		{"set", "s3cret", `{"name":"acme","capacity":"9007199254740993"}`, 400, `capacity 9007199254740993 is above 2^53`},
		{"set", "s3cret", `{"name":"acme","capacity":""}`, 400, `capacity ""`},
		{"set", "s3cret", `{"name":"","capacity":"5"}`, 400, "empty budget name"},
		{"set", "s3cret", `{"name":"a{b}","capacity":"5"}`, 400, "contains '{' or '}'"},
		{"set", "s3cret", `{"name":"acme","capacity":5}`, 400, "the body is not a request"},
		{"set", "s3cret", `{"name":"acme","capacity":"5","extra":1}`, 400, `unknown field "extra"`},
		{"set", "s3cret", `not json`, 400, "the body is not a request"},
		{"set", "s3cret", `{"name":"nobody","capacity":"5"}`, 404, `unknown budget "nobody"`},
		{"unset", "s3cret", `{"name":"nobody"}`, 404, `unknown budget "nobody"`},
		{"reset", "s3cret", `{"name":"acme","capacity":"5"}`, 400, "reset takes a name only"},
	} {
		code, msg := p.post(c.op, c.token, c.body)
		assert.Equal(t, c.code, code, "%s %s", c.op, c.body)
		assert.Contains(t, msg, c.want, "%s %s", c.op, c.body)
	}
	req, err := http.NewRequest(http.MethodPost, p.http.URL+"/api/set", strings.NewReader(`{"name":"acme","capacity":"5"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer s3cret") // a form's content type
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	assert.Equal(t, before, state(t, rdb, prefix), "nothing refused changed anything")

	snap, changed := p.srv.idx.current()
	code, msg := p.post("set", "s3cret", `{"name":"acme","capacity":"300"}`)
	require.Equal(t, http.StatusOK, code, msg)
	assert.Contains(t, msg, "acme: capacity 300 from Redis")
	<-changed // the index was patched at once, no refresh needed
	var bp budgetsPage
	p.get("/api/budgets", &bp)
	assert.Greater(t, bp.Gen, snap.Gen)
	assert.Equal(t, uint64(300), bp.Rows[0].Capacity)
	assert.Equal(t, "redis", bp.Rows[0].CapacitySource)
	assert.Equal(t, show(t, addr, prefix, "acme").budgetJSON(), bp.Rows[0].budgetJSON)
	_, err = b.TryReserve(ctx, 241)
	require.ErrorIs(t, err, budget.ErrDenied, "the capacity in force is 300")

	code, msg = p.post("reset", "s3cret", `{"name":"acme"}`)
	require.Equal(t, http.StatusOK, code, msg)
	assert.Contains(t, msg, "consumed 60 -> 0")
	code, msg = p.post("unset", "s3cret", `{"name":"acme"}`)
	require.Equal(t, http.StatusOK, code, msg)
	s := show(t, addr, prefix, "acme")
	assert.Equal(t, "default", s.CapacitySource)
	assert.Zero(t, s.Consumed)
	code, msg = p.post("set", "s3cret", `{"name":"fresh","capacity":"42","new":true}`)
	require.Equal(t, http.StatusOK, code, msg)
	p.get("/api/budgets?pattern=fresh", &bp)
	require.Len(t, bp.Rows, 1)
	assert.Equal(t, uint64(42), bp.Rows[0].Capacity)
}

func (s shown) budgetJSON() budgetJSON {
	return budgetJSON{Name: s.Name, Capacity: s.Capacity, CapacitySource: s.CapacitySource, DefaultCapacity: s.DefaultCapacity,
		Consumed: s.Consumed, Held: s.Held, Remaining: s.Remaining, WindowEnd: s.WindowEnd}
}

// TestServeReadsFromItsIndex: however many requests come, the index made one List
// (one SCAN) per refresh; each event stream sees every change.
func TestServeReadsFromItsIndex(t *testing.T) {
	rdb, _ := client(t)
	prefix := unique(t)
	b, err := redisbudget.New(rdb, "x", 100, redisbudget.WithKeyPrefix(prefix))
	require.NoError(t, err)
	r, err := b.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 10, 0))
	p := newPage(t, prefix, "")

	req, err := http.NewRequestWithContext(deadline(t), http.MethodGet, p.http.URL+"/api/events", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := bufio.NewScanner(resp.Body)
	gen := func() uint64 {
		for events.Scan() {
			if v, ok := strings.CutPrefix(events.Text(), "data: "); ok {
				n, err := strconv.ParseUint(v, 10, 64)
				require.NoError(t, err)
				return n
			}
		}
		t.Fatalf("event stream ended: %v", events.Err())
		return 0
	}
	first := gen()

	for range 200 {
		var bp budgetsPage
		p.get("/api/budgets", &bp)
		require.Equal(t, uint64(10), bp.Rows[0].Consumed)
	}
	assert.Equal(t, 1, p.srv.idx.listCount(), "200 requests, no List")

	r, err = b.TryReserve(ctx, 10)
	require.NoError(t, err)
	require.NoError(t, b.Record(ctx, r, 7, 0))
	p.srv.idx.refresh(ctx)
	assert.Equal(t, first+1, gen(), "the stream tells of the refresh")
	var bp budgetsPage
	p.get("/api/budgets", &bp)
	assert.Equal(t, uint64(17), bp.Rows[0].Consumed)
	assert.Equal(t, 2, p.srv.idx.listCount())
}

// TestServeHostCheck: on loopback only loopback Host names are answered.
func TestServeHostCheck(t *testing.T) {
	p := newPage(t, unique(t), "")
	req, err := http.NewRequest(http.MethodGet, p.http.URL+"/", nil)
	require.NoError(t, err)
	req.Host = "attacker.example:" + strconv.Itoa(p.http.Listener.Addr().(*net.TCPAddr).Port)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)
	resp, err = http.Get(p.http.URL + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "<title>spendguard budgets</title>")
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")
}

// TestServeCommand: `spendguard serve` listens where it is told, serves the page and
// its script, and ends with status 0 on an interrupt.
func TestServeCommand(t *testing.T) {
	_, addr := client(t)
	cmd := exec.CommandContext(deadline(t), binary(t, "spendguard"), "-redis", addr, "-prefix", unique(t), "serve", "-listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	require.True(t, sc.Scan(), stderr.String())
	line := sc.Text()
	assert.Contains(t, line, "(read-only: no admin token)")
	_, url, found := strings.Cut(line, "http://")
	require.True(t, found, line)
	url = "http://" + strings.Fields(url)[0]
	for _, path := range []string{"", "app.js", "style.css"} {
		resp, err := http.Get(url + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	go io.Copy(io.Discard, stdout)
	require.NoError(t, cmd.Wait(), stderr.String())

	res := cli(t, nil, "-redis", addr, "serve", "-listen", "256.0.0.1:1")
	assert.Equal(t, 1, res.code)
	assert.Contains(t, res.stderr, "spendguard: cannot listen on 256.0.0.1:1")
}

// TestServeShowsRateLimits: the page's rate limits are `spendguard -json rates`'s
// objects, listed once per refresh of the index (never per request), and a limit set
// from the CLI shows after the next refresh.
func TestServeShowsRateLimits(t *testing.T) {
	rdb, addr := client(t)
	prefix := unique(t)
	for i, l := range []ratelimit.Limit{
		{Interval: time.Hour, Tokens: 3000},
		{Interval: time.Minute, Input: 20000, Output: 4000, Requests: 50},
	} {
		lim, err := redisrate.New(rdb, fmt.Sprintf("model-%d", i), l, redisrate.WithKeyPrefix(prefix))
		require.NoError(t, err)
		r, err := lim.Reserve(ctx, ratelimit.Cost{Input: 100, Output: 20})
		require.NoError(t, err)
		if i == 1 {
			require.NoError(t, lim.Settle(ctx, r, ratelimit.Cost{}, time.Minute)) // a 429: paused
		}
	}
	p := newPage(t, unique(t), "")
	lists := 0
	p.srv.idx.rates = func(ctx context.Context) ([]redisrate.Status, []string, error) {
		lists++
		return listRates(ctx, rdb, prefix, "")
	}
	p.srv.idx.refresh(ctx)

	cliRates := func() []rateJSON {
		var l []rateJSON
		require.NoError(t, json.Unmarshal([]byte(ok(t, addr, "x", "-rate-prefix", prefix, "-json", "rates")), &l))
		return l
	}
	want := cliRates()
	require.Len(t, want, 2)
	var bp budgetsPage
	for range 100 {
		require.Equal(t, http.StatusOK, p.get("/api/budgets", &bp))
	}
	assert.Equal(t, 1, lists, "100 requests, one List of the rate limits")
	assert.Equal(t, want, bp.Rates, "every rate limit, as -json rates prints it")
	assert.Equal(t, "3000/1h", bp.Rates[0].Limit)
	assert.Equal(t, uint64(120), bp.Rates[0].UsedTokens)
	assert.NotNil(t, bp.Rates[1].PausedUntil)

	ok(t, addr, "x", "-rate-prefix", prefix, "rate", "set", "model-0", "6000/1h")
	p.srv.idx.refresh(ctx)
	p.get("/api/budgets", &bp)
	assert.Equal(t, "6000/1h", bp.Rates[0].Limit)
	assert.Equal(t, "redis", bp.Rates[0].LimitSource)
	assert.Equal(t, cliRates(), bp.Rates)
}
