package main

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spendguard/spendguard/internal/testseed"
)

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "acme", true},
		{"tenant-*", "tenant-acme", true},
		{"tenant-*", "agent", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*me", "acme", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"[ab]x", "bx", true},
		{"[^ab]x", "bx", false},
		{"[^ab]x", "cx", true},
		{"[a-c]", "b", true},
		{"[c-a]", "b", true}, // Redis swaps a reversed range
		{"[]]", "]", false},  // an empty class, then a literal ']'
		{"[]]", "]]", false},
		{"\\*", "*", true},
		{"\\*", "a", false},
		{"[\\]]", "]", true},
		{"daily:*", "daily:bob", true},
		{"", "a", false},
	} {
		require.NoError(t, checkGlob(c.pattern), c.pattern)
		assert.Equal(t, c.want, globMatch(c.pattern, c.name), "%q ~ %q", c.pattern, c.name)
	}
	for _, bad := range []string{"a{b", "}", "[ab", "a\\", "[a-]", "[\\"} {
		assert.Error(t, checkGlob(bad), bad)
	}
}

// TestGlobMatchesRedis: on random patterns and names, globMatch agrees with the
// MATCH of a real redis-server's SCAN, the filter `list PATTERN` uses.
func TestGlobMatchesRedis(t *testing.T) {
	rdb, _ := client(t)
	prefix := unique(t) + ":"
	rng := rand.New(rand.NewPCG(testseed.Get(t), 1))
	const alphabet = "ab-^]*?[\\:x"
	word := func(n int) string {
		var b strings.Builder
		for range 1 + rng.IntN(n) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	names := map[string]bool{}
	for range 300 {
		n := word(6)
		names[n] = true
		require.NoError(t, rdb.Set(ctx, prefix+n, "1", 0).Err())
	}
	t.Cleanup(func() {
		for n := range names {
			rdb.Del(ctx, prefix+n)
		}
	})
	checked := 0
	for checked < 300 {
		pattern := word(7)
		if checkGlob(pattern) != nil {
			continue
		}
		checked++
		fromRedis := map[string]bool{}
		iter := rdb.Scan(ctx, 0, prefix+pattern, 1000).Iterator()
		for iter.Next(ctx) {
			fromRedis[strings.TrimPrefix(iter.Val(), prefix)] = true
		}
		require.NoError(t, iter.Err())
		for n := range names {
			if !assert.Equal(t, fromRedis[n], globMatch(pattern, n), "%q ~ %q", pattern, n) {
				return
			}
		}
	}
}

func FuzzGlob(f *testing.F) {
	for _, s := range []string{"*", "tenant-*", "[a-c]?", "[^x]*\\*", "[]]", "a\\", "[a-]"} {
		f.Add(s, "tenant-a")
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if checkGlob(pattern) != nil {
			return
		}
		got := globMatch(pattern, name)
		if strings.Trim(pattern, "*") == "" && pattern != "" && name != "" && !got {
			t.Fatalf("%q does not match %q", pattern, name)
		}
		if !strings.ContainsAny(pattern, "*?[\\") && got != (pattern == name) {
			t.Fatalf("literal %q ~ %q = %v", pattern, name, got)
		}
		// The name, escaped, matches itself.
		var esc strings.Builder
		for i := 0; i < len(name); i++ {
			if strings.IndexByte("*?[]\\", name[i]) >= 0 {
				esc.WriteByte('\\')
			}
			esc.WriteByte(name[i])
		}
		if checkGlob(esc.String()) == nil && !globMatch(esc.String(), name) {
			t.Fatalf("escaped %q does not match %q", esc.String(), name)
		}
	})
}
