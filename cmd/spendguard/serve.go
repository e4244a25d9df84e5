package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/ratelimit/redisrate"
)

// serve's page: every budget under the prefix, paginated and filtered by a Redis glob
// over names, and every rate limit under the rate prefix (read-only), live (Server-Sent Events tell the page when the index changed), one
// budget's live holds, and set, unset and reset for whoever gives the admin token.
//
// The rules:
//   - It listens on -listen, 127.0.0.1:8080 unless told otherwise, and on a loopback
//     address it answers only requests whose Host is a loopback name (no DNS
//     rebinding).
//   - Writes need the admin token given at start (-token, else
//     $SPENDGUARD_ADMIN_TOKEN), sent by the page as "Authorization: Bearer TOKEN".
//     Started without one, the page is read-only and every write is refused with 403;
//     a wrong or missing token is refused with 403 too. Bad input (a capacity that is
//     not an integer in [0, 2^53], a bad name, an unknown budget) is refused with 400
//     or 404 and a message, and changes nothing.
//   - It shows budget names and numbers only: no prompts (Redis holds none), no
//     tokens, no Redis keys or address.
//   - Reads come from the index (index.go): one SCAN of the budgets and one of the
//     rate limits per refresh, whatever the number of pages open; a budget's holds are read (Family.Status, which scans for the
//     budget's keys) at most once per -interval while a page shows them.
//
// The JSON API the page uses (all GET unless said):
//
//	/api/info                          {"writable", "prefix", "interval_ms"}
//	/api/budgets?pattern=&sort=&page=&per=
//	                                   one page of rows (a row is a `-json list` object
//	                                   with "kind"), every rate limit ("rates", each a
//	                                   `-json rates` object) and the index's state
//	/api/budget?name=                  a `-json show` object, holds included
//	/api/events                        text/event-stream: "gen" events, the index's
//	                                   generation, whenever it changes
//	POST /api/set {"name", "capacity", "new"}, /api/unset {"name"}, /api/reset {"name"}

//go:embed static
var static embed.FS

const maxPerPage = 500

type server struct {
	admin    *redisbudget.Family
	idx      *index
	prefix   string
	interval time.Duration
	token    [sha256.Size]byte // of the admin token
	writable bool
	hosts    map[string]bool // the Host values allowed; nil: any

	holdsMu sync.Mutex
	holds   map[string]holdsEntry
}

type holdsEntry struct {
	at  time.Time
	out showJSON
}

// serve runs the page until ctx ends (an interrupt).
func (c *config) serve(ctx context.Context, a *redisbudget.Family, rdb redis.UniversalClient, getenv func(string) string, stdout io.Writer) error {
	token := c.token
	if token == "" {
		token = getenv("SPENDGUARD_ADMIN_TOKEN")
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %v", c.listen, err)
	}
	s := newServer(a, c.prefix, token, c.interval, ln.Addr().(*net.TCPAddr))
	s.idx.rates = func(ctx context.Context) ([]redisrate.Status, []string, error) {
		return listRates(ctx, rdb, c.ratePrefix, "")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); s.idx.run(ctx) }()
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	mode := "read-only: no admin token"
	if s.writable {
		mode = "set, unset and reset with the admin token"
	}
	fmt.Fprintf(stdout, "spendguard: serving the budgets on http://%s/ (%s)\n", ln.Addr(), mode)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(sctx) // the event streams end with ctx
		scancel()
		<-errc
	}
	cancel()
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func newServer(a *redisbudget.Family, prefix, token string, interval time.Duration, addr *net.TCPAddr) *server {
	s := &server{admin: a, prefix: prefix, interval: interval, writable: token != "",
		token: sha256.Sum256([]byte(token)), holds: map[string]holdsEntry{}}
	s.idx = newIndex(func(ctx context.Context) ([]redisbudget.Status, []string, error) {
		return listBudgets(ctx, a, "")
	}, func(ctx context.Context, name string) (redisbudget.Status, error) { return statusOf(ctx, a, name) }, interval)
	if addr != nil && addr.IP.IsLoopback() {
		p := strconv.Itoa(addr.Port)
		s.hosts = map[string]bool{}
		for _, h := range []string{"127.0.0.1", "localhost", "[::1]", addr.IP.String()} {
			s.hosts[h+":"+p] = true
		}
	}
	return s
}

