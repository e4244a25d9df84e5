package estimate

import (
	"unicode"
	"unicode/utf8"
)

// Text estimates how many tokens s encodes to with OpenAI's o200k_base BPE
// (gpt-4o and later models). On ordinary prose (English, European languages,
// Russian), code, JSON, Markdown and Chinese, Japanese or Korean text it is
// typically within 5% of the exact count, rarely off by more than 20%; text made of
// rare words (package names, random identifiers, rare CJK characters) can take up to
// twice the estimate. Other providers' tokenizers give other counts for the same
// text; this is an o200k_base estimate. It is meant for charging a completion whose
// provider reported no usage, and for sizing prompts.
//
// It mimics the tokenizer's split of text into pieces (words with their leading
// space or mark, runs of up to three digits, runs of punctuation, whitespace) and
// charges each piece a cost fitted against o200k_base by its class, length and shape:
// no vocabulary, no allocation, a few nanoseconds per byte. Any string is accepted: a
// non-empty string is at least one token and never more tokens than bytes. Invalid
// UTF-8 is counted as U+FFFD, which is what encoding/json (and so every provider's
// client) turns it into.
func Text(s string) uint64 {
	if s == "" {
		return 0
	}
	var milli uint64 // thousandths of a token
	for i := 0; i < len(s); {
		var cost uint64
		i, cost = nextPiece(s, i)
		milli += cost
	}
	n := (milli + 500) / 1000
	if n == 0 {
		n = 1
	}
	return n
}

// Character classes, in the terms of o200k_base's split pattern.
const (
	cLower   = iota // \p{Ll}
	cUpper          // \p{Lu}, \p{Lt}
	cLetter         // \p{Lm}, \p{Lo}, \p{M}: both upper and lower for the pattern
	cDigit          // \p{N}
	cSpace          // \s other than \r, \n
	cNewline        // \r, \n
	cPunct          // anything else
)

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		switch {
		case 'a' <= c && c <= 'z':
			t[c] = cLower
		case 'A' <= c && c <= 'Z':
			t[c] = cUpper
		case '0' <= c && c <= '9':
			t[c] = cDigit
		case c == '\r' || c == '\n':
			t[c] = cNewline
		case c == ' ' || c == '\t' || c == '\v' || c == '\f':
			t[c] = cSpace
		default:
			t[c] = cPunct
		}
	}
	return t
}()

// classAt returns the class of the rune at s[i], its size, and, for a non-ASCII rune,
// its cost in thousandths of a token when it stands among letters (rate). It is
// small enough to inline: ASCII, the bulk of most prompts, costs one table lookup.
func classAt(s string, i int) (class uint8, size int, rate uint64) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1, 0
	}
	return classNonASCII(s, i)
}

func classNonASCII(s string, i int) (class uint8, size int, rate uint64) {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size == 1 {
		return cPunct, 1, rateInvalid
	}
	return classifyRune(r), size, runeRate(r)
}

func classifyRune(r rune) uint8 {
	switch {
	case r >= 0x3400 && r <= 0x9FFF, r >= 0xAC00 && r <= 0xD7A3, r >= 0x3041 && r <= 0x30FF && r != 0x30FB:
		return cLetter // Han, Hangul, kana: the bulk of CJK text, skip the tables
	case unicode.IsLower(r):
		return cLower
	case unicode.IsUpper(r), unicode.IsTitle(r):
		return cUpper
	case unicode.IsLetter(r), unicode.IsMark(r):
		return cLetter
	case unicode.IsNumber(r):
		return cDigit
	case unicode.IsSpace(r):
		return cSpace
	default:
		return cPunct
	}
}

// Costs of non-ASCII runes, in thousandths of a token, by script. BPE merges frequent
// CJK characters and words into single tokens and splits rare ones into bytes.
const (
	rateHan       = 720
	rateKana      = 780
	rateHangul    = 780
	rateLatinExt  = 600 // é, ñ, ß inside words
	rateCyrillic  = 270
	rateGreek     = 420
	rateOther     = 1000
	rateCJKPunct  = 800
	rateCJKPrefix = 300  // "，" or "。" before a word, which it mostly merges with
	rateSymbol    = 1200 // emoji, dingbats, box drawing
	rateGenPunct  = 700  // “ ” — … and the like
	rateInvalid   = 1000 // a byte that is not UTF-8
)

