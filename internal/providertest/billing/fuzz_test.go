package billing

import "testing"

// FuzzBill feeds arbitrary request bodies to every provider's biller: none may panic,
// and a bill is never negative.
func FuzzBill(f *testing.F) {
	f.Add([]byte(`{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"array","items":{"type":"object"}},"b":{"enum":[1,"x"]}}}}}]}`))
	f.Add([]byte(`{"system":[{"type":"text","text":"s"}],"messages":[{"role":"","content":[{"type":"tool_result","content":[{"type":"image","source":{"data":"iVBORw0KGgo="}}]}]}],"tools":[{}]}`))
	f.Add([]byte(`{"messages":[{"role":"tool","content":"x","images":["aGk="]}],"tools":[{}]}`))
	f.Add([]byte(`{"contents":[{"parts":[{"inlineData":{"data":"!!"}},{"functionCall":{"name":"f"}}]}],"systemInstruction":{"parts":[]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b := Biller{HiddenPrompt: 3}
		for name, bill := range map[string]func([]byte) int{"openai": b.OpenAI, "anthropic": b.Anthropic, "ollama": b.Ollama, "gemini": b.Gemini} {
			if n := bill(body); n < 0 {
				t.Fatalf("%s billed %d", name, n)
			}
		}
	})
}
