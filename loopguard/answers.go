package loopguard

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/tmc/langchaingo/llms"
)

// answers remembers which tool calls came back together in one model answer, for the
// answers the guard passed on that held two or more identical calls (same tool and
// arguments). The messages alone cannot say it: langchaingo's OpenAIFunctionsAgent
// (v0.1.14, constructScratchPad) replays consecutive steps with the same log, which
// identical calls have, as one assistant message, whether the model asked for them in
// one answer or in several. It holds at most maxRemembered call IDs, as 64-bit
// hashes, and forgets them all when full.
type answers struct {
	seed  maphash.Seed
	count atomic.Int64 // len(ids), read without the lock

	mu  sync.Mutex
	n   uint64            // answers recorded
	ids map[uint64]uint64 // hash of a call ID → the number of its answer, from 1
}

const (
	maxRemembered = 4096
	// maxTwinCheck bounds the calls of one answer compared pairwise for twins.
	maxTwinCheck = 64
)

func newAnswers() *answers { return &answers{seed: maphash.MakeSeed()} }

// record notes the answers of resp that hold identical calls. It allocates only then.
func (a *answers) record(resp *llms.ContentResponse) {
	if resp == nil {
		return
	}
	for _, ch := range resp.Choices {
		if ch == nil || len(ch.ToolCalls) < 2 || !twins(ch.ToolCalls) {
			continue
		}
		a.mu.Lock()
		if a.ids == nil {
			a.ids = make(map[uint64]uint64)
		}
		if len(a.ids)+len(ch.ToolCalls) > maxRemembered {
			clear(a.ids)
		}
		a.n++
		for i, tc := range ch.ToolCalls {
			if i == maxRemembered {
				break
			}
			if tc.ID != "" {
				a.ids[maphash.String(a.seed, tc.ID)] = a.n
			}
		}
		a.count.Store(int64(len(a.ids)))
		a.mu.Unlock()
	}
}

// twins reports whether two of calls (of the first maxTwinCheck) are the same call.
func twins(calls []llms.ToolCall) bool {
	calls = calls[:min(len(calls), maxTwinCheck)]
	for i := range calls {
		for j := i + 1; j < len(calls); j++ {
			a, b := calls[i].FunctionCall, calls[j].FunctionCall
			if a != nil && b != nil && a.Name == b.Name && sameArgs(a.Arguments, b.Arguments) {
				return true
			}
		}
	}
	return false
}

// merge drops from turn (a turn's rounds, in order) each round that is the same call
// with the same result as an earlier one of the same answer, and returns how many
// rounds are left, at the front of turn. A round whose ID an earlier one of its
// answer has is not merged: a client that reuses IDs across answers could otherwise
// make one answer of several. A nil a, or one that remembers nothing, drops nothing
// and takes no lock.
func (a *answers) merge(turn []round) int {
	if a == nil || len(turn) < 2 || a.count.Load() == 0 {
		return len(turn)
	}
	a.mu.Lock()
	for i := range turn {
		if turn[i].id != "" {
			turn[i].answer = a.ids[maphash.String(a.seed, turn[i].id)]
		}
	}
	a.mu.Unlock()
	n, group := 0, 0 // rounds kept; where the kept rounds of the last answer begin
	for i := range turn {
		r := turn[i]
		if n == 0 || turn[n-1].answer != r.answer {
			group = n
		}
		dup := false
		for j := group; r.answer != 0 && j < n && !dup; j++ {
			if turn[j].id == r.id {
				r.answer = 0 // a reused ID: nothing says this call came in that answer
				break
			}
			dup = sameRound(&turn[j], &r)
		}
		if !dup {
			turn[n] = r
			n++
		}
	}
	return n
}
