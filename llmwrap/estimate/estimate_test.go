package estimate

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/tmc/langchaingo/llms"
)

func TestTextBasics(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"", 0},
		{"a", 1},
		{" ", 1},
		{"hello", 1},
		{"hello world", 2},
		{"123456789", 3}, // digits split in threes
		{"\n\n", 1},
		{"\xff", 1},                     // invalid UTF-8 becomes U+FFFD
		{"\xff\xfe", 1},                 // and runs of U+FFFD merge
		{strings.Repeat("\xff", 17), 3}, // eight to a token
		{"The quick brown fox jumps over the lazy dog.", 10},
	} {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// randomText builds text from pieces of every class the estimator tells apart, and
// some that it must merely survive (invalid UTF-8, NUL, lone surrogates' encodings).
func randomText(r *rand.Rand, n int) string {
	pieces := []string{
		"the", " quick", "Brown", " FOX", "camelCase", "_id", ".Get", "(x", "/path", "-flag",
		"1", "12345", " ", "   ", "\t", "\n", "\r\n", "\n\n    ", "{", "}", "\":", "();", "=====", "+--+",
		"é", "straße", "Привет", "中文", "。", "，", "ひらがな", "カタカナ", "한국어", "😀", "…", "“", "'s", "'ll",
		"\xff", "\xc3", "\x00", "\xed\xa0\x80", "\u00a0", "\u3000", "\u200b", "x", "Z", "9",
	}
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// Properties every text estimate keeps, on random text: a non-empty text is at least
// one token and never more tokens than bytes (as with a byte-level BPE), and joining
// two texts costs at most the two apart plus what changes at the seam (a punctuation
// run taking the mark that prefixed a word, as the real tokenizer does) and rounding.
func TestTextProperties(t *testing.T) {
	seed := rand.Uint64()
	r := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i < 5000; i++ {
		a, b := randomText(r, r.IntN(40)), randomText(r, r.IntN(40))
		checkTextProperties(t, seed, a, b)
	}
}

func checkTextProperties(t *testing.T, seed uint64, a, b string) {
	t.Helper()
	ea, eb, eab := Text(a), Text(b), Text(a+b)
	for _, c := range []struct {
		s string
		n uint64
	}{{a, ea}, {b, eb}, {a + b, eab}} {
		if c.s == "" && c.n != 0 || c.s != "" && (c.n < 1 || c.n > uint64(len(c.s))) {
			t.Fatalf("seed %d: Text(%q) = %d, want 0 for empty, else 1..%d", seed, c.s, c.n, len(c.s))
		}
	}
	if eab > ea+eb+2 {
		t.Fatalf("seed %d: Text(a+b) = %d > %d + %d + 2 for a=%q b=%q", seed, eab, ea, eb, a, b)
	}
}

func TestTextZeroAllocs(t *testing.T) {
	s := strings.Repeat("Hello, 世界! func main() { return x.Get(42) }\n", 50)
	if n := testing.AllocsPerRun(100, func() { _ = Text(s) }); n != 0 {
		t.Errorf("Text allocates %v times per call, want 0", n)
	}
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You are terse."),
		llms.TextParts(llms.ChatMessageTypeHuman, s),
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{llms.ToolCall{ID: "c1", Type: "function",
			FunctionCall: &llms.FunctionCall{Name: "search", Arguments: `{"q":"x"}`}}}},
		{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{ToolCallID: "c1", Name: "search", Content: "no results"}}},
	}
	if n := testing.AllocsPerRun(100, func() { _ = Default().Estimate(msgs, nil) }); n != 0 {
		t.Errorf("Default().Estimate allocates %v times per call, want 0", n)
	}
}

// llms.ContentPart has an unexported method, so a foreign part type can only embed
// one; that is how a caller's own part types look.
type foreignPart struct {
	llms.ContentPart
	s string
}

func (p foreignPart) String() string { return p.s }

type panickyPart struct{ llms.ContentPart }

func (panickyPart) String() string { panic("boom") }

type opaquePart struct{ llms.ContentPart }

