package estimate

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"
)

func FuzzText(f *testing.F) {
	for _, s := range []string{
		"", "a", "hello world", "The quick brown fox.", "func main() {\n\tfmt.Println(42)\n}\n",
		`{"a":[1,2,{"b":null}]}`, "大语言模型的成本控制。", "生成AIの利用料金", "한국어 텍스트", "Привет, мир!",
		"😀👍🏽", "\xff\xfe\x00", "=====\n-----", "   \n\n\t\t", "HTTPServer camelCase _id .Get (x /p -f",
		"it's we'll they're I'M", "\u00a0\u3000\u200b", strings.Repeat("9", 100),
	} {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		checkTextProperties(t, 0, a, b)
	})
}

// fuzzMessages builds messages and options from fuzz input, one byte choosing each
// next element, the rest of the input feeding the strings.
func fuzzMessages(data []byte) ([]llms.MessageContent, *llms.CallOptions) {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		c := data[0]
		data = data[1:]
		return c
	}
	str := func() string {
		n := int(next()) % 48
		n = min(n, len(data))
		s := string(data[:n])
		data = data[n:]
		return s
	}
	roles := []llms.ChatMessageType{"", llms.ChatMessageTypeSystem, llms.ChatMessageTypeHuman, llms.ChatMessageTypeAI,
		llms.ChatMessageTypeTool, llms.ChatMessageTypeGeneric, llms.ChatMessageTypeFunction}
	var msgs []llms.MessageContent
	if next()%8 == 0 {
		msgs = nil
	} else {
		msgs = []llms.MessageContent{}
	}
	for len(data) > 0 && len(msgs) < 16 {
		m := llms.MessageContent{Role: roles[int(next())%len(roles)]}
		for k := int(next()) % 5; k > 0 && len(data) > 0; k-- {
			var p llms.ContentPart
			switch next() % 12 {
			case 0:
				p = nil
			case 1:
				p = llms.TextContent{Text: str()}
			case 2:
				p = &llms.TextContent{Text: str()}
			case 3:
				p = llms.ImageURLContent{URL: str(), Detail: str()}
			case 4:
				p = llms.ImageURLContent{URL: "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte(str()))}
			case 5:
				p = llms.BinaryContent{MIMEType: str(), Data: []byte(str())}
			case 6:
				p = llms.BinaryContent{MIMEType: "image/jpeg", Data: append([]byte{0xFF, 0xD8}, str()...)}
			case 7:
				p = llms.ToolCall{ID: str(), Type: str(), FunctionCall: &llms.FunctionCall{Name: str(), Arguments: str()}}
			case 8:
				p = llms.ToolCall{ID: str()}
			case 9:
				p = llms.ToolCallResponse{ToolCallID: str(), Name: str(), Content: str()}
			case 10:
				p = (*llms.ToolCall)(nil)
			default:
				p = foreignPart{s: str()}
			}
			m.Parts = append(m.Parts, p)
		}
		msgs = append(msgs, m)
	}
	var opts *llms.CallOptions
	if c := next(); c%3 != 0 {
		opts = &llms.CallOptions{}
		if c%3 == 2 {
			params := map[string]any{"type": "object", str(): map[string]any{str(): []any{str(), float64(c), nil, true}}}
			opts.Tools = []llms.Tool{{Type: "function", Function: &llms.FunctionDefinition{Name: str(), Description: str(), Parameters: params}}, {Type: str()}}
			opts.Functions = []llms.FunctionDefinition{{Name: str(), Parameters: []byte(str())}}
			opts.ToolChoice = str()
		}
	}
	return msgs, opts
}

// FuzzEstimate checks that no input makes the default estimator panic, that it is
// deterministic, and that any message costs at least its framing.
func FuzzEstimate(f *testing.F) {
	f.Add([]byte("\x01\x02\x03\x01\x05hello\x09\x03abc\x04tool\x02ok"))
	f.Add([]byte("\x00"))
	f.Add([]byte(""))
	f.Add([]byte("\x07\x04\x04\x06\x10\xff\xd8\xff\xc0\x00\x11\x08\x01\x00\x02\x00\x03\x02\x02"))
	f.Add([]byte("\x05\x01\x02\x05\x30data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAY=\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, opts := fuzzMessages(data)
		e := Default()
		n := e.Estimate(msgs, opts)
		if again := e.Estimate(msgs, opts); again != n {
			t.Fatalf("Estimate not deterministic: %d then %d", n, again)
		}
		if len(msgs) > 0 && n < uint64(len(msgs))*tokensPerMessage+tokensPerReply {
			t.Fatalf("Estimate = %d for %d messages, below their framing", n, len(msgs))
		}
		for k := range msgs { // a conversation never costs less than its beginning
			if p := e.Estimate(msgs[:k], opts); p > n {
				t.Fatalf("first %d messages cost %d, all %d cost %d", k, p, len(msgs), n)
			}
		}
		pe := e.(ProviderEstimator)
		if got := pe.EstimateFor(Other, msgs, opts); got != n {
			t.Fatalf("EstimateFor(Other) = %d, Estimate = %d", got, n)
		}
		for p := OpenAI; p <= Ollama+1; p++ {
			r := rulesFor(p)
			np := pe.EstimateFor(p, msgs, opts)
			if len(msgs) > 0 && np < uint64(len(msgs))*r.perMessage+r.perReply {
				t.Fatalf("%v: %d for %d messages, below their framing", p, np, len(msgs))
			}
			for k := range msgs {
				if q := pe.EstimateFor(p, msgs[:k], opts); q > np {
					t.Fatalf("%v: first %d messages cost %d, all cost %d", p, k, q, np)
				}
			}
		}
	})
}

