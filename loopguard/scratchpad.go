package loopguard

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The markers of langchaingo's text scratchpads (OneShotAgent, ConversationalAgent).
const (
	obsMarker      = "Observation:"
	actionMarker   = "Action:"
	inputMarker    = "Action Input:"
	inputMarkerAlt = "Action input:" // models write either; langchaingo's MRKL parser accepts both
	thoughtMarker  = "Thought:"
)

// parseScratchpad appends to rs the rounds of a text scratchpad: every "Observation:"
// closes a round whose tool follows the last "Action:" before it (among those followed
// by an "Action Input:") and whose arguments follow that "Action Input:". A round's
// result runs from its "Observation:" to the line of the next round's "Action:", or to
// the end of text for the last round, less the next round's thought:
//
//   - OneShotAgent writes "\n" + log + "\nObservation: " + result + "\n" per round, so
//     a result ends at its last blank line before the next action;
//   - ConversationalAgent writes log + "\nObservation: " + result per round and
//     "\nThought:" after the last one, so a result runs into the next round's
//     thought: such results are marked (round.thought), and the last one has the
//     trailing "Thought:" cut off.
//
// An "Observation:" with no action before it closes a round with no tool, which
// matches no other. Every string set points into text; nothing is allocated beyond
// rs's growth. Any text is accepted.
func parseScratchpad(text string, rs []round) []round {
	conversational := strings.HasSuffix(strings.TrimRightFunc(text, unicode.IsSpace), thoughtMarker)
	start := 0 // where the region after the previous "Observation:" begins
	open := -1 // index in rs of the round whose result starts at start; -1 before the first
	for {
		i := strings.Index(text[start:], obsMarker)
		if i < 0 {
			break
		}
		region := text[start : start+i]
		tool, args, lineStart, ok := lastAction(region)
		if open >= 0 {
			end := len(region)
			if ok {
				end = lineStart
			}
			rs[open].result, rs[open].thought = innerResult(region[:end], conversational), conversational
			rs[open].done = true
		}
		r := round{}
		if ok {
			r.tool, r.args = tool, args
		}
		rs = append(rs, r)
		open = len(rs) - 1
		start += i + len(obsMarker)
	}
	if open >= 0 {
		last := strings.TrimSpace(text[start:])
		if conversational {
			last = strings.TrimSpace(strings.TrimSuffix(last, thoughtMarker))
		}
		rs[open].result, rs[open].done = last, true
	}
	return rs
}

// innerResult is the result of a round that another follows: region is the text from
// its "Observation:" to the line of the next "Action:". Without the conversational
// layout the next round's thought, if any, follows the result's last blank line.
func innerResult(region string, conversational bool) string {
	if !conversational {
		if j := lastBlankLine(region); j >= 0 {
			region = region[:j]
		}
	}
	return strings.TrimSpace(region)
}

// lastAction finds the last "Action:" of region that an "Action Input:" follows, and
// returns its tool (trimmed, "" when empty), its arguments (trimmed: up to the end of
// region) and where the line of the "Action:" starts. The searches run backward from
// the end of region, where a round's action is, so their cost is the length of the
// action, not of the region.
func lastAction(region string) (tool, args string, lineStart int, ok bool) {
	in := lastMarker(region, inputMarker) // "Action input:" too
	if in < 0 {
		return "", "", 0, false
	}
	a := lastMarker(region[:in], actionMarker)
	if a < 0 {
		return "", "", 0, false
	}
	tool = strings.TrimSpace(region[a+len(actionMarker) : in])
	args = strings.TrimSpace(region[in+len(inputMarker):])
	return tool, args, strings.LastIndexByte(region[:a], '\n') + 1, true
}

// lastMarker is the index of the last occurrence in s of marker, a word ending in a
// colon, matching the letter after "Action " in either case. It walks back from colon
// to colon: markers are near the end of the text searched, and a byte loop beats
// strings.LastIndex's rolling hash there.
func lastMarker(s, marker string) int {
	n := len(marker)
	for end := len(s); ; {
		c := strings.LastIndexByte(s[:end], ':')
		if c < 0 {
			return -1
		}
		if i := c + 1 - n; i >= 0 && s[i] == marker[0] && equalFoldAt(s[i:c+1], marker) {
			return i
		}
		end = c
	}
}

// equalFoldAt reports whether s equals marker, where the letter after "Action " (the
// I of "Action Input:") may be in either case.
func equalFoldAt(s, marker string) bool {
	const at = len("Action ")
	if len(marker) > at && marker[:at] == "Action " {
		return s[:at] == marker[:at] && (s[at] == marker[at] || s[at]|0x20 == marker[at]|0x20) && s[at+1:] == marker[at+1:]
	}
	return s == marker
}

// lastBlankLine is the index of the last "\n\n" in s, or -1.
func lastBlankLine(s string) int {
	for end := len(s); ; {
		i := strings.LastIndexByte(s[:end], '\n')
		if i < 1 {
			return -1
		}
		if s[i-1] == '\n' {
			return i - 1
		}
		end = i - 1
	}
}

// wordBoundary reports whether a thought rest may start right after a result clean:
// rest is empty, or one of them has whitespace or punctuation at the seam, or rest
// starts with an upper-case letter after a character that is not one.
func wordBoundary(clean, rest string) bool {
	if rest == "" {
		return true
	}
	first, _ := utf8.DecodeRuneInString(rest)
	if unicode.IsSpace(first) {
		return true
	}
	if clean == "" {
		return false
	}
	last, _ := utf8.DecodeLastRuneInString(clean)
	return unicode.IsSpace(last) || unicode.IsPunct(last) ||
		unicode.IsUpper(first) && !unicode.IsUpper(last)
}

// canonicalJSON returns s as canonical JSON: object keys sorted (a repeated key keeps
// its last value), no insignificant whitespace, strings re-escaped one way, numbers as
// written. ok is false when s is not one JSON value, is not valid UTF-8, or decodes to
// a replacement character (a lone surrogate escape does): two such texts could
// canonicalize alike while differing, so they compare as text.
func canonicalJSON(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", false // more than one value
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", false
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
	if bytes.ContainsRune(out, utf8.RuneError) {
		return "", false
	}
	return string(out), true
}
