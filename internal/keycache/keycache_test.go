package keycache

import (
	"strconv"
	"sync"
	"testing"
)

func TestGetMakesOnceAndBounds(t *testing.T) {
	c := New[string, *int](3)
	made := 0
	mk := func(string) *int { made++; v := made; return &v }
	a, _ := c.Get("a", mk)
	a2, _ := c.Get("a", mk)
	if a != a2 || made != 1 {
		t.Fatalf("a made %d times", made)
	}
	for i := range 10 {
		c.Get(strconv.Itoa(i), mk)
	}
	if n := c.count.Load(); n != 3 {
		t.Fatalf("kept %d keys, want 3", n)
	}
	if _, ok := c.Get("absent", nil); ok {
		t.Fatal("nil make must not create")
	}
}

func TestConcurrentGetAgrees(t *testing.T) {
	c := New[int, *int](1024)
	var wg sync.WaitGroup
	got := make([]*int, 16)
	for g := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 100 {
				v, _ := c.Get(k%7, func(int) *int { return new(int) })
				if k%7 == 3 {
					got[g] = v
				}
			}
		}()
	}
	wg.Wait()
	for _, v := range got {
		if v != got[0] {
			t.Fatal("goroutines got different values for one key")
		}
	}
}
