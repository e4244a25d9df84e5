package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestServePageInChromium drives `spendguard serve`'s page in a real headless
// Chromium: its numbers are `spendguard -json list`'s after runs of the example with
// -redis (and its rate limits `spendguard -json rates`', a limit set from the CLI
// included), it updates without a reload when another run spends, a set with the admin
// token changes the capacity in force and one without it is refused, and bad input
// in its forms gets a message and changes nothing. It writes a screenshot of the page
// to $SPENDGUARD_SCREENSHOT when that is set (docs/serve.png is one).
func TestServePageInChromium(t *testing.T) {
	v := needEnv(t, "a redis-server binary and Chromium", "SPENDGUARD_REDIS_SERVER", "SPENDGUARD_CHROMIUM")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	addr := startRedis(ctx, t, v[0]) // of its own: the page shows every budget in it
	bins := buildRoot(t, "./cmd/spendguard", "./examples/agent")
	sg, agent := bins[0], bins[1]

	cli := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, sg, append([]string{"-redis", addr}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("spendguard %q: %v: %s", args, err, stderr.String())
		}
		return out
	}
	list := func() []pageRow {
		t.Helper()
		var l []struct {
			Name           string  `json:"name"`
			Capacity       uint64  `json:"capacity"`
			CapacitySource string  `json:"capacity_source"`
			Consumed       uint64  `json:"consumed"`
			Held           uint64  `json:"held"`
			Remaining      uint64  `json:"remaining"`
			WindowEnd      *string `json:"window_end"`
		}
		if err := json.Unmarshal(cli("-json", "list"), &l); err != nil {
			t.Fatal(err)
		}
		rows := make([]pageRow, len(l))
		for i, b := range l {
			end := "-"
			if b.WindowEnd != nil {
				end = *b.WindowEnd
			}
			rows[i] = pageRow{b.Name, b.Capacity, b.CapacitySource, b.Consumed, b.Held, b.Remaining, end}
		}
		return rows
	}
	type report struct {
		Capacity uint64 `json:"capacity"`
		Consumed uint64 `json:"consumed"`
		Sent     int    `json:"sent"`
	}
	run := func(args ...string) report {
		t.Helper()
		cmd := exec.CommandContext(ctx, agent, append([]string{"-json", "-redis", addr}, args...)...)
		cmd.Env = cleanEnv()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("agent %q: %v: %s", args, err, stderr.String())
		}
		var r report
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("agent -json: %v\n%s", err, out)
		}
		return r
	}
	first := run() // budget "agent", until its budget denies a call
	run("-budget-name", "tenant-acme", "-budget", "20000", "-scenario", "stuck")
	run("-budget-name", "tenant-bob", "-budget", "9000", "-window", "1h", "-scenario", "stuck")

	const token = "e2e-admin-token"
	url := startServe(ctx, t, sg, addr, token)
	browser := startChromium(ctx, t, v[1])

	// The page shows what the CLI lists.
	do(t, browser,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`#budgets tbody tr[data-name="tenant-bob"]`)),
		js(`window.notReloaded = true`),
	)
	rows := readRows(t, browser)
	if want := list(); !reflect.DeepEqual(rows, want) {
		t.Fatalf("the page shows\n%+v\nspendguard -json list prints\n%+v", rows, want)
	}
	if rows[0].Name != "agent" || rows[0].Consumed != first.Consumed || len(rows) != 3 {
		t.Fatalf("rows %+v; want agent first with the %d tokens its run consumed, and 3 budgets", rows, first.Consumed)
	}

	// Another run spends: the page follows without a reload.
	before := rowNamed(rows, "tenant-acme").Consumed
	run("-budget-name", "tenant-acme", "-budget", "20000", "-scenario", "stuck")
	// The run is over: the page follows until it shows what the CLI lists (a refresh
	// taken while the run was spending shows a count between the two).
	after := rowNamed(list(), "tenant-acme")
	if after.Consumed <= before {
		t.Fatalf("the run spent nothing: %+v", after)
	}
	waitRow(ctx, t, browser, "tenant-acme", func(r pageRow) bool { return r == after })
	rows = readRows(t, browser)
	if want := list(); !reflect.DeepEqual(rows, want) {
		t.Fatalf("after another run the page shows\n%+v\nspendguard -json list prints\n%+v", rows, want)
	}
	if notReloaded, err := chromedp.Run(browser, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !notReloaded {
		t.Fatalf("the page was reloaded (%v)", err)
	}

	// Bad input in the forms: a message, and nothing changes.
	state := cli("-json", "list")
	for _, c := range []struct{ token, name, capacity, want string }{
		{token, "agent", "12abc", `capacity "12abc" is not an integer`},
		{token, "agent", "-5", `capacity "-5" is not an integer`},
		{token, "", "100", "empty budget name"},
		{token, "a{b}", "100", "contains '{' or '}'"},
		{token, "nobody", "100", `unknown budget "nobody"`},
		{"", "agent", "100", "the admin token is missing or wrong"},
		{"not-the-token", "agent", "100", "the admin token is missing or wrong"},
	} {
		msg := submit(ctx, t, browser, c.token, c.name, c.capacity, "#set")
		if !strings.HasPrefix(msg, "Refused, nothing changed: ") || !strings.Contains(msg, c.want) {
			t.Errorf("set %q %q with token %q: the page says %q; want a refusal saying %q", c.name, c.capacity, c.token, msg, c.want)
		}
	}
	do(t, browser,
		setValue("#pattern", "tenant-[ab"),
		click(`#filter button[type="submit"]`),
	)
	filterMsg, err := chromedp.Run(browser, chromedp.Poll[string](`document.getElementById("filter-msg").textContent`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	rows = readRows(t, browser)
	if !strings.Contains(filterMsg, "without its ']'") || len(rows) != 3 {
		t.Errorf("a bad pattern: the page says %q and shows %d rows; want the reason and the 3 rows as they were", filterMsg, len(rows))
	}
	if after := cli("-json", "list"); !bytes.Equal(state, after) {
		t.Fatalf("refused input changed the budgets:\n%s\n%s", state, after)
	}

	// A set with the token changes the capacity in force.
	msg := submit(ctx, t, browser, token, "agent", "9000", "#set")
	if !strings.Contains(msg, "agent: capacity 9000 from Redis") {
		t.Fatalf("set agent 9000: the page says %q", msg)
	}
	waitRow(ctx, t, browser, "agent", func(r pageRow) bool { return r.Capacity == 9000 && r.Source == "redis" })
	if r := run(); r.Capacity != 9000 || r.Sent == 0 {
		t.Fatalf("the next run reports capacity %d and sends %d call(s); want 9000, in force, and calls sent", r.Capacity, r.Sent)
	}

	// The filter, and one budget's live holds.
	do(t, browser,
		setValue("#pattern", "tenant-*"),
		click(`#filter button[type="submit"]`),
		poll(`document.querySelectorAll("#budgets tbody tr[data-name]").length === 2`),
		click(`#budgets tr[data-name="tenant-acme"] td.name button`),
		chromedp.WaitVisible(chromedp.CSS(`#detail`)),
		poll(`document.getElementById("detail-fields").textContent.includes("consumed")`),
		setValue("#pattern", ""),
		click(`#filter button[type="submit"]`),
		poll(`document.querySelectorAll("#budgets tbody tr[data-name]").length === 3`),
		setValue("#token", ""),
	)
	// The rate limits: a run with -rate shows its limit as `spendguard -json rates`
	// prints it, and a limit set from the CLI shows after the next refresh.
	run("-budget-name", "tenant-acme", "-budget", "20000", "-scenario", "stuck", "-rate", "100000/1m")
	rates := func() []pageRate {
		t.Helper()
		var l []struct {
			Name         string  `json:"name"`
			Limit        string  `json:"limit"`
			LimitSource  string  `json:"limit_source"`
			UsedTokens   uint64  `json:"used_tokens"`
			Tokens       uint64  `json:"tokens"`
			InFlight     int     `json:"in_flight"`
			WaitingUntil *string `json:"waiting_until"`
			PausedUntil  *string `json:"paused_until"`
		}
		if err := json.Unmarshal(cli("-json", "rates"), &l); err != nil {
			t.Fatal(err)
		}
		out := make([]pageRate, len(l))
		for i, r := range l {
			limit, per, _ := strings.Cut(r.Limit, "/")
			out[i] = pageRate{Name: r.Name, Limit: limit, Interval: per, Source: r.LimitSource,
				Tokens: fmt.Sprintf("%d of %d", r.UsedTokens, r.Tokens), InFlight: r.InFlight, Waiting: "-", Paused: "-"}
			if r.WaitingUntil != nil {
				out[i].Waiting = *r.WaitingUntil
			}
			if r.PausedUntil != nil {
				out[i].Paused = *r.PausedUntil
			}
		}
		return out
	}
	want := rates()
	if len(want) != 1 || want[0].Limit != "100000" || want[0].Interval != "1m" {
		t.Fatalf("spendguard -json rates after a -rate run: %+v; want its one limit, 100000/1m", want)
	}
	name, _ := json.Marshal(want[0].Name)
	do(t, browser, poll(`document.querySelector("#rates tbody tr[data-name=" + JSON.stringify(`+string(name)+`) + "]") !== null`))
	if got := readRates(t, browser); !reflect.DeepEqual(got, want) {
		t.Fatalf("the page's rate limits\n%+v\nspendguard -json rates prints\n%+v", got, want)
	}
	cli("rate", "set", want[0].Name, "50000/1m")
	do(t, browser, poll(`(() => { const r = document.querySelector("#rates tbody tr[data-name=" + JSON.stringify(`+string(name)+`) + "]");
		return r && r.querySelector("td.limit").textContent === "50000" && r.querySelector("td.source").textContent.startsWith("redis"); })()`))
	if got, want := readRates(t, browser), rates(); !reflect.DeepEqual(got, want) || want[0].Source != "redis" {
		t.Fatalf("after rate set the page shows\n%+v\nspendguard -json rates prints\n%+v", got, want)
	}

	if path := os.Getenv("SPENDGUARD_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Started without a token the page is read-only, and the server refuses writes.
	roURL := startServe(ctx, t, sg, addr, "")
	type readOnlyPage struct {
		Banner   bool `json:"banner"`
		Disabled bool `json:"disabled"`
		Status   int  `json:"status"`
	}
	do(t, browser, chromedp.Navigate(roURL), chromedp.WaitVisible(chromedp.CSS(`#budgets tbody tr[data-name="agent"]`)))
	readOnly, err := chromedp.Run(browser, chromedp.Evaluate[readOnlyPage](`(async () => {
			const r = await fetch("/api/set", {method: "POST", headers: {"Content-Type": "application/json",
				"Authorization": "Bearer `+token+`"}, body: JSON.stringify({name: "agent", capacity: "5"})});
			return {banner: !document.getElementById("readonly").hidden,
				disabled: document.getElementById("set").disabled, status: r.status};
		})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !readOnly.Banner || !readOnly.Disabled || readOnly.Status != 403 {
		t.Fatalf("read-only page: %+v; want the banner, the buttons disabled and 403", readOnly)
	}
	if got := rowNamed(list(), "agent").Capacity; got != 9000 {
		t.Fatalf("capacity %d after a refused write; want 9000", got)
	}
}

// pageRate is one rate limit as the page's table shows it.
type pageRate struct {
	Name     string `json:"name"`
	Limit    string `json:"limit"`    // the counts, as rate set takes them, without the interval
	Interval string `json:"interval"` // 5s, 1m
	Source   string `json:"source"`   // redis, default or unknown
	Tokens   string `json:"tokens"`   // "USED of LIMIT"
	InFlight int    `json:"in_flight"`
	Waiting  string `json:"waiting"` // RFC 3339, or "-"
	Paused   string `json:"paused"`
}

// readRates reads the page's rate limit table as it displays it.
func readRates(t *testing.T, browser context.Context) []pageRate {
	t.Helper()
	rows, err := chromedp.Run(browser, chromedp.Evaluate[[]pageRate](`[...document.querySelectorAll("#rates tbody tr[data-name]")].map((tr) => {
		const cell = (c) => tr.querySelector("td." + c).textContent.trim();
		return {name: tr.dataset.name, limit: cell("limit"), interval: cell("interval"), source: cell("source").split(" ")[0],
			tokens: cell("used_tokens"), in_flight: Number(cell("in_flight")), waiting: cell("waiting_until"), paused: cell("paused_until")};
	})`))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// pageRow is one budget as the page's table shows it.
type pageRow struct {
	Name      string `json:"name"`
	Capacity  uint64 `json:"capacity"`
	Source    string `json:"source"` // "redis" or "default"
	Consumed  uint64 `json:"consumed"`
	Held      uint64 `json:"held"`
	Remaining uint64 `json:"remaining"`
	WindowEnd string `json:"window_end"` // "-" for none
}

// readRows reads the page's table as it displays it.
func readRows(t *testing.T, browser context.Context) []pageRow {
	t.Helper()
	rows, err := chromedp.Run(browser, chromedp.Evaluate[[]pageRow](rowsJS))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// do runs steps in the browser's tab; an error fails the test.
func do(t *testing.T, browser context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(browser, steps...); err != nil {
		t.Fatal(err)
	}
}

// js evaluates a script whose value does not matter.
func js(script string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](script)(ctx, t)
		return chromedp.Void{}, err
	}
}

// poll waits until a script is truthy: a wait on the page's DOM, up to 10 s.
func poll(script string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[any](script, chromedp.WithPollingTimeout(10*time.Second))(ctx, t)
		return chromedp.Void{}, err
	}
}

// click clicks the element sel selects once it is there, in one script: the page
// rebuilds its table when the numbers change, so a node looked up in one step can be
// gone by the next (chromedp.Click's query and click are two).
func click(sel string) chromedp.Action[chromedp.Void] {
	arg, _ := json.Marshal(sel)
	return poll(`(() => { const e = document.querySelector(` + string(arg) + `); if (e) e.click(); return !!e; })()`)
}

// setValue sets the value of the input selected by sel.
func setValue(sel, value string) chromedp.Action[chromedp.Void] {
	args, _ := json.Marshal([]string{sel, value})
	return js(`(([sel, v]) => { document.querySelector(sel).value = v; })(` + string(args) + `)`)
}

// rowsJS is the page's table as []pageRow, read from what it displays.
const rowsJS = `[...document.querySelectorAll("#budgets tbody tr[data-name]")].map((tr) => {
	const cell = (c) => tr.querySelector("td." + c).textContent.trim();
	return {name: tr.dataset.name, capacity: Number(cell("capacity")), source: cell("source").split(" ")[0],
		consumed: Number(cell("consumed")), held: Number(cell("held")), remaining: Number(cell("remaining")),
		window_end: cell("window_end")};
})`

func rowNamed(rows []pageRow, name string) pageRow {
	for _, r := range rows {
		if r.Name == name {
			return r
		}
	}
	return pageRow{}
}

// waitRow waits until the page shows budget name in a row ok accepts.
func waitRow(ctx context.Context, t *testing.T, browser context.Context, name string, ok func(pageRow) bool) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		// Each wait is on the page's next change: a poll of its DOM, not a sleep.
		last := readRows(t, browser)
		state, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.getElementById("state").textContent`))
		if err != nil {
			t.Fatal(err)
		}
		if ok(rowNamed(last, name)) {
			return
		}
		_, err = chromedp.Run(browser, chromedp.Poll[bool](fmt.Sprintf(`document.getElementById("state").textContent !== %s`,
			strconv.Quote(state)), chromedp.WithPollingTimeout(time.Until(deadlineOf(wctx)))))
		if err != nil || wctx.Err() != nil {
			t.Fatalf("the page never showed the change of %q: %+v (%v)", name, rowNamed(last, name), err)
		}
	}
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// submit fills the change form and presses button; it returns the message the page
// shows for the answer.
func submit(ctx context.Context, t *testing.T, browser context.Context, token, name, capacity, button string) string {
	t.Helper()
	do(t, browser,
		js(`document.getElementById("change-msg").textContent = ""; document.getElementById("change-msg").className = ""`),
		setValue("#token", token),
		setValue("#name", name),
		setValue("#capacity", capacity),
		click(button),
	)
	msg, err := chromedp.Run(browser, chromedp.Poll[string](`(() => { const m = document.getElementById("change-msg");
			return m.className !== "" && m.textContent; })()`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// startRedis starts a redis-server of the test's own on a free loopback port.
func startRedis(ctx context.Context, t *testing.T, server string) string {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond) // the server's start, which tells nothing when it is ready
	}
	t.Fatalf("redis-server on %s did not start", addr)
	return ""
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// buildRoot builds packages of the root module (its own dependency versions).
func buildRoot(t *testing.T, pkgs ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var bins []string
	for _, p := range pkgs {
		bin := filepath.Join(dir, filepath.Base(p))
		cmd := exec.Command("go", "build", "-o", bin, p)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", p, err, out)
		}
		bins = append(bins, bin)
	}
	return bins
}

// startServe starts `spendguard serve` on a free loopback port, with the admin token
// in its environment (none when empty), and returns the page's URL.
func startServe(ctx context.Context, t *testing.T, sg, addr, token string) string {
	t.Helper()
	// Not ended by ctx: the cleanup interrupts it, and it must end with status 0.
	cmd := exec.Command(sg, "-redis", addr, "serve", "-listen", "127.0.0.1:0", "-interval", "200ms")
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(cleanEnv(), "SPENDGUARD_ADMIN_TOKEN="+token)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil {
			t.Errorf("spendguard serve ended with %v: %s", err, stderr.String())
		}
	})
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("spendguard serve printed nothing: %s", stderr.String())
	}
	_, rest, ok := strings.Cut(sc.Text(), "http://")
	if !ok {
		t.Fatalf("spendguard serve: %q", sc.Text())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return "http://" + strings.Fields(rest)[0]
}

// startChromium starts the Chromium at path, headless, with a fresh profile, and
// returns a tab's context.
func startChromium(ctx context.Context, t *testing.T, path string) context.Context {
	t.Helper()
	actx, cancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return bctx
}