func TestEstimateParts(t *testing.T) {
	e := Default()
	text := "Summarize the attached file in three bullet points."
	one := func(parts ...llms.ContentPart) uint64 {
		return e.Estimate([]llms.MessageContent{{Role: llms.ChatMessageTypeHuman, Parts: parts}}, nil)
	}
	framing := one() // a message with no parts: framing and role only
	if framing != tokensPerMessage+1+tokensPerReply {
		t.Fatalf("empty message = %d, want %d", framing, tokensPerMessage+1+tokensPerReply)
	}
	tc := llms.TextContent{Text: text}
	if got, want := one(tc), framing+Text(text); got != want {
		t.Errorf("text part = %d, want %d", got, want)
	}
	if got, want := one(&tc), one(tc); got != want {
		t.Errorf("*TextContent = %d, TextContent = %d", got, want)
	}
	if got := one(nil, (*llms.TextContent)(nil), (*llms.ImageURLContent)(nil), (*llms.BinaryContent)(nil),
		(*llms.ToolCall)(nil), (*llms.ToolCallResponse)(nil)); got != framing {
		t.Errorf("nil parts = %d, want the bare framing %d", got, framing)
	}
	if got := one(llms.ImageURLContent{URL: "https://example.com/cat.png", Detail: "low"}); got != framing+imageLowDetail {
		t.Errorf("low-detail image = %d, want %d", got, framing+imageLowDetail)
	}
	if got := one(llms.ImageURLContent{URL: "https://example.com/cat.png"}); got != framing+imageUnknown {
		t.Errorf("image of unknown size = %d, want %d", got, framing+imageUnknown)
	}
	png := pngHeader(4000, 1000) // fits to 2048×512, short side stays: 4×1 tiles
	if got, want := one(llms.BinaryPart("image/png", png)), framing+imageBase+4*imagePerTile; got != want {
		t.Errorf("4000×1000 PNG = %d, want %d", got, want)
	}
	dataURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	if got, want := one(llms.ImageURLPart(dataURL)), framing+imageBase+4*imagePerTile; got != want {
		t.Errorf("4000×1000 PNG data URL = %d, want %d", got, want)
	}
	if got, want := one(llms.BinaryPart("text/plain; charset=utf-8", []byte(text))), one(tc); got != want {
		t.Errorf("text/plain binary = %d, want the text's %d", got, want)
	}
	if got, want := one(llms.BinaryPart("application/json", []byte(`{"a":1}`))), framing+Text(`{"a":1}`); got != want {
		t.Errorf("JSON binary = %d, want %d", got, want)
	}
	if got := one(llms.BinaryPart("audio/wav", make([]byte, 1600))); got != framing+101 {
		t.Errorf("1600-byte audio = %d, want %d", got, framing+101)
	}
	if got := one(llms.BinaryPart("audio/wav", nil)); got != framing {
		t.Errorf("empty binary = %d, want %d", got, framing)
	}
	call := llms.ToolCall{ID: "call_1", Type: "function", FunctionCall: &llms.FunctionCall{Name: "get_weather", Arguments: `{"city":"Lisbon"}`}}
	if got, want := one(call), framing+tokensPerToolUse+Text("get_weather")+Text(`{"city":"Lisbon"}`); got != want {
		t.Errorf("tool call = %d, want %d", got, want)
	}
	if got := one(llms.ToolCall{ID: "call_1"}); got != framing+tokensPerToolUse {
		t.Errorf("tool call without function = %d, want %d", got, framing+tokensPerToolUse)
	}
	resp := llms.ToolCallResponse{ToolCallID: "call_1", Name: "get_weather", Content: "Sunny, 19°C."}
	if got, want := one(resp), framing+tokensPerMessage+1+Text("get_weather")+Text("Sunny, 19°C."); got != want {
		t.Errorf("tool response = %d, want %d", got, want)
	}
	if got, want := one(foreignPart{s: text}), one(tc); got != want {
		t.Errorf("foreign Stringer part = %d, want its text's %d", got, want)
	}
	if got := one(panickyPart{}); got != framing+4 {
		t.Errorf("part whose String panics = %d, want %d", got, framing+4)
	}
	if got := one(opaquePart{}); got != framing+4 {
		t.Errorf("opaque part = %d, want %d", got, framing+4)
	}
}

