package keycache_test

import (
	"fmt"

	"github.com/spendguard/spendguard/internal/keycache"
)

func Example() {
	c := keycache.New[string, *int](2)
	made := 0
	counter := func(string) *int { made++; return new(int) }

	a, _ := c.Get("gpt-4o", counter)
	*a++
	again, _ := c.Get("gpt-4o", counter)
	_, found := c.Get("unseen", nil)
	fmt.Println(*again, made, found)
	// Output: 1 1 false
}