func runeRate(r rune) uint64 {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF, r >= 0x3400 && r <= 0x4DBF, r >= 0xF900 && r <= 0xFAFF, r >= 0x20000:
		return rateHan
	case r >= 0x3040 && r <= 0x30FF, r >= 0x31F0 && r <= 0x31FF, r >= 0xFF66 && r <= 0xFF9F:
		return rateKana
	case r >= 0xAC00 && r <= 0xD7A3, r >= 0x1100 && r <= 0x11FF, r >= 0x3130 && r <= 0x318F:
		return rateHangul
	case r < 0x0250, r >= 0x1E00 && r <= 0x1EFF:
		return rateLatinExt
	case r >= 0x0400 && r <= 0x052F:
		return rateCyrillic
	case r >= 0x0370 && r <= 0x03FF:
		return rateGreek
	case r >= 0x3000 && r <= 0x303F, r >= 0xFF00 && r <= 0xFF65:
		return rateCJKPunct
	case r >= 0x2000 && r <= 0x206F:
		return rateGenPunct
	case r >= 0x2190 && r <= 0x2BFF, r >= 0x1F000 && r <= 0x1FAFF:
		return rateSymbol
	default:
		return rateOther
	}
}

// nextPiece scans the piece of s starting at i, in the manner of o200k_base's split
// pattern, and returns where it ends and what it costs in thousandths of a token.
//
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	\p{N}{1,3}
//	 ?[^\s\p{L}\p{N}]+[\r\n/]*
//	\s*[\r\n]+
//	\s+(?!\S)
//	\s+
func nextPiece(s string, i int) (end int, milli uint64) {
	class, size, rate := asciiClass[s[i]&0x7F], 1, uint64(0) // classAt, inlined by hand
	if s[i] >= utf8.RuneSelf {
		class, size, rate = classNonASCII(s, i)
	}
	switch class {
	case cLower, cUpper, cLetter:
		return scanWord(s, i)
	case cDigit:
		return scanDigits(s, i, size)
	case cPunct:
		// A single punctuation mark right before a letter prefixes the word.
		if j := i + size; j < len(s) {
			if c, _, _ := classAt(s, j); c <= cLetter {
				end, milli = scanWord(s, j)
				if s[i] < utf8.RuneSelf {
					return end, milli + uint64(punctPrefixCost[s[i]])
				}
				if rate == rateCJKPunct { // "，" and "。" merge with the word after them
					rate = rateCJKPrefix
				}
				return end, milli + rate
			}
		}
		return scanPunct(s, i)
	default: // cSpace, cNewline
		return scanSpace(s, i)
	}
}

// scanWord scans a word starting at its first letter i: uppercase letters, then
// lowercase ones (so that "camelCase" is two pieces), then an English contraction.
func scanWord(s string, i int) (end int, milli uint64) {
	// Consonant clusters mark what is not an English word (package names such as
	// "otlptracehttp", abbreviations, identifiers glued together), which BPE splits.
	var upper, lower, cons, maxCons int
	var extra uint64
	j := i
	for j < len(s) { // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*
		b := s[j]
		if b < utf8.RuneSelf {
			if asciiClass[b] != cUpper {
				break
			}
			upper++
			if isVowel[b] {
				cons = 0
			} else {
				cons++
				maxCons = max(maxCons, cons)
			}
			j++
			continue
		}
		c, size, rate := classAt(s, j)
		if c != cUpper && c != cLetter {
			break
		}
		extra += rate
		cons = 0
		j += size
	}
	for j < len(s) { // [\p{Ll}\p{Lm}\p{Lo}\p{M}]+
		b := s[j]
		if b < utf8.RuneSelf {
			if asciiClass[b] != cLower {
				break
			}
			lower++
			if isVowel[b] {
				cons = 0
			} else {
				cons++
				maxCons = max(maxCons, cons)
			}
			j++
			continue
		}
		c, size, rate := classAt(s, j)
		if c != cLower && c != cLetter {
			break
		}
		extra += rate
		cons = 0
		j += size
	}
	if j+1 < len(s) && s[j] == '\'' { // (?i:'s|'t|'re|'ve|'m|'ll|'d)
		switch s[j+1] | 0x20 {
		case 's', 't', 'm', 'd':
			j += 2
		case 'r', 'v':
			if j+2 < len(s) && s[j+2]|0x20 == 'e' {
				j += 3
			}
		case 'l':
			if j+2 < len(s) && s[j+2]|0x20 == 'l' {
				j += 3
			}
		}
	}
	return j, wordCost(upper+lower, upper, maxCons) + extra
}

