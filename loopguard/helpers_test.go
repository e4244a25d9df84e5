package loopguard_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tmc/langchaingo/llms"
	"go.uber.org/goleak"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// spendLog is an outermost middleware keeping a copy of every call's Spend.
type spendLog struct {
	mu     sync.Mutex
	spends []llmwrap.Spend
}

func (l *spendLog) middleware(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
	return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
		resp, err := next(ctx, msgs, opts...)
		if s := llmwrap.SpendFrom(ctx); s != nil {
			l.mu.Lock()
			l.spends = append(l.spends, *s)
			l.mu.Unlock()
		}
		return resp, err
	}
}

// sumCharged is what the budget charged over spends.
func sumCharged(spends []llmwrap.Spend) uint64 {
	var n uint64
	for _, s := range spends {
		if s.Budget != nil { // nil: refused before the budget (a loop stop)
			n += s.Budget.Charged
		}
	}
	return n
}

// wantSettled fails unless b holds nothing and has consumed exactly consumed.
func wantSettled(t *testing.T, b budget.Observable, consumed uint64) {
	t.Helper()
	s, err := b.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Held != 0 || s.Consumed != consumed {
		t.Errorf("budget %q: consumed %d held %d, want consumed %d held 0", s.Name, s.Consumed, s.Held, consumed)
	}
}
