package main

import (
	"fmt"
	"strings"
)

// checkGlob refuses a pattern the page cannot filter by as `list PATTERN` would: one
// with '{' or '}' (no budget name has them), an unterminated class ("[a"), or a
// trailing lone backslash. (In list's SCAN pattern, PREFIX:{PATTERN}:*, the last two
// would run on into the "}:" that follows the name and match no budget.)
func checkGlob(pattern string) error {
	if strings.ContainsAny(pattern, "{}") {
		return fmt.Errorf("pattern %q contains '{' or '}', which no budget name does", pattern)
	}
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			if i == len(pattern)-1 {
				return fmt.Errorf("pattern %q ends in a lone '\\' (write \\\\ for a backslash)", pattern)
			}
			i++
		case '[':
			end := classEnd(pattern, i)
			if end < 0 {
				return fmt.Errorf("pattern %q has a '[' without its ']' (write \\[ for a bracket)", pattern)
			}
			i = end
		}
	}
	return nil
}

// classEnd is the index of the ']' that closes the class opened at pattern[open], or
// -1 when it is unterminated.
func classEnd(pattern string, open int) int {
	end, _ := class(pattern, open, 0)
	return end
}

// class reads the class opened at pattern[open] exactly as Redis's stringmatchlen
// does (a ']' right after "[" or "[^" closes an empty class; "x-y" is a range
// wherever two more bytes follow, even when the second is ']'): the index of its
// closing ']' (-1 when unterminated), and whether c is in it.
func class(pattern string, open int, c byte) (int, bool) {
	i := open + 1
	not := i < len(pattern) && pattern[i] == '^'
	if not {
		i++
	}
	match := false
	for ; ; i++ {
		switch {
		case i >= len(pattern):
			return -1, false
		case pattern[i] == '\\' && len(pattern)-i >= 2:
			i++
			match = match || pattern[i] == c
		case pattern[i] == ']':
			return i, match != not
		case len(pattern)-i >= 3 && pattern[i+1] == '-':
			lo, hi := pattern[i], pattern[i+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			match = match || (c >= lo && c <= hi)
			i += 2
		default:
			match = match || pattern[i] == c
		}
	}
}

// globMatch reports whether name matches pattern, a pattern checkGlob accepts, under
// the rules of Redis's glob (SCAN's MATCH; stringmatchlen in Redis's util.c): `*` any
// run of bytes, `?` one byte, `[abc]`, `[^abc]` and `[a-z]` one byte of a class, `\x`
// the byte x. It compares bytes, as Redis does, so that the page filters its index as
// `list PATTERN` filters with SCAN. It runs in O(len(pattern)·len(name)).
func globMatch(pattern, name string) bool {
	p, s := 0, 0
	star, mark := -1, 0 // after the last '*': its place in pattern, and in name where its run ends
	for s < len(name) {
		if p < len(pattern) {
			if pattern[p] == '*' {
				for p < len(pattern) && pattern[p] == '*' {
					p++
				}
				if p == len(pattern) {
					return true
				}
				star, mark = p, s
				continue
			}
			if n, ok := matchOne(pattern, p, name[s]); ok {
				p += n
				s++
				continue
			}
		}
		if star < 0 {
			return false
		}
		mark++ // the last '*' takes one byte more
		p, s = star, mark
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchOne matches the one-byte token at pattern[p] (not '*') against c: how many
// bytes of pattern the token takes, and whether c matches it.
func matchOne(pattern string, p int, c byte) (int, bool) {
	switch pattern[p] {
	case '?':
		return 1, true
	case '\\':
		if p+1 < len(pattern) {
			return 2, pattern[p+1] == c
		}
		return 1, c == '\\'
	case '[':
		end, match := class(pattern, p, c)
		if end < 0 { // checkGlob refuses it
			return 1, c == '['
		}
		return end - p + 1, match
	default:
		return 1, pattern[p] == c
	}
}