var isVowel = func() (t [utf8.RuneSelf]bool) {
	for _, c := range "aeiouyAEIOUY" {
		t[c] = true
	}
	return t
}()

// wordCost is the cost of a word of ASCII letters, upper of them uppercase, whose
// longest run of consonants is maxCons. Words up to about seven letters are mostly
// one token; longer ones, all-caps ones and consonant clusters (rarer in the
// tokenizer's training text) split more often.
func wordCost(letters, upper, maxCons int) uint64 {
	if letters == 0 {
		return 0
	}
	var c uint64
	switch {
	case upper == letters && letters >= 3:
		c = 1000 + uint64(letters-3)*capsSlope
	case letters < len(wordTable):
		c = wordTable[letters]
	default:
		c = wordTable[len(wordTable)-1] + uint64(letters-len(wordTable)+1)*wordSlope
	}
	switch {
	case maxCons >= 5 && letters >= 6:
		c += 1000
	case maxCons == 4 && letters >= 6:
		c += 250
	case maxCons == 3 && letters < 6:
		c += 170
	}
	return c
}

// punctPrefixCost is what a punctuation mark adds to the word it prefixes: code's
// ".Method", "(arg" and "_name" mostly merge into one token, a path's "/dir" or a
// flag's "-name" often do, other marks rarely.
var punctPrefixCost = func() (t [utf8.RuneSelf]uint16) {
	for c := range t {
		t[c] = 800
	}
	t['('] = 100
	t['.'] = 130
	t['_'] = 200
	for _, c := range `"'[\` {
		t[c] = 300
	}
	t['-'] = 480
	t['/'] = 600
	t['='] = 650
	return t
}()

// The costs in this file, in thousandths of a token, were fitted by splitting 2 MB of
// text (Go and Python standard-library sources, module READMEs, Swagger JSON,
// CPython's CJK test texts) into pieces as nextPiece does, and averaging each class's
// o200k_base token counts.
var wordTable = [...]uint64{0, 1000, 1000, 1010, 1015, 1030, 1050, 1070, 1130, 1250, 1300, 1450, 1700, 1750, 1900, 2200}

const (
	wordSlope = 300 // per letter beyond wordTable
	capsSlope = 250 // per letter beyond three, all caps
)

func scanDigits(s string, i, size int) (end int, milli uint64) {
	j, n := i+size, 1
	for j < len(s) && n < 3 {
		c, size, _ := classAt(s, j)
		if c != cDigit {
			break
		}
		j += size
		n++
	}
	return j, 1000
}

// scanPunct scans ` ?[^\s\p{L}\p{N}]+[\r\n/]*` from i (after any leading space).
// Mixed marks ("();", "\":") merge well and are priced together by their number;
// a run of one repeated mark is priced by how long a run of it BPE merges (rulers
// such as "-----" into long tokens, brackets hardly), control characters one each.
func scanPunct(s string, i int) (end int, milli uint64) {
	j, marks, replaced := i, 0, 0
	var prevRune rune
	var extra uint64 // long runs, control characters, non-ASCII marks
	for j < len(s) {
		if b := s[j]; b < utf8.RuneSelf {
			if asciiClass[b] != cPunct {
				break
			}
			k := j + 1
			for k < len(s) && s[k] == b {
				k++
			}
			switch n := k - j; {
			case b < 0x20 || b == 0x7F:
				extra += uint64(n) * 1000
			case n >= 3:
				per := int(repeatPer[b])
				extra += uint64((n+per-1)/per) * 1000
			default:
				marks += n
			}
			j, prevRune = k, 0
			continue
		}
		r, size := utf8.DecodeRuneInString(s[j:])
		if r == utf8.RuneError { // invalid UTF-8 or U+FFFD, which is what it becomes
			if prevRune != utf8.RuneError {
				replaced = 0
			}
			if replaced%8 == 0 { // runs of "�" merge eight to a token
				extra += rateInvalid
			}
			replaced++
			prevRune = r
			j += size
			continue
		}
		if classifyRune(r) != cPunct {
			break
		}
		if r == prevRune { // "……", "━━━━": repeats merge, though less than ASCII ones
			extra += runeRate(r) / 3
		} else {
			extra += runeRate(r)
		}
		prevRune = r
		j += size
	}
	for j < len(s) && (s[j] == '\r' || s[j] == '\n' || s[j] == '/') {
		j++
	}
	return j, punctCost(marks) + extra
}

// repeatPer is how many repeats of an ASCII mark o200k_base merges into one token.
var repeatPer = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		t[c] = 4
	}
	for _, c := range "~!._/+%*#=-;:" {
		t[c] = 16
	}
	for _, c := range "^@<>?" {
		t[c] = 8
	}
	for _, c := range "&`[]{}" {
		t[c] = 2
	}
	return t
}()

