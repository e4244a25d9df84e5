package window_test

import (
	"fmt"
	"time"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/window"
)

// A budget that starts afresh every calendar day in New York.
func Example() {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		fmt.Println(err)
		return
	}
	w := window.Daily(ny)
	start, end := w.Bounds(time.Date(2026, 3, 8, 15, 0, 0, 0, time.UTC)) // a 23-hour day
	fmt.Println(start, end.Sub(start))

	_ = budget.NewAtomic(100_000, budget.WithWindow(w))
	// Output: 2026-03-08 00:00:00 -0500 EST 23h0m0s
}