// ServeHTTP routes a request, after the Host check.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if s.hosts != nil && !s.hosts[r.Host] {
		s.fail(w, http.StatusMisdirectedRequest, "this server answers only requests to a loopback address, not to Host %q", r.Host)
		return
	}
	switch path := r.URL.Path; {
	case path == "/" || path == "/index.html":
		s.file(w, r, "static/index.html", "text/html; charset=utf-8")
	case path == "/app.js":
		s.file(w, r, "static/app.js", "text/javascript; charset=utf-8")
	case path == "/style.css":
		s.file(w, r, "static/style.css", "text/css; charset=utf-8")
	case path == "/api/info":
		s.get(w, r, s.info)
	case path == "/api/budgets":
		s.get(w, r, s.budgets)
	case path == "/api/budget":
		s.get(w, r, s.budget)
	case path == "/api/events":
		if r.Method != http.MethodGet {
			s.fail(w, http.StatusMethodNotAllowed, "%s wants GET", path)
			return
		}
		s.events(w, r)
	case path == "/api/set" || path == "/api/unset" || path == "/api/reset":
		s.write(w, r, strings.TrimPrefix(path, "/api/"))
	default:
		s.fail(w, http.StatusNotFound, "no page %q", path)
	}
}

func (s *server) file(w http.ResponseWriter, r *http.Request, name, ctype string) {
	b, err := fs.ReadFile(static, name)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// httpError is a refusal with its status.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func bad(code int, format string, args ...any) error {
	return &httpError{code, fmt.Sprintf(format, args...)}
}

func (s *server) get(w http.ResponseWriter, r *http.Request, f func(*http.Request) (any, error)) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.fail(w, http.StatusMethodNotAllowed, "%s wants GET", r.URL.Path)
		return
	}
	v, err := f(r)
	if err != nil {
		s.error(w, err)
		return
	}
	s.json(w, http.StatusOK, v)
}

func (s *server) error(w http.ResponseWriter, err error) {
	var h *httpError
	switch {
	case errors.As(err, &h):
		s.fail(w, h.code, "%s", h.msg)
	case errors.Is(err, errUnknownBudget):
		s.fail(w, http.StatusNotFound, "%s", oneLine(err))
	case errors.Is(err, redisbudget.ErrNotBudget):
		s.fail(w, http.StatusConflict, "%s", oneLine(err))
	default:
		s.fail(w, http.StatusBadGateway, "%s", oneLine(err))
	}
}