func punctCost(n int) uint64 {
	if n < len(punctTable) {
		return punctTable[n]
	}
	return punctTable[len(punctTable)-1] + uint64(n-len(punctTable)+1)*punctSlope
}

var punctTable = [...]uint64{0, 1000, 1000, 1150, 1600, 1700, 2300}

const punctSlope = 600 // per mark beyond punctTable

// scanSpace scans whitespace from i: a run ending in newlines is one piece; otherwise
// the run minus its last character, which prefixes the word or punctuation after it.
func scanSpace(s string, i int) (end int, milli uint64) {
	j, lastNL, lastSize, spaces, changes := i, -1, 1, true, 0
	var prev rune = -1
	for j < len(s) {
		if b := s[j]; b < utf8.RuneSelf {
			c := asciiClass[b]
			if c != cSpace && c != cNewline {
				break
			}
			if c == cNewline {
				lastNL = j + 1
			}
			spaces = spaces && b == ' '
			if prev >= 0 && rune(b) != prev {
				changes++
			}
			prev = rune(b)
			j, lastSize = j+1, 1
			continue
		}
		r, size := utf8.DecodeRuneInString(s[j:])
		if r == utf8.RuneError || classifyRune(r) != cSpace {
			break
		}
		if prev >= 0 && r != prev {
			changes++
		}
		spaces, prev = false, r
		j, lastSize = j+size, size
	}
	if lastNL > 0 { // \s*[\r\n]+
		return lastNL, newlineCost(lastNL - i)
	}
	if j == len(s) {
		return j, spaceCost(j-i, spaces, changes)
	}
	// The last space prefixes what follows: ` word`, ` (`; before a digit it stands alone.
	if j-lastSize > i {
		return j - lastSize, spaceCost(j-lastSize-i, spaces, changes)
	}
	switch next, _, _ := classAt(s, j); {
	case next <= cLetter:
		return scanWord(s, j)
	case next == cPunct && s[i] == ' ':
		return scanPunct(s, j)
	default:
		return j, 1000
	}
}

// spaceCost is the cost of a run of n bytes of blanks in which the blank changes
// changes times: indentation is one token; longer runs take a token per 128 spaces, or
// per 16 bytes of tabs and other blanks, and mixed blanks ("\t \t ") merge little.
func spaceCost(n int, spaces bool, changes int) uint64 {
	per := 16
	if spaces {
		per = 128
	}
	return 1000 + uint64(max((n-1)/per, changes/2))*1000
}

// newlineCost is the cost of a whitespace run of n bytes ending in newlines: blank
// lines and indentation merge into one token up to a point.
func newlineCost(n int) uint64 {
	switch {
	case n <= 4:
		return 1000
	case n <= 8:
		return 1000 + uint64(n-4)*400
	default:
		return 2600 + uint64(min(n, 1<<20)-8)*100
	}
}
