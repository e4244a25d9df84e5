package callopts

import (
	"context"
	"testing"

	"github.com/tmc/langchaingo/llms"
)

func TestResolveAppliesInOrderAndReleaseZeroes(t *testing.T) {
	sf := func(context.Context, []byte) error { return nil }
	opts := []llms.CallOption{llms.WithMaxTokens(5), nil, llms.WithStreamingFunc(sf), llms.WithMaxTokens(9)}
	o := Resolve(opts)
	if o.MaxTokens != 9 || o.StreamingFunc == nil {
		t.Fatalf("resolved %+v", o)
	}
	Release(o)
	if o.MaxTokens != 0 || o.StreamingFunc != nil {
		t.Fatal("Release left the call's data in the pooled options")
	}
	Release(nil)
	if n := testing.AllocsPerRun(100, func() { Release(Resolve(opts)) }); n != 0 {
		t.Errorf("Resolve+Release: %v allocations, want 0", n)
	}
}
