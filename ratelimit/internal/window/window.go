// Package window holds what the in-process and the Redis rate limiters share: the
// checks of a limit and of an estimate, and the width of a window's slots.
package window

import (
	"errors"
	"fmt"
	"time"

	"github.com/spendguard/spendguard/internal/sat"
)

// Slots is how many slots a window of one interval is cut into. A slot's calls stop
// counting once the whole slot is older than the interval, so a call's tokens are
// counted for between one interval and one interval plus a slot (1/64 more).
const Slots = 64

// Check returns why the limit (interval and counts, 0 meaning none) cannot be used, or nil.
func Check(interval time.Duration, tokens, input, output, requests uint64) error {
	if interval <= 0 {
		return fmt.Errorf("interval %v is not positive", interval)
	}
	if tokens == 0 && input == 0 && output == 0 && requests == 0 {
		return errors.New("the limit sets no count (Tokens, Input, Output and Requests are all 0)")
	}
	return nil
}

// Never reports whether a call of in input and out output tokens is above the limit
// itself, so that it could never fit.
func Never(tokens, input, output, in, out uint64) bool {
	return (tokens > 0 && sat.Add(in, out) > tokens) || (input > 0 && in > input) || (output > 0 && out > output)
}

// Width is the width of a slot of a window of interval d: d/Slots, at least min.
func Width(d, min time.Duration) time.Duration {
	return max(d/Slots, min)
}