func TestEstimateEmpty(t *testing.T) {
	e := Default()
	if got := e.Estimate(nil, nil); got != 0 {
		t.Errorf("Estimate(nil, nil) = %d, want 0", got)
	}
	if got := e.Estimate([]llms.MessageContent{}, &llms.CallOptions{}); got != 0 {
		t.Errorf("Estimate(empty, empty opts) = %d, want 0", got)
	}
	if got := New(nil).Estimate([]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hi")}, nil); got != e.Estimate([]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hi")}, nil) {
		t.Errorf("New(nil) differs from Default: %d", got)
	}
}

// The tools' JSON is what encoding/json would produce, so that the exact estimator
// counts what a provider is sent.
func TestEstimateToolsJSON(t *testing.T) {
	params := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"city":  map[string]any{"type": "string", "description": "City name, e.g. \"Zürich\""},
			"days":  map[string]any{"type": "integer", "minimum": 1, "maximum": 7.5},
			"units": map[string]string{"type": "string"},
			"tags":  []any{"a", true, nil, int64(3)},
			"enum":  []string{"c", "f"},
			"list":  []map[string]any{{"k": "v"}},
			"raw":   json.RawMessage(`{"x":[1,2]}`),
			"strct": struct{ A int }{A: 1},
			"bad":   make(chan int),
		},
		"required": []string{"city"},
	}
	got := appendJSON(nil, params, 0)
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("appendJSON gave invalid JSON %s: %v", got, err)
	}
	delete(params["properties"].(map[string]any), "bad")
	want, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	var w any
	_ = json.Unmarshal(want, &w)
	gotNoBad := v.(map[string]any)["properties"].(map[string]any)
	if gotNoBad["bad"] != nil {
		t.Errorf("unencodable value = %v, want null", gotNoBad["bad"])
	}
	delete(gotNoBad, "bad")
	g, _ := json.Marshal(v)
	w2, _ := json.Marshal(w)
	if string(g) != string(w2) {
		t.Errorf("appendJSON =\n%s\nwant\n%s", g, w2)
	}

	// A schema that contains itself is cut off, not followed forever.
	loop := map[string]any{"type": "object"}
	loop["self"] = loop
	if b := appendJSON(nil, loop, 0); !json.Valid(b) {
		t.Errorf("self-containing schema gave invalid JSON")
	}

	e := Default()
	fn := &llms.FunctionDefinition{Name: "get_weather", Description: "Weather for a city.", Parameters: params}
	withTools := e.Estimate(nil, &llms.CallOptions{Tools: []llms.Tool{{Type: "function", Function: fn}}})
	if withTools < 40 {
		t.Errorf("a tool with a schema costs %d tokens, want the schema counted", withTools)
	}
	withFuncs := e.Estimate(nil, &llms.CallOptions{Functions: []llms.FunctionDefinition{*fn}})
	if withFuncs >= withTools || withFuncs < withTools-10 {
		t.Errorf("deprecated Functions = %d, Tools = %d: want nearly the same", withFuncs, withTools)
	}
	choice := e.Estimate(nil, &llms.CallOptions{Functions: []llms.FunctionDefinition{*fn}, ToolChoice: "auto"})
	if choice <= withFuncs {
		t.Errorf("ToolChoice not counted: %d <= %d", choice, withFuncs)
	}
	if got := e.Estimate(nil, &llms.CallOptions{Tools: []llms.Tool{{}}, ToolChoice: llms.ToolChoice{Type: "function"}}); got == 0 {
		t.Errorf("an empty tool costs nothing")
	}
}

type panicMarshaler struct{}

func (panicMarshaler) MarshalJSON() ([]byte, error) { panic("boom") }

type errMarshaler struct{}

func (errMarshaler) MarshalJSON() ([]byte, error) { return nil, errors.New("no") }

