package redisbudget_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/budget/window"
)

// FuzzSettleID settles reservations carrying arbitrary ids (the window and hold a
// settle reads back from the id) against an unreachable Redis: every call returns an
// error, either for the id or for Redis, and none panics.
func FuzzSettleID(f *testing.F) {
	for _, id := range []string{"", "all", "/", "x/y", "0123456789abcdef0123456789abcdef",
		"2026-01-01T00:00:00Z/0123", "2026-01-01T00:00:00.5+05:00/a", "2026-13-01T00:00:00Z/a", "{}/}{", "a/b/c"} {
		f.Add(id, uint64(10), uint64(3), false)
		f.Add(id, uint64(0), ^uint64(0), true)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	f.Cleanup(func() { _ = rdb.Close() })
	plain, err := redisbudget.New(rdb, "fuzz", 100)
	if err != nil {
		f.Fatal(err)
	}
	windowed, err := redisbudget.New(rdb, "fuzz", 100, redisbudget.WithWindow(window.Every(time.Hour)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id string, tokens, usage uint64, useWindow bool) {
		b := plain
		if useWindow {
			b = windowed
		}
		r := budgetkit.NewReservation(b, id, tokens)
		for _, err := range []error{b.Record(ctx, r, usage, usage), b.Release(ctx, r)} {
			if !errors.Is(err, budgetkit.ErrInvalidReservation) && !errors.Is(err, budget.ErrUnavailable) {
				t.Fatalf("id %q: unexpected result %v", id, err)
			}
		}
		if budgetkit.Settled(r) {
			t.Fatalf("id %q: settled without reaching Redis", id)
		}
	})
}

// FuzzAdminParseKey feeds a Family the key names a SCAN may return: a key it takes for
// a budget's is exactly that budget's prefix, {name}, ':' and the rest, with a name
// New accepts.
func FuzzAdminParseKey(f *testing.F) {
	for _, k := range []string{"spendguard:{a}:all:h", "spendguard:{a}:cap", "spendguard:{}:x", "spendguard:{a{b}:x",
		"spendguard:{a}", "{a}:all:h", "spendguard:{a}:}:x", "other:{a}:all:h", "spendguard:{a:b}:2026-01-01T00:00:00Z:z"} {
		f.Add("spendguard", k)
		f.Add("", k)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	f.Fuzz(func(t *testing.T, prefix, key string) {
		a, err := redisbudget.NewFamily(rdb, 0, redisbudget.WithKeyPrefix(prefix))
		if err != nil {
			return
		}
		name, rest, ok := a.ParseKey(key)
		if !ok {
			return
		}
		if _, err := redisbudget.New(rdb, name, 1); err != nil {
			t.Fatalf("%q parsed as budget %q, which New refuses: %v", key, name, err)
		}
		base := "{" + name + "}:"
		if prefix != "" {
			base = prefix + ":" + base
		}
		if base+rest != key {
			t.Fatalf("%q parsed as %q + %q", key, name, rest)
		}
	})
}
