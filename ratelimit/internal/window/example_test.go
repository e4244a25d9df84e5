package window_test

import (
	"fmt"
	"time"

	"github.com/spendguard/spendguard/ratelimit/internal/window"
)

func Example() {
	fmt.Println(window.Check(time.Minute, 30_000, 0, 0, 500))
	fmt.Println(window.Check(0, 30_000, 0, 0, 0))
	fmt.Println(window.Never(30_000, 0, 8_000, 1_000, 9_000)) // output above OTPM
	fmt.Println(window.Width(time.Minute, time.Millisecond))
	// Output:
	// <nil>
	// interval 0s is not positive
	// true
	// 937.5ms
}
