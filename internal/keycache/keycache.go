// Package keycache is a small, lock-free, bounded map for per-model state on a hot
// path: most programs call one model, so the entry of the previous lookup is checked
// first with one atomic load, then a sync.Map.
package keycache

import (
	"sync"
	"sync/atomic"
)

// Cache maps keys to values made on first use. The zero value is not usable; call New.
type Cache[K comparable, V any] struct {
	max   int64
	last  atomic.Pointer[entry[K, V]]
	m     sync.Map // K → *entry[K, V]
	count atomic.Int64
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// New returns a cache that keeps at most max keys; past it, Get makes values it does
// not keep, so a program that makes keys up (model names from user input) cannot grow
// it without end.
func New[K comparable, V any](max int) *Cache[K, V] { return &Cache[K, V]{max: int64(max)} }

// Get returns the value for k, calling make for a key not seen before (when two
// goroutines race on a new key, one value wins and both get it). make may be nil, and
// then a missing key returns the zero V and false.
func (c *Cache[K, V]) Get(k K, make func(K) V) (V, bool) {
	if e := c.last.Load(); e != nil && e.key == k {
		return e.val, true
	}
	if v, ok := c.m.Load(k); ok {
		e := v.(*entry[K, V])
		c.last.Store(e)
		return e.val, true
	}
	if make == nil {
		var zero V
		return zero, false
	}
	e := &entry[K, V]{key: k, val: make(k)}
	if c.count.Load() >= c.max {
		return e.val, true // not kept
	}
	if v, loaded := c.m.LoadOrStore(k, e); loaded {
		e = v.(*entry[K, V])
	} else {
		c.count.Add(1)
	}
	c.last.Store(e)
	return e.val, true
}
