package price

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
)

func TestMicroPerMillion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		err  error
	}{
		{"2.5e-06", 2_500_000, nil}, // gpt-4o input: $2.50 per million
		{"1.25e-07", 125_000, nil},
		{"3.75e-06", 3_750_000, nil},
		{"2.1875e-06", 2_187_500, nil},
		{"5.46875e-07", 546_875, nil},
		{"6.25e-09", 6_250, nil},
		{"0.00018", 180_000_000, nil},
		{"1e-05", 10_000_000, nil},
		{"1E-5", 10_000_000, nil},
		{"1e+0", 1_000_000_000_000, nil},
		{"0.000002500", 2_500_000, nil},
		{"0", 0, nil},
		{"0.0", 0, nil},
		{"-0", 0, nil},
		{"-0.0e-7", 0, nil},
		{"0e999999999999999999999999", 0, nil},
		{"3e-12", 3, nil},                       // exactly one unit ×3
		{"1e-13", 1, nil},                       // below a unit: rounded up to one
		{"1.0000000000001e-06", 1_000_001, nil}, // 1,000,000.1 → up
		{"2.4414e-07", 244_140, nil},
		{"1e-999999999999999999999", 1, nil},
		{"18446744.073709551615", math.MaxUint64, nil},
		{"18446744.0737095516151", 0, errTooLarge}, // rounds up past 2^64−1
		{"18446744.073709551616", 0, errTooLarge},
		{"1e8", 0, errTooLarge},
		{"1e99999999999999999999", 0, errTooLarge},
		{"-1e-06", 0, errNegative},
		{"", 0, errNotNumber},
		{"-", 0, errNotNumber},
		{"01", 0, errNotNumber},
		{"1.", 0, errNotNumber},
		{".5", 0, errNotNumber},
		{"1e", 0, errNotNumber},
		{"1e+", 0, errNotNumber},
		{"0x10", 0, errNotNumber},
		{"1e-6 ", 0, errNotNumber},
		{`"2.5e-06"`, 0, errNotNumber},
		{"NaN", 0, errNotNumber},
	} {
		got, err := microPerMillion(tc.in)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("microPerMillion(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// ceilMicro is microPerMillion's contract computed with big rationals: ceil(v ×
// 10^12), ok false when it is negative or does not fit in 64 bits.
func ceilMicro(s string) (uint64, bool) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, false
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(12), nil)))
	if r.Sign() < 0 {
		return 0, false
	}
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsUint64() {
		return 0, false
	}
	return q.Uint64(), true
}

// FuzzMicroPerMillion: on any JSON number the conversion is exactly ceil(v × 10^12)
// (checked against big rationals where their exponent is small enough to compute),
// and on anything else it is an error, never a panic.
func FuzzMicroPerMillion(f *testing.F) {
	for _, s := range []string{"2.5e-06", "0", "-0", "1e-13", "18446744.073709551615", "1e8", "-1e-06", "01", "1.", "9.99999999999999999999e-7", "0.000000000000000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := microPerMillion(s)
		var n json.Number
		isNumber := json.Unmarshal([]byte(s), &n) == nil && string(n) == s
		if !isNumber {
			if err == nil {
				t.Fatalf("microPerMillion(%q) = %d, want an error: not a JSON number", s, got)
			}
			return
		}
		if i := strings.IndexAny(s, "eE"); i >= 0 && len(s)-i > 5 {
			return // an exponent of 4+ digits: too big for the big.Rat reference
		}
		want, ok := ceilMicro(s)
		if !ok {
			if err == nil {
				t.Fatalf("microPerMillion(%q) = %d, want an error (negative or too large)", s, got)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("microPerMillion(%q) = %d, %v; want %d", s, got, err, want)
		}
	})
}
