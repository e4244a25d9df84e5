package ratelimit

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"
)

func TestRateLimitedMessages(t *testing.T) {
	for _, c := range []struct {
		err   error
		want  time.Duration
		is429 bool
	}{
		{errors.New("API returned unexpected status code: 429: Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 29500, Requested 900. Please try again in 1.5s. Visit https://platform.openai.com/account/rate-limits to learn more."), 1500 * time.Millisecond, true},
		{errors.New("API returned unexpected status code: 429: Rate limit reached for requests. Please try again in 20ms."), 20 * time.Millisecond, true},
		{errors.New("API returned unexpected status code: 429: Please try again in 6m0s."), 6 * time.Minute, true},
		{errors.New("API returned unexpected status code: 429: Please try again in 1m30.5s."), 90500 * time.Millisecond, true},
		{errors.New("API returned unexpected status code: 429: rate_limit_error: Number of request tokens has exceeded your per-minute rate limit"), defaultPause, true},
		{errors.New("googleapi: Error 429: Resource has been exhausted. Please retry in 20.5s."), 20500 * time.Millisecond, true},
		{errors.New(`429 Too Many Requests {"retry-after": "30"}`), 30 * time.Second, true},
		{errors.New("API returned unexpected status code: 429: retry after 2 seconds"), 2 * time.Second, true},
		{errors.New("API returned unexpected status code: 429: try again in 99999h"), maxPause, true},
		{fmt.Errorf("wrapped: %w", &llms.Error{Code: llms.ErrCodeRateLimit, Message: "slow down"}), defaultPause, true},
		{errors.New("API returned unexpected status code: 500: try again in 1s"), 0, false},
		{errors.New("used 429 tokens"), 0, false},
		{nil, 0, false},
	} {
		d, ok := rateLimited(c.err)
		if ok != c.is429 || d != c.want {
			t.Errorf("rateLimited(%v) = %v, %v; want %v, %v", c.err, d, ok, c.want, c.is429)
		}
	}
}

// FuzzRateLimited: any provider message gives a pause within (0, maxPause] when it is
// a 429, and never panics.
func FuzzRateLimited(f *testing.F) {
	for _, s := range []string{
		"API returned unexpected status code: 429: Please try again in 1.5s.",
		"googleapi: Error 429: Please retry in 20.5s.",
		"429 Too Many Requests retry-after: 7",
		"status code: 429 try again in 1e308s",
		"status code: 429 try again in 99999999999999999999h 3ms",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		d, ok := rateLimited(errors.New(msg))
		if ok && (d <= 0 || d > maxPause) {
			t.Fatalf("pause %v out of (0, %v] for %q", d, maxPause, msg)
		}
		if !ok && d != 0 {
			t.Fatalf("pause %v for a message that is no 429: %q", d, msg)
		}
	})
}