func (s *server) fail(w http.ResponseWriter, code int, format string, args ...any) {
	s.json(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func (s *server) json(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// oneLine is err's message as the CLI prints it.
func oneLine(err error) string {
	return strings.TrimPrefix(strings.ReplaceAll(err.Error(), "\n", " "), "redisbudget: ")
}

func (s *server) info(*http.Request) (any, error) {
	return map[string]any{"writable": s.writable, "prefix": s.prefix, "interval_ms": s.interval.Milliseconds()}, nil
}

// budgetsPage is the answer of /api/budgets.
type budgetsPage struct {
	Gen         uint64  `json:"gen"`
	RefreshedAt *string `json:"refreshed_at"` // null before the first refresh
	TookMS      int64   `json:"took_ms"`
	Error       string  `json:"error,omitempty"`
	Skipped     int     `json:"skipped"` // keys under the prefix that are not a budget's
	Total       int     `json:"total"`   // budgets in the index
	Matched     int     `json:"matched"` // of them, those the pattern matches
	Page        int     `json:"page"`
	Pages       int     `json:"pages"`
	Per         int     `json:"per"`
	Rows        []row   `json:"rows"`
	// Every rate limit (not paginated nor filtered: a fleet has a few), as `spendguard
	// -json rates` prints them; the last refresh's failure to list them, and the
	// limits whose keys could not be read.
	Rates        []rateJSON `json:"rates"`
	RatesError   string     `json:"rates_error,omitempty"`
	RatesSkipped int        `json:"rates_skipped"`
}

func (s *server) budgets(r *http.Request) (any, error) {
	q := r.URL.Query()
	pattern := q.Get("pattern")
	if err := checkGlob(pattern); err != nil {
		return nil, bad(http.StatusBadRequest, "%v", err)
	}
	page, err := intParam(q.Get("page"), "page", 1, 1, 1<<30)
	if err != nil {
		return nil, err
	}
	per, err := intParam(q.Get("per"), "per", 50, 1, maxPerPage)
	if err != nil {
		return nil, err
	}
	order := q.Get("sort")
	if order != "" && order != "name" && order != "used" {
		return nil, bad(http.StatusBadRequest, "sort %q is not name or used", order)
	}
	snap, _ := s.idx.current()
	out := budgetsPage{Gen: snap.Gen, TookMS: snap.Took.Milliseconds(), Error: snap.Err,
		Skipped: len(snap.Skipped), Total: len(snap.Rows), Per: per, Rows: []row{},
		Rates: snap.Rates, RatesError: snap.RatesErr, RatesSkipped: len(snap.RatesSkip)}
	if out.Rates == nil {
		out.Rates = []rateJSON{}
	}
	if !snap.RefreshedAt.IsZero() {
		t := snap.RefreshedAt.UTC().Format(time.RFC3339)
		out.RefreshedAt = &t
	}
	var matched []int
	for i := range snap.Rows {
		j := i
		if order == "used" {
			j = snap.byUse[i]
		}
		if pattern == "" || globMatch(pattern, snap.Rows[j].Name) {
			matched = append(matched, j)
		}
	}
	out.Matched = len(matched)
	out.Pages = max(1, (len(matched)+per-1)/per)
	out.Page = min(page, out.Pages)
	for _, j := range matched[min((out.Page-1)*per, len(matched)):min(out.Page*per, len(matched))] {
		out.Rows = append(out.Rows, snap.Rows[j])
	}
	return out, nil
}

func intParam(v, name string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, bad(http.StatusBadRequest, "%s %q is not an integer from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// checkBudgetName refuses what cannot be a budget's name, with the CLI's messages.
func checkBudgetName(name string) error {
	switch {
	case name == "":
		return bad(http.StatusBadRequest, "empty budget name")
	case len(name) > 1024:
		return bad(http.StatusBadRequest, "budget name of %d bytes: longer than 1024", len(name))
	case !utf8.ValidString(name):
		return bad(http.StatusBadRequest, "budget name %q is not valid UTF-8", name)
	case strings.ContainsAny(name, "{}"):
		return bad(http.StatusBadRequest, "budget name %q contains '{' or '}': give the name between the braces of its keys, not a Redis key", name)
	}
	return nil
}

// budget is one budget with its holds, read at most once per interval.
func (s *server) budget(r *http.Request) (any, error) {
	name := r.URL.Query().Get("name")
	if err := checkBudgetName(name); err != nil {
		return nil, err
	}
	now := time.Now()
	s.holdsMu.Lock()
	e, ok := s.holds[name]
	s.holdsMu.Unlock()
	if ok && now.Sub(e.at) < s.interval {
		return e.out, nil
	}
	st, err := statusOf(r.Context(), s.admin, name)
	if err != nil {
		return nil, err
	}
	out := toShowJSON(st)
	s.holdsMu.Lock()
	defer s.holdsMu.Unlock()
	for n, e := range s.holds { // forget the budgets no page looks at any more
		if now.Sub(e.at) > time.Minute {
			delete(s.holds, n)
		}
	}
	s.holds[name] = holdsEntry{at: now, out: out}
	return out, nil
}

// events streams the index's generation: once at once, then at every change.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		s.fail(w, http.StatusInternalServerError, "no streaming")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		snap, changed := s.idx.current()
		if _, err := fmt.Fprintf(w, "event: gen\ndata: %d\n\n", snap.Gen); err != nil {
			return
		}
		fl.Flush()
	wait:
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-keepalive.C:
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil {
				return
			}
			fl.Flush()
			goto wait
		}
	}
}

// writeRequest is the body of a POST to /api/set, /api/unset or /api/reset.
type writeRequest struct {
	Name     string `json:"name"`
	Capacity string `json:"capacity"` // set: a decimal integer in [0, 2^53], as on the command line
	New      bool   `json:"new"`      // set: the budget need not exist yet
}

func (s *server) write(w http.ResponseWriter, r *http.Request, op string) {
	if r.Method != http.MethodPost {
		s.fail(w, http.StatusMethodNotAllowed, "/api/%s wants POST", op)
		return
	}
	if !s.writable {
		s.fail(w, http.StatusForbidden, "read-only: spendguard serve was started without an admin token (-token or SPENDGUARD_ADMIN_TOKEN)")
		return
	}
	given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if sum := sha256.Sum256([]byte(given)); !ok || subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 {
		s.fail(w, http.StatusForbidden, "refused: the admin token is missing or wrong")
		return
	}
	msg, err := s.change(r, op)
	if err != nil {
		s.error(w, err)
		return
	}
	s.json(w, http.StatusOK, map[string]string{"message": msg})
}

// change validates a write and makes it; nothing changes unless it returns no error.
func (s *server) change(r *http.Request, op string) (string, error) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return "", bad(http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type application/json), not %q", ct)
	}
	var req writeRequest
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return "", bad(http.StatusBadRequest, "the body is not a request: %v", err)
	}
	if err := checkBudgetName(req.Name); err != nil {
		return "", err
	}
	ctx := r.Context()
	var capacity uint64
	switch op {
	case "set":
		n, err := parseCapacity(strings.TrimSpace(req.Capacity))
		if err != nil {
			return "", bad(http.StatusBadRequest, "%v", err)
		}
		capacity = n
	default:
		if req.Capacity != "" || req.New {
			return "", bad(http.StatusBadRequest, "%s takes a name only", op)
		}
	}
	before, err := statusOf(ctx, s.admin, req.Name)
	if errors.Is(err, errUnknownBudget) && op == "set" && req.New {
		err = nil
	}
	if err != nil {
		if errors.Is(err, errUnknownBudget) && op == "set" {
			return "", bad(http.StatusNotFound, "%s (tick \"new\" to give a budget no process has used yet its capacity)", oneLine(err))
		}
		return "", err
	}
	var msg string
	switch op {
	case "set":
		if err := s.admin.SetCapacity(ctx, req.Name, capacity); err != nil {
			if badCapacity(ctx, err) {
				return "", bad(http.StatusBadRequest, "%s", oneLine(err))
			}
			return "", err
		}
		msg = fmt.Sprintf("%s: capacity %d from Redis, in force from the next reservation (was %s)", req.Name, capacity, describe(before))
	case "unset":
		if err := s.admin.UnsetCapacity(ctx, req.Name); err != nil {
			return "", err
		}
		msg = fmt.Sprintf("%s: had no capacity in Redis; nothing changed", req.Name)
		if before.FromRedis {
			msg = fmt.Sprintf("%s: capacity %d removed from Redis; the processes' own capacity is in force again", req.Name, before.Capacity)
		}
	case "reset":
		n, err := resetOf(ctx, s.admin, req.Name)
		if err != nil {
			return "", err
		}
		msg = fmt.Sprintf("%s: current window started over: consumed %d -> 0; holds in flight still settle", req.Name, n)
	}
	s.holdsMu.Lock()
	delete(s.holds, req.Name)
	s.holdsMu.Unlock()
	if err := s.idx.update(ctx, req.Name); err != nil {
		msg += " (the page shows it after the next refresh: " + oneLine(err) + ")"
	}
	return msg, nil
}