// FuzzImageSize feeds arbitrary bytes to the image header readers, raw and as a data
// URL: they must not panic, and a size they report must be positive.
func FuzzImageSize(f *testing.F) {
	f.Add(pngHeader(640, 480))
	f.Add(jpegHeader(1024, 768))
	f.Add([]byte("GIF89a\x80\x02\xe0\x01"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8X\x00\x00\x00\x00\x00\x00\x00\x00\xff\x03\x00\xff\x01\x00"))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0x01, 0xFF, 0xD0, 0xFF, 0xC2, 0x00, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		if w, h, ok := imageSize(b); ok && (w == 0 || h == 0) {
			t.Fatalf("imageSize reported %d×%d as ok", w, h)
		}
		url := "data:image/png;base64," + base64.StdEncoding.EncodeToString(b)
		w1, h1, ok1 := dataURLImageSize(url)
		w2, h2, ok2 := imageSize(b)
		if len(b) < maxImageHeader/2 && (ok1 != ok2 || w1 != w2 || h1 != h2) {
			t.Fatalf("data URL says %d×%d %v, raw bytes %d×%d %v", w1, h1, ok1, w2, h2, ok2)
		}
		_, _, _ = dataURLImageSize("data:image/png;base64," + string(b))
		if n := imageURLCost(rulesFor(Other), llms.ImageURLContent{URL: url}); n < imageBase {
			t.Fatalf("image cost %d below the base %d", n, imageBase)
		}
		for p := Other; p <= Ollama; p++ {
			if n := imageURLCost(rulesFor(p), llms.ImageURLContent{URL: url}); n == 0 || n > 1<<20 {
				t.Fatalf("%v: image cost %d", p, n)
			}
		}
	})
}

// FuzzModelName feeds arbitrary model names (outside data: whatever a caller or a
// router names) to the rules chosen from them: no panic, no allocation beyond the
// estimator's, deterministic estimates that cover the chosen rules' framing, and a
// Claude generation that is a number of two digits at most.
func FuzzModelName(f *testing.F) {
	for _, m := range []string{"", "gpt-4o", "anthropic/claude-sonnet-4.5", "claude-sonnet-4-5-20250929", "claude-9",
		"meta-llama/Llama-4-Scout-17B-16E-Instruct", "gemini-2.5-flash", "gemini-", "gpt-oss:20b", "deepseek-r1/",
		"/", "claude-4.", "CLAUDE-3-7-SONNET", "pixtral-12b-latest", "\xff\xfeclaude"} {
		f.Add(m)
	}
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "Be brief."),
		llms.TextParts(llms.ChatMessageTypeHuman, "What's the weather in Paris?"),
		llms.TextParts(llms.ChatMessageTypeAI, "<think>hmm</think>Sunny."),
	}
	tool := llms.Tool{Type: "function", Function: &llms.FunctionDefinition{Name: "get_weather",
		Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}
	f.Fuzz(func(t *testing.T, model string) {
		if v := claudeVersion(model); v < 0 || v > 99 {
			t.Fatalf("claudeVersion(%q) = %d", model, v)
		}
		var buf [64]byte
		if l := lowerASCII(&buf, model); len(l) > len(model) || len(l) > len(buf) {
			t.Fatalf("lowerASCII(%q) = %q", model, l)
		}
		for p := Other; p <= Ollama+1; p++ {
			o := &llms.CallOptions{Model: model, Tools: []llms.Tool{tool}}
			n := defaultEstimator.EstimateFor(p, msgs, o)
			if again := defaultEstimator.EstimateFor(p, msgs, o); again != n {
				t.Fatalf("%v %q: %d then %d", p, model, n, again)
			}
			r := rulesFor(p)
			if m := modelRules(p, model); m != nil {
				r = m
			}
			if n < uint64(len(msgs))*r.perMessage+r.perReply+r.hidden {
				t.Fatalf("%v %q: %d, below the framing of its rules", p, model, n)
			}
			if o.Model != model {
				t.Fatalf("EstimateFor changed opts.Model to %q", o.Model)
			}
		}
	})
}
