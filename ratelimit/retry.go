package ratelimit

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tmc/langchaingo/llms"
)

// defaultPause is how long a 429 that says nothing of when to retry pauses the limit.
const defaultPause = time.Second

// maxPause bounds the pause a provider's message can ask for.
const maxPause = 24 * time.Hour

// Texts that mark a provider's 429. langchaingo v0.1.14's clients keep only the
// status and the message of an error response, not its headers: openai and anthropic
// return "API returned unexpected status code: 429: <message>", googleai the genai
// SDK's "googleapi: Error 429: ..." (RESOURCE_EXHAUSTED), and some clients wrap a
// *llms.Error with code rate_limit.
var rateLimitedMarks = []string{"status code: 429", "error 429", "429 too many requests", "resource_exhausted", "rate_limit_error"}

// retryIn finds the wait a provider's rate-limit message asks for: OpenAI's "Please
// try again in 1.2s" (or "in 20ms", "in 6m0s"), "retry after 30 seconds", Gemini's
// "Please retry in 20.5s", and a quoted Retry-After header.
var retryIn = regexp.MustCompile(`(?i)(?:try again|retry|retry-after|retrydelay)["':\s]*(?:in|after)?\s*["']?((?:[0-9]+(?:\.[0-9]+)?\s*(?:milliseconds?|ms|hours?|h|minutes?|mins?|m|seconds?|secs?|s)\s*)+|[0-9]+(?:\.[0-9]+)?\b)`)

var durationPart = regexp.MustCompile(`(?i)([0-9]+(?:\.[0-9]+)?)\s*(milliseconds?|ms|hours?|h|minutes?|mins?|m|seconds?|secs?|s)?`)

// rateLimited reports whether err is a provider's 429, and the pause it asks for:
// the wait its message names, else defaultPause, at most maxPause.
func rateLimited(err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	msg := err.Error()
	lower := strings.ToLower(msg)
	hit := llms.IsRateLimitError(err) || errors.Is(err, llms.ErrRateLimit)
	for _, m := range rateLimitedMarks {
		if strings.Contains(lower, m) {
			hit = true
			break
		}
	}
	if !hit {
		return 0, false
	}
	return pauseIn(msg), true
}

// pauseIn is the wait msg asks for, else defaultPause; never more than maxPause.
func pauseIn(msg string) time.Duration {
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	m := retryIn.FindStringSubmatch(msg)
	if m == nil {
		return defaultPause
	}
	var d time.Duration
	for _, p := range durationPart.FindAllStringSubmatch(m[1], -1) {
		v, err := strconv.ParseFloat(p[1], 64)
		if err != nil {
			continue
		}
		unit := time.Second // a bare number is Retry-After's seconds
		switch u := strings.ToLower(p[2]); {
		case strings.HasPrefix(u, "ms"), strings.HasPrefix(u, "milli"):
			unit = time.Millisecond
		case strings.HasPrefix(u, "h"):
			unit = time.Hour
		case strings.HasPrefix(u, "m"):
			unit = time.Minute
		}
		if v*float64(unit) > float64(maxPause) {
			return maxPause
		}
		d += time.Duration(v * float64(unit))
	}
	if d <= 0 {
		return defaultPause
	}
	return min(d, maxPause)
}