func TestEstimateToolsBadParameters(t *testing.T) {
	e := Default()
	for _, p := range []any{panicMarshaler{}, errMarshaler{}, make(chan int), func() {}, []byte("not json"), "raw"} {
		fn := &llms.FunctionDefinition{Name: "f", Parameters: p}
		if got := e.Estimate(nil, &llms.CallOptions{Tools: []llms.Tool{{Type: "function", Function: fn}}}); got == 0 {
			t.Errorf("parameters %T: estimate 0", p)
		}
	}
}

func TestEstimateConcurrent(t *testing.T) {
	e := Default()
	fn := &llms.FunctionDefinition{Name: "f", Parameters: map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}}
	opts := &llms.CallOptions{Tools: []llms.Tool{{Type: "function", Function: fn}}}
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, strings.Repeat("concurrency ", 100))}
	want := e.Estimate(msgs, opts)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if got := e.Estimate(msgs, opts); got != want {
					t.Errorf("concurrent Estimate = %d, want %d", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func pngHeader(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x00\x00\x00\x00\x00\x08\x06\x00\x00\x00")
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	return b
}

func jpegHeader(w, h uint16) []byte {
	b := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
		0xFF, 0xFE, 0x00, 0x04, 'h', 'i', // a comment segment to skip
		0xFF, 0xC0, 0x00, 0x11, 0x08, 0, 0, 0, 0, 0x03}
	binary.BigEndian.PutUint16(b[31:], h)
	binary.BigEndian.PutUint16(b[33:], w)
	return b
}

func TestImageSize(t *testing.T) {
	gif := []byte("GIF89a\x00\x00\x00\x00")
	binary.LittleEndian.PutUint16(gif[6:], 640)
	binary.LittleEndian.PutUint16(gif[8:], 480)
	vp8x := make([]byte, 30)
	copy(vp8x, "RIFF\x00\x00\x00\x00WEBPVP8X")
	vp8x[24], vp8x[25] = 0xFF, 0x03 // width-1 = 1023
	vp8x[27], vp8x[28] = 0xFF, 0x01 // height-1 = 511
	vp8l := make([]byte, 30)
	copy(vp8l, "RIFF\x00\x00\x00\x00WEBPVP8L")
	vp8l[20] = 0x2F
	binary.LittleEndian.PutUint32(vp8l[21:], (300-1)|(200-1)<<14)
	vp8 := make([]byte, 30)
	copy(vp8, "RIFF\x00\x00\x00\x00WEBPVP8 ")
	binary.LittleEndian.PutUint16(vp8[26:], 800)
	binary.LittleEndian.PutUint16(vp8[28:], 600)
	for _, tc := range []struct {
		name string
		b    []byte
		w, h uint64
		ok   bool
	}{
		{"png", pngHeader(1920, 1080), 1920, 1080, true},
		{"gif", gif, 640, 480, true},
		{"jpeg", jpegHeader(1024, 768), 1024, 768, true},
		{"webp-vp8x", vp8x, 1024, 512, true},
		{"webp-vp8l", vp8l, 300, 200, true},
		{"webp-vp8", vp8, 800, 600, true},
		{"png-zero", pngHeader(0, 10), 0, 10, false},
		{"png-truncated", pngHeader(10, 10)[:20], 0, 0, false},
		{"jpeg-truncated", jpegHeader(10, 10)[:30], 0, 0, false},
		{"jpeg-bad-segment", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0, 0}, 0, 0, false},
		{"jpeg-scan-first", []byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x04, 0, 0}, 0, 0, false},
		{"empty", nil, 0, 0, false},
		{"text", []byte("hello, world, this is not an image at all"), 0, 0, false},
	} {
		w, h, ok := imageSize(tc.b)
		if ok != tc.ok || ok && (w != tc.w || h != tc.h) {
			t.Errorf("%s: imageSize = %d×%d %v, want %d×%d %v", tc.name, w, h, ok, tc.w, tc.h, tc.ok)
		}
	}
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"data:image/png;base64," + base64.StdEncoding.EncodeToString(pngHeader(10, 20)), true},
		{"DATA:image/jpeg;BASE64," + base64.StdEncoding.EncodeToString(jpegHeader(10, 20)), true},
		{"data:image/png," + string(pngHeader(10, 20)), false}, // not base64
		{"data:image/png;base64,!!!!", false},
		{"data:image/png;base64", false},
		{"https://example.com/a.png", false},
		{"", false},
	} {
		if _, _, ok := dataURLImageSize(tc.url); ok != tc.ok {
			t.Errorf("dataURLImageSize(%.40q) ok = %v, want %v", tc.url, ok, tc.ok)
		}
	}
}

