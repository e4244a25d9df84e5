package estimate

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

// Token costs of the chat framing, as OpenAI documents them for its chat models (gpt-4o
// and later): every message is wrapped in start/role/separator/end tokens, and the
// reply is primed with three more. Other providers frame messages differently, but
// within a few tokens.
const (
	tokensPerMessage = 3 // <|start|>{role}<|message|>...<|end|>, the role counted apart
	tokensPerReply   = 3 // <|start|>assistant<|message|>
	tokensPerToolUse = 3 // the call's framing inside an assistant message
	tokensPerToolDef = 8 // "functions" namespace header and per-tool framing
)

// Image costs follow OpenAI's high-detail tiling (85 base + 170 per 512-px tile, after
// scaling into 2048×2048 and the short side to 768), the most expensive common case.
// An image whose size cannot be read is costed as a 1024×1024 image.
const (
	imageLowDetail = 85
	imageBase      = 85
	imagePerTile   = 170
	imageUnknown   = imageBase + 4*imagePerTile // 1024×1024: 2×2 tiles
)

// Default returns the estimator used when none is configured. It counts text with
// Text and adds the framing of messages, tool calls, tool results, images and the tool
// definitions in the call options (their JSON schema is sent with every call), under
// the rules of the provider EstimateFor is given. It uses no network and no tables,
// allocates nothing for text and tool-call messages, and is safe for concurrent use.
// Nil messages, nil options, nil or unknown parts never make it panic: unknown parts
// are costed by their fmt.Stringer text when they have one, else as a few tokens.
func Default() ProviderEstimator { return defaultEstimator }

// defaultEstimator is boxed once, so that Default does not allocate.
var defaultEstimator ProviderEstimator = accounting{count: Text, borrow: true}

// New returns an estimator with Default's accounting (message framing, images, tool
// calls and tool definitions, provider rules) that counts text with countText, a real
// tokenizer for instance. countText receives each text separately (it may keep the
// strings, they are never reused) and must be safe for concurrent use. A nil
// countText means Text.
func New(countText func(text string) uint64) ProviderEstimator {
	if countText == nil {
		return defaultEstimator
	}
	return accounting{count: countText}
}

var _ llmwrap.Estimator = accounting{}

type accounting struct {
	count func(string) uint64
	// borrow is true when count is known not to keep its argument, so that texts
	// built in a reused buffer (tool schemas) or lent by the caller (binary parts)
	// can be passed without a copy.
	borrow bool
}

// countBytes counts b as text, copying it unless count is known not to keep it.
func (a accounting) countBytes(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	if a.borrow {
		return a.count(unsafe.String(unsafe.SliceData(b), len(b)))
	}
	return a.count(string(b))
}

// Estimate sums the framing of each message, its role, its parts, the reply
// priming, and the tool definitions in opts.
func (a accounting) Estimate(msgs []llms.MessageContent, opts *llms.CallOptions) uint64 {
	return a.estimate(&providerRules[Other], msgs, opts)
}

// EstimateFor is Estimate under provider p's published rules (see Provider).
// opts.Model, when set, refines the rules (see modelRules).
func (a accounting) EstimateFor(p Provider, msgs []llms.MessageContent, opts *llms.CallOptions) uint64 {
	r := rulesFor(p)
	if opts != nil && opts.Model != "" {
		if m := modelRules(p, opts.Model); m != nil {
			r = m
		}
	}
	return a.estimate(r, msgs, opts)
}

func (a accounting) estimate(r *rules, msgs []llms.MessageContent, opts *llms.CallOptions) uint64 {
	var n uint64
	for i := range msgs {
		m := &msgs[i]
		n += r.perMessage
		if r.roleText && m.Role != "" {
			n += a.count(string(m.Role))
		}
		strip := r.stripThink && m.Role == llms.ChatMessageTypeAI
		for _, p := range m.Parts {
			if strip {
				n += a.withoutThinking(r, p)
				continue
			}
			n += a.part(r, p)
		}
	}
	if len(msgs) > 0 {
		n += r.perReply + r.hidden
	}
	if opts != nil {
		if !r.noTools && !(r.noToolsOnNone && opts.ToolChoice == "none") {
			n += a.tools(r, opts)
		}
		if r.thinkingPrompt != 0 && thinking(opts) {
			n += r.thinkingPrompt
		}
	}
	return n
}

// thinking reports whether opts enable extended thinking (llms.WithThinking and its
// kin, which keep it in Metadata).
func thinking(o *llms.CallOptions) bool {
	if o.Metadata == nil {
		return false
	}
	c, ok := o.Metadata["thinking_config"].(*llms.ThinkingConfig)
	return ok && c != nil && c.Mode != llms.ThinkingModeNone && c.Mode != ""
}

