package redisbudget

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// capSuffix ends the key of a budget's capacity override: prefix:{name}:cap.
const capSuffix = "cap"

// winKeys are the keys of one window (or of the whole life of an unwindowed budget).
type winKeys struct {
	tag   string    // "all", or the window's start in RFC 3339
	start time.Time // zero when unwindowed
	end   time.Time // zero when unwindowed
	endMs any       // end in Unix ms, 0 when unwindowed: the hash's e, for operators
	keys  []string  // hash, lease set, reclaimed set, capacity override; read-only
	arr   [4]string // keys' backing array
}

// checkName returns why name cannot name a budget, or nil: the one rule of New,
// Family.Budget and Family's operations.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("redisbudget: empty budget name")
	case strings.ContainsAny(name, "{}"):
		return fmt.Errorf("redisbudget: budget name %q contains '{' or '}', which would break its Redis Cluster hash tag", name)
	case !utf8.ValidString(name):
		// Redis keys are bytes, but names travel as text: on spans and metrics, in
		// JSON, in a terminal, each of which would rewrite the invalid bytes and name
		// another budget.
		return fmt.Errorf("redisbudget: budget name %q is not valid UTF-8", name)
	}
	return nil
}

// base is the start of name's keys up to its hash tag's closing brace (excluded).
func base(prefix, name string) string {
	if prefix == "" {
		return "{" + name
	}
	return prefix + ":{" + name
}

// fill sets w to the keys of window tag. The four keys are slices of one string, so
// that they cost one allocation; while b.base is unset (the budget being built) it is
// written from the prefix and name, and b.base becomes a slice of the same string.
func (b *Budget) fill(w *winKeys, tag string, start, end time.Time) {
	*w = winKeys{tag: tag, start: start, end: end, endMs: int64(0)}
	if !end.IsZero() {
		w.endMs = end.UnixMilli()
	}
	n := len(b.base)
	if n == 0 {
		n = len(b.name) + 2
		if b.prefix != "" {
			n += len(b.prefix) + 1
		}
	}
	p := n + 1 + len(tag) + 2 // base:tag:h
	var sb strings.Builder
	sb.Grow(3*p + n + 1 + len(capSuffix))
	for _, s := range [...]string{":h", ":z", ":r"} {
		if b.base != "" {
			sb.WriteString(b.base)
		} else {
			if b.prefix != "" {
				sb.WriteString(b.prefix)
				sb.WriteByte(':')
			}
			sb.WriteByte('{')
			sb.WriteString(b.name)
			sb.WriteByte('}')
		}
		sb.WriteByte(':')
		sb.WriteString(tag)
		sb.WriteString(s)
	}
	all := sb.String()
	if b.base == "" {
		b.base = all[:n]
	}
	sb.WriteString(b.base)
	sb.WriteString(":" + capSuffix)
	all = sb.String() // the same bytes, grown in place: Grow reserved them
	for i := range 3 {
		w.arr[i] = all[i*p : (i+1)*p]
	}
	w.arr[3] = all[3*p:]
	w.keys = w.arr[:]
}

// bounds returns the tag and bounds of the window holding t.
func (b *Budget) bounds(t time.Time) (string, time.Time, time.Time) {
	start, end := b.window.Bounds(t)
	if !end.After(t) { // a broken Window; never loop on it
		end = t.Add(time.Nanosecond)
	}
	return start.UTC().Format(time.RFC3339Nano), start, end
}

// windowAt builds the keys of the window holding t.
func (b *Budget) windowAt(t time.Time) *winKeys {
	w := new(winKeys)
	tag, start, end := b.bounds(t)
	b.fill(w, tag, start, end)
	return w
}

// windowOf returns the keys of the window a reservation id names ("tag/random", or
// "random" for an unwindowed budget) and the id's random part.
func (b *Budget) windowOf(id string) (*winKeys, string, error) {
	w := b.cur.Load()
	tag, rest, ok := strings.Cut(id, "/")
	if !ok {
		if w.tag != "all" {
			return nil, "", fmt.Errorf("malformed reservation id %q", id)
		}
		return w, id, nil
	}
	if tag != w.tag {
		start, err := time.Parse(time.RFC3339Nano, tag)
		if err != nil || b.window == nil {
			return nil, "", fmt.Errorf("malformed reservation id %q", id)
		}
		_, end := b.window.Bounds(start)
		w = new(winKeys)
		b.fill(w, tag, start, end)
	}
	return w, rest, nil
}

// current returns the keys of the window in force by the budget's clock.
func (b *Budget) current() (*winKeys, time.Time) {
	w := b.cur.Load()
	if b.window == nil {
		return w, time.Time{}
	}
	now := b.clock()
	if now.Before(w.end) && !now.Before(w.start) {
		return w, now
	}
	n := b.windowAt(now)
	b.cur.Store(n) // racing stores build equal keys; either is right
	return n, now
}

var noTTL any = int64(0)

// ttlArg is how long (ms) a window's keys must outlive now: until its end, then
// twice the lease, so that late settles still find their holds.
func (b *Budget) ttlArg(w *winKeys, now time.Time) any {
	if b.window == nil {
		return noTTL
	}
	d := w.end.Sub(now)
	if d < 0 {
		d = 0
	}
	if d > 100*365*24*time.Hour { // a window that never ends: keep its keys
		return noTTL
	}
	d += 2 * b.lease
	return d.Milliseconds() + 1
}

// globEscape quotes the characters Redis's glob matching treats specially, byte by
// byte (a name is bytes to Redis).
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
