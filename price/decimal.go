package price

import (
	"errors"
	"strconv"
	"strings"
)

var (
	errNotNumber = errors.New("not a JSON number")
	errNegative  = errors.New("negative")
	errTooLarge  = errors.New("too large (above 18,446,744 per token)")
)

// microPerMillion converts the decimal text of a JSON number, a price per token, to
// micro-units per million tokens: the value × 10^12, computed exactly on the digits
// (no float), a remainder rounded up to the next whole unit so that a rate is never
// under-charged. "2.5e-06" is exactly 2,500,000. It returns an error for text that
// is not a JSON number, a negative value, or one of 2^64 units or more.
func microPerMillion(s string) (uint64, error) {
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg, i = true, i+1
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return 0, errNotNumber
	}
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[fracStart:i]
		if frac == "" {
			return 0, errNotNumber
		}
	}
	var exp int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg, i = s[i] == '-', i+1
		}
		expStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		digits := strings.TrimLeft(s[expStart:i], "0")
		if expStart == i {
			return 0, errNotNumber
		}
		const maxExp = 1 << 40 // far beyond any number of digits a file can hold
		exp = maxExp
		if len(digits) <= 12 {
			exp, _ = strconv.ParseInt("0"+digits, 10, 64)
			exp = min(exp, maxExp)
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return 0, errNotNumber
	}

	// value = mant × 10^exp, with mant's leading and trailing zeros taken off.
	mant := strings.TrimLeft(intPart+frac, "0")
	exp += 12 - int64(len(frac))
	trimmed := strings.TrimRight(mant, "0")
	exp += int64(len(mant) - len(trimmed))
	mant = trimmed
	if mant == "" {
		return 0, nil // zero, "-0" included
	}
	if neg {
		return 0, errNegative
	}
	intDigits := int64(len(mant)) + exp // digits of the value's integer part
	switch {
	case intDigits > 20: // ≥ 10^20 > 2^64
		return 0, errTooLarge
	case intDigits <= 0: // 0 < value < 1: one unit
		return 1, nil
	}
	var whole string
	roundUp := false
	if exp >= 0 {
		whole = mant + strings.Repeat("0", int(exp))
	} else {
		whole = mant[:intDigits]
		roundUp = true // the cut digits end in a non-zero one
	}
	v, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return 0, errTooLarge
	}
	if roundUp {
		if v == ^uint64(0) {
			return 0, errTooLarge
		}
		v++
	}
	return v, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
