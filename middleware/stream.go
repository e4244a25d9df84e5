package middleware

import (
	"context"
	"sync"

	"github.com/tmc/langchaingo/llms"
)

// streamTap keeps a copy of the streamed text, for estimating usage when the
// provider reports none, and passes every chunk on to the function the options set.
type streamTap struct {
	next func(context.Context, []byte) error
	mu   sync.Mutex
	buf  []byte
}

// tapStream appends to p.opts a streaming function that copies the stream and calls
// the one p's options set. A call that does not stream is not tapped (nil).
func (p *plan) tapStream() *streamTap {
	if p.stream == nil {
		return nil
	}
	t := &streamTap{next: p.stream}
	p.opts = append(p.opts[:len(p.opts):len(p.opts)], llms.WithStreamingFunc(t.chunk))
	return t
}

func (t *streamTap) chunk(ctx context.Context, chunk []byte) error {
	t.mu.Lock()
	if len(t.buf)+len(chunk) <= maxTapBytes {
		t.buf = append(t.buf, chunk...)
	}
	t.mu.Unlock()
	return t.next(ctx, chunk)
}

// streamed reports whether any text went out through the stream (false for nil t).
func (t *streamTap) streamed() bool {
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.buf) > 0
}

func (t *streamTap) text() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// maxTapBytes bounds the copy; beyond it the estimate sees a prefix (and undercounts).
const maxTapBytes = 4 << 20
