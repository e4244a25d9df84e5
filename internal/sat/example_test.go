package sat_test

import (
	"fmt"
	"math"

	"github.com/spendguard/spendguard/internal/sat"
)

func Example() {
	fmt.Println(sat.Add(2, 3), sat.Add(math.MaxUint64, 1) == math.MaxUint64)
	fmt.Println(sat.Mul(6, 7), sat.Mul(1<<32, 1<<32) == math.MaxUint64)
	// Output:
	// 5 true
	// 42 true
}
