package otel

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/tmc/langchaingo/llms"
	"go.uber.org/goleak"
)

func TestGuessProvider(t *testing.T) {
	for typ, want := range map[string]string{
		"*openai.LLM":           "openai",
		"*anthropic.LLM":        "anthropic",
		"*ollama.LLM":           "ollama",
		"*googleai.GoogleAI":    "gcp.gemini",
		"*vertex.Vertex":        "gcp.vertex_ai",
		"*bedrock.LLM":          "aws.bedrock",
		"*mistral.Model":        "mistral_ai",
		"*cohere.LLM":           "cohere",
		"*watsonx.LLM":          "ibm.watsonx.ai",
		"*fake.LLM":             "_OTHER",
		"otel_test.scriptedLLM": "_OTHER",
		"":                      "_OTHER",
		"<nil>":                 "_OTHER",
		"*":                     "_OTHER",
	} {
		if got := guessProvider(typ); got != want {
			t.Errorf("guessProvider(%q) = %q, want %q", typ, got, want)
		}
	}
}

func TestToInt64Saturates(t *testing.T) {
	if toInt64(math.MaxUint64) != math.MaxInt64 || toInt64(7) != 7 {
		t.Error("toInt64")
	}
}

func TestFinishReasonMapping(t *testing.T) {
	for in, want := range map[string]string{
		"": "stop", "stop": "stop", "end_turn": "stop", "STOP": "stop", "max_tokens": "length", "length": "length",
		"tool_use": "tool_call", "tool_calls": "tool_call", "content_filter": "content_filter", "weird": "weird",
	} {
		if got := finishReason(in); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzContentMessages feeds arbitrary text, tool arguments and stop reasons (all of
// them outside data: user prompts and provider output) through the content encoder:
// the result must be valid JSON that gives the text back, and nothing may panic.
func FuzzContentMessages(f *testing.F) {
	f.Add("hello", `{"city":"Paris"}`, "stop", []byte{1, 2})
	f.Add("\xff\xfe invalid utf8 \x00", "not json", "", []byte(nil))
	f.Add(`"quoted" </script> \u2028`, `[1,2`, "max_tokens", []byte("x"))
	f.Add("", "", "tool_use", []byte{})
	f.Fuzz(func(t *testing.T, text, args, stop string, blob []byte) {
		msgs := []llms.MessageContent{
			{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{llms.TextPart(text), llms.BinaryPart("image/png", blob)}},
			{Role: llms.ChatMessageType(stop), Parts: []llms.ContentPart{llms.ToolCall{ID: text, FunctionCall: &llms.FunctionCall{Name: stop, Arguments: args}}}},
			{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{ToolCallID: args, Content: text}}},
		}
		resp := &llms.ContentResponse{Choices: []*llms.ContentChoice{
			{Content: text, StopReason: stop, ToolCalls: []llms.ToolCall{{FunctionCall: &llms.FunctionCall{Name: text, Arguments: args}}}},
			nil,
			{ReasoningContent: args, FuncCall: &llms.FunctionCall{Arguments: args}},
		}}
		for _, oneGen := range []bool{false, true} {
			a := appendContent(nil, msgs, resp, oneGen)
			if len(a) != 2 {
				t.Fatalf("%d attributes", len(a))
			}
			var in []struct {
				Role  string
				Parts []map[string]any
			}
			if err := json.Unmarshal([]byte(a[0].Value.AsString()), &in); err != nil {
				t.Fatalf("input messages are not JSON: %v\n%s", err, a[0].Value.AsString())
			}
			var out []map[string]any
			if err := json.Unmarshal([]byte(a[1].Value.AsString()), &out); err != nil {
				t.Fatalf("output messages are not JSON: %v", err)
			}
			if len(in) != 3 || len(in[0].Parts) != 2 {
				t.Fatalf("input = %+v", in)
			}
			wantOut := 2
			if oneGen {
				wantOut = 1
			}
			if len(out) != wantOut {
				t.Fatalf("%d output messages, want %d", len(out), wantOut)
			}
			// encoding/json replaces invalid UTF-8, so compare what survives a round trip.
			var clean string
			b, _ := json.Marshal(text)
			_ = json.Unmarshal(b, &clean)
			if got := in[0].Parts[0]["content"]; got != clean {
				t.Fatalf("text came back as %q, want %q", got, clean)
			}
		}
	})
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
