package exact_test

import (
	"testing"

	"github.com/spendguard/spendguard/llmwrap/estimate"
)

// FuzzCountText feeds arbitrary text to the real tokenizer: it must not panic, must
// count a non-empty text as at least one token, and must agree with itself. The
// default estimate must stay within a wide factor of it on anything longer than a
// few tokens, whatever the text: not an accuracy check (the calibration test is
// that), but one that fails when a whole class of text is mis-costed, as long blank
// runs or repeated brackets once were (4-60x off).
func FuzzCountText(f *testing.F) {
	for _, s := range []string{"", "hello world", "<|endoftext|>", "\xff\xfe", "大语言模型", "😀👍🏽",
		"func main() {}\n", `{"a":[1,2,{"b":null}]}`, "   \n\n\t", "=====-----"} {
		f.Add(s)
	}
	e, err := newForFuzz()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := e.CountText(s)
		if s != "" && n == 0 {
			t.Fatalf("CountText(%q) = 0", s)
		}
		if again := e.CountText(s); again != n {
			t.Fatalf("CountText(%q) = %d then %d", s, n, again)
		}
		if d := estimate.Text(s); n >= 20 && (d > 6*n || 6*d < n) {
			t.Fatalf("EstimateText(%q) = %d, exact %d: off by more than 6x", s, d, n)
		}
	})
}
