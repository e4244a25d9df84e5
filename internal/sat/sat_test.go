package sat

import (
	"math"
	"math/big"
	"testing"
)

func FuzzSaturating(f *testing.F) {
	f.Add(uint64(0), uint64(0))
	f.Add(uint64(math.MaxUint64), uint64(1))
	f.Add(uint64(1<<32), uint64(1<<32))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		max := new(big.Int).SetUint64(math.MaxUint64)
		want := func(x *big.Int) uint64 {
			if x.Cmp(max) > 0 {
				return math.MaxUint64
			}
			return x.Uint64()
		}
		A, B := new(big.Int).SetUint64(a), new(big.Int).SetUint64(b)
		if got, w := Add(a, b), want(new(big.Int).Add(A, B)); got != w {
			t.Fatalf("Add(%d, %d) = %d, want %d", a, b, got, w)
		}
		if got, w := Mul(a, b), want(new(big.Int).Mul(A, B)); got != w {
			t.Fatalf("Mul(%d, %d) = %d, want %d", a, b, got, w)
		}
	})
}
