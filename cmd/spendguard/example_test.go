package main

import (
	"context"
	"os"
)

// The CLI refuses bad input in one line on stderr (here printed to stdout) with a
// non-zero status, before it talks to Redis.
func Example() {
	getenv := func(string) string { return "" }
	for _, args := range [][]string{
		{"-redis", "127.0.0.1:6379", "set", "acme", "-5"},
		{"-redis", "127.0.0.1:6379", "reset", "acme"},
		{"list"},
	} {
		code := run(context.Background(), args, getenv, os.Stdout, os.Stdout)
		os.Stdout.WriteString("exit " + string(rune('0'+code)) + "\n")
	}
	// Output:
	// spendguard: capacity "-5" is not an integer from 0 to 2^53
	// exit 2
	// spendguard: reset starts budget "acme"'s current window over (its consumption back to 0) and refuses without -yes
	// exit 2
	// spendguard: no Redis to talk to: give -redis ADDR or set REDIS_URL
	// exit 2
}
