// Package sat is saturating uint64 arithmetic: budgets count tokens and money in
// uint64 and must never wrap around, so an absurd usage saturates at math.MaxUint64
// instead of turning into a small number.
package sat

import (
	"math"
	"math/bits"
)

// Add returns a+b, or math.MaxUint64 when the sum overflows.
func Add(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}

// Mul returns a*b, or math.MaxUint64 when the product overflows.
func Mul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}