// withoutThinking costs an earlier assistant turn's part without the reasoning
// between <think> and </think>, which the host drops from the history.
func (a accounting) withoutThinking(r *rules, p llms.ContentPart) uint64 {
	var text string
	switch t := unwrapCached(p).(type) {
	case llms.TextContent:
		text = t.Text
	case *llms.TextContent:
		if t == nil {
			return 0
		}
		text = t.Text
	default:
		return a.part(r, p)
	}
	var n uint64
	for {
		i := strings.Index(text, "<think>")
		if i < 0 {
			return n + a.count(text)
		}
		n += a.count(text[:i])
		j := strings.Index(text[i:], "</think>")
		if j < 0 {
			return n // reasoning to the end: none of it is billed
		}
		text = strings.TrimLeft(text[i+j+len("</think>"):], " \t\r\n")
	}
}

// maxCacheWraps bounds how many llms.CachedContent wrappers are unwrapped, so that
// one that contains itself cannot loop.
const maxCacheWraps = 8

func (a accounting) part(r *rules, p llms.ContentPart) uint64 {
	switch p := p.(type) {
	case nil:
		return 0
	case llms.TextContent:
		return a.count(p.Text)
	case *llms.TextContent:
		if p == nil {
			return 0
		}
		return a.count(p.Text)
	case llms.ImageURLContent:
		return imageURLCost(r, p)
	case *llms.ImageURLContent:
		if p == nil {
			return 0
		}
		return imageURLCost(r, *p)
	case llms.BinaryContent:
		return a.binary(r, p.MIMEType, p.Data)
	case *llms.BinaryContent:
		if p == nil {
			return 0
		}
		return a.binary(r, p.MIMEType, p.Data)
	case llms.ToolCall:
		return a.toolCall(r, &p)
	case *llms.ToolCall:
		if p == nil {
			return 0
		}
		return a.toolCall(r, p)
	case llms.ToolCallResponse:
		return a.toolResponse(r, &p)
	case *llms.ToolCallResponse:
		if p == nil {
			return 0
		}
		return a.toolResponse(r, p)
	case llms.CachedContent, *llms.CachedContent: // llms.WithCacheControl: bill what it wraps
		return a.part(r, unwrapCached(p))
	default:
		return a.unknown(p)
	}
}

// unwrapCached returns the part p's llms.CachedContent wrappers hold, or nil for a
// nil one or one wrapped more than maxCacheWraps deep (which could contain itself).
func unwrapCached(p llms.ContentPart) llms.ContentPart {
	for range maxCacheWraps {
		switch c := p.(type) {
		case llms.CachedContent:
			p = c.ContentPart
		case *llms.CachedContent:
			if c == nil {
				return nil
			}
			p = c.ContentPart
		default:
			return p
		}
	}
	return nil
}

func (a accounting) toolCall(r *rules, c *llms.ToolCall) uint64 {
	n := r.perToolUse
	if f := c.FunctionCall; f != nil {
		n += a.count(f.Name) + a.count(f.Arguments)
	}
	return n
}

// A tool result travels as a message of its own (role "tool", its call's ID).
func (a accounting) toolResponse(r *rules, t *llms.ToolCallResponse) uint64 {
	return r.perMessage + 1 + a.count(t.Name) + a.count(t.Content)
}

// unknown costs a part type this package does not know: a future langchaingo type, or
// a caller's own. A panicking String method is the caller's bug, but must not take the
// call down with it.
func (a accounting) unknown(p llms.ContentPart) (n uint64) {
	const guess = 4
	s, ok := p.(interface{ String() string })
	if !ok {
		return guess
	}
	defer func() {
		if recover() != nil {
			n = guess
		}
	}()
	return a.count(s.String())
}

func imageURLCost(r *rules, p llms.ImageURLContent) uint64 {
	if r.imageLow != 0 && strings.EqualFold(p.Detail, "low") {
		return r.imageLow
	}
	if w, h, ok := dataURLImageSize(p.URL); ok {
		return r.image(w, h)
	}
	return r.imageUnknown
}

// binary costs an inline file: images by their size, text by its tokens, anything
// else (audio, PDF) roughly by its bytes, which providers bill in ways no estimate
// without decoding the file can follow.
func (a accounting) binary(r *rules, mime string, data []byte) uint64 {
	if len(data) == 0 {
		return 0
	}
	switch {
	case hasPrefixFold(mime, "image/"):
		if w, h, ok := imageSize(data); ok {
			return r.image(w, h)
		}
		return r.imageUnknown
	case isTextMIME(mime):
		return a.countBytes(data)
	default:
		return uint64(len(data))/16 + 1
	}
}