func TestImageTiles(t *testing.T) {
	for _, tc := range []struct{ w, h, want uint64 }{
		{512, 512, imageBase + imagePerTile},
		{1024, 1024, imageBase + 4*imagePerTile}, // short side to 768: 2×2
		{2048, 4096, imageBase + 6*imagePerTile}, // to 1024×2048, then 768×1536: 2×3
		{100, 100000, imageBase + 4*imagePerTile},
		{1, 1, imageBase + imagePerTile},
		{0, 5, imageUnknown},
		{1 << 40, 1 << 40, imageBase + 4*imagePerTile},
	} {
		if got := imageTiles(tc.w, tc.h); got != tc.want {
			t.Errorf("imageTiles(%d, %d) = %d, want %d", tc.w, tc.h, got, tc.want)
		}
	}
}

func TestIsTextMIME(t *testing.T) {
	for mime, want := range map[string]bool{
		"text/plain": true, "TEXT/HTML": true, "application/json": true, "application/ld+json": true,
		"application/xml; charset=utf-8": true, "application/x-yaml": true, "image/png": false,
		"application/pdf": false, "": false, "audio/mpeg": false,
	} {
		if got := isTextMIME(mime); got != want {
			t.Errorf("isTextMIME(%q) = %v, want %v", mime, got, want)
		}
	}
}

// Invalid UTF-8 costs what the U+FFFD it becomes on the wire costs.
func TestTextInvalidUTF8(t *testing.T) {
	for _, s := range []string{"\xff", "a\xffb", "0000\xe600A000", strings.Repeat("\xb4", 40), "x\xc3(y"} {
		if utf8.ValidString(s) {
			t.Fatalf("%q is valid", s)
		}
		// Each bad byte is its own U+FFFD for tiktoken and encoding/json.
		perByte := strings.Map(func(r rune) rune { return r }, s)
		if !utf8.ValidString(perByte) || !strings.ContainsRune(perByte, utf8.RuneError) {
			t.Fatalf("%q: no U+FFFD in %q", s, perByte)
		}
		if got, want := Text(s), Text(perByte); got != want {
			t.Errorf("Text(%q) = %d, its U+FFFD form %q = %d", s, got, perByte, want)
		}
	}
}

// A counter given to New may keep what it is given: texts built in reused
// buffers reach it as copies.
func TestNewCounterMayKeepStrings(t *testing.T) {
	var mu sync.Mutex
	var kept []string
	e := New(func(s string) uint64 {
		mu.Lock()
		kept = append(kept, s)
		mu.Unlock()
		return uint64(len(s))
	})
	tool := func(name string) *llms.CallOptions {
		return &llms.CallOptions{Tools: []llms.Tool{{Type: "function", Function: &llms.FunctionDefinition{
			Name: name, Parameters: map[string]any{"type": "object"}}}}}
	}
	data := []byte("some text/plain data")
	e.Estimate([]llms.MessageContent{{Role: "human", Parts: []llms.ContentPart{llms.BinaryPart("text/plain", data)}}}, tool("first"))
	snapshot := slices.Clone(kept)
	for i := 0; i < 10; i++ {
		e.Estimate(nil, tool(strings.Repeat("x", 30+i)))
	}
	copy(data, "XXXXXXXXXXXXXXXXXXXX")
	for i, s := range snapshot {
		if kept[i] != s {
			t.Fatalf("kept string %d changed from %q to %q", i, s, kept[i])
		}
	}
	if !slices.ContainsFunc(snapshot, func(s string) bool { return strings.Contains(s, `"name":"first"`) }) {
		t.Errorf("the tool's JSON never reached the counter: %q", snapshot)
	}
}