func isTextMIME(mime string) bool {
	if hasPrefixFold(mime, "text/") {
		return true
	}
	for _, suffix := range [...]string{"json", "xml", "yaml", "javascript", "csv", "markdown", "x-sh"} {
		if i := strings.IndexByte(mime, ';'); i >= 0 {
			mime = mime[:i]
		}
		if len(mime) >= len(suffix) && strings.EqualFold(mime[len(mime)-len(suffix):], suffix) {
			return true
		}
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// imageTiles is OpenAI's high-detail image cost for a w×h image.
func imageTiles(w, h uint64) uint64 {
	if w == 0 || h == 0 {
		return imageUnknown
	}
	// Fit into 2048×2048, then scale the short side down to 768.
	if w > 2048 || h > 2048 {
		if w >= h {
			h, w = max(h*2048/w, 1), 2048
		} else {
			w, h = max(w*2048/h, 1), 2048
		}
	}
	if s := min(w, h); s > 768 {
		w, h = max(w*768/s, 1), max(h*768/s, 1)
	}
	tiles := ((w + 511) / 512) * ((h + 511) / 512)
	return imageBase + imagePerTile*tiles
}

// tools costs the tool definitions sent with the call: their JSON, as OpenAI renders
// them into the system prompt (it renders a TypeScript-like form that is a little
// shorter, so this errs high), plus a few tokens of framing each.
func (a accounting) tools(r *rules, o *llms.CallOptions) uint64 {
	if len(o.Tools) == 0 && len(o.Functions) == 0 {
		return 0
	}
	var n uint64
	if r.toolPrompt != nil {
		n += r.toolPrompt(o)
	}
	if r.compactTools {
		return n + a.compactTools(r, o)
	}
	bp := jsonBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	for i := range o.Tools {
		t := &o.Tools[i]
		n += r.perToolDef
		buf = buf[:0]
		if r.bareFunctions {
			if t.Function != nil {
				n += a.countBytes(appendFunction(buf, t.Function))
			}
			continue
		}
		buf = append(buf, `{"type":`...)
		buf = strconv.AppendQuote(buf, t.Type)
		if t.Function != nil {
			buf = append(buf, `,"function":`...)
			buf = appendFunction(buf, t.Function)
		}
		buf = append(buf, '}')
		n += a.countBytes(buf)
	}
	for i := range o.Functions {
		n += r.perToolDef
		buf = appendFunction(buf[:0], &o.Functions[i])
		n += a.countBytes(buf)
	}
	if s, ok := o.ToolChoice.(string); ok {
		n += a.count(s)
	} else if o.ToolChoice != nil {
		n += 8
	}
	if cap(buf) <= 64<<10 { // don't pin one huge schema's buffer forever
		*bp = buf[:0]
		jsonBufs.Put(bp)
	}
	return n
}

var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func appendFunction(buf []byte, f *llms.FunctionDefinition) []byte {
	buf = append(buf, `{"name":`...)
	buf = strconv.AppendQuote(buf, f.Name)
	if f.Description != "" {
		buf = append(buf, `,"description":`...)
		buf = strconv.AppendQuote(buf, f.Description)
	}
	if f.Parameters != nil {
		buf = append(buf, `,"parameters":`...)
		buf = appendJSON(buf, f.Parameters, 0)
	}
	return append(buf, '}')
}

// maxJSONDepth bounds the walk of a schema, which could contain itself.
const maxJSONDepth = 32

// appendJSON appends v as JSON. The types a schema is usually built from (maps,
// slices, strings, numbers, raw JSON) are walked without allocating beyond the
// buffer; anything else goes through encoding/json, and what cannot be encoded is
// costed as null.
func appendJSON(buf []byte, v any, depth int) []byte {
	if depth > maxJSONDepth {
		return append(buf, "null"...)
	}
	switch v := v.(type) {
	case nil:
		return append(buf, "null"...)
	case string:
		return strconv.AppendQuote(buf, v)
	case bool:
		return strconv.AppendBool(buf, v)
	case float64:
		return strconv.AppendFloat(buf, v, 'g', -1, 64)
	case int:
		return strconv.AppendInt(buf, int64(v), 10)
	case int64:
		return strconv.AppendInt(buf, v, 10)
	case json.RawMessage:
		return append(buf, v...)
	case []byte: // a schema kept as raw JSON text
		return append(buf, v...)
	case map[string]any:
		return appendObject(buf, v, func(buf []byte, x any) []byte { return appendJSON(buf, x, depth+1) })
	case map[string]string:
		return appendObject(buf, v, strconv.AppendQuote)
	case []any:
		buf = append(buf, '[')
		for i, e := range v {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSON(buf, e, depth+1)
		}
		return append(buf, ']')
	case []string:
		buf = append(buf, '[')
		for i, e := range v {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendQuote(buf, e)
		}
		return append(buf, ']')
	case []map[string]any:
		buf = append(buf, '[')
		for i, e := range v {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSON(buf, e, depth+1)
		}
		return append(buf, ']')
	default:
		return appendMarshaled(buf, v)
	}
}

func appendMarshaled(buf []byte, v any) (out []byte) {
	defer func() {
		if recover() != nil { // a MarshalJSON method that panics
			out = append(buf, "null"...)
		}
	}()
	b, err := json.Marshal(v)
	if err != nil {
		return append(buf, "null"...)
	}
	return append(buf, b...)
}

// appendObject appends m as a JSON object with its keys sorted, as encoding/json
// does, so that a count never depends on map order.
func appendObject[V any](buf []byte, m map[string]V, value func([]byte, V) []byte) []byte {
	var arr [32]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendQuote(buf, k)
		buf = append(buf, ':')
		buf = value(buf, m[k])
	}
	return append(buf, '}')
}
