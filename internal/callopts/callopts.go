// Package callopts resolves a call's option list into the CallOptions a provider will
// see, without an allocation per call. Middleware read the *effective* options from
// the opts they are passed (an outer middleware may have appended to the caller's),
// which is what keeps the opts slice the one source of truth for a call.
package callopts

import (
	"sync"

	"github.com/tmc/langchaingo/llms"
)

// UnknownModel is llmwrap.Spend.Model when neither the call's options nor
// llmwrap.WithModelName name the model; middleware.Budget knows it by this name.
const UnknownModel = "unknown"

var pool = sync.Pool{New: func() any { return new(llms.CallOptions) }}

// Resolve applies opts in order (nil ones skipped) to a zeroed CallOptions from a pool.
// The caller must hand it back with Release and must not keep it, or anything that
// points into it, afterwards.
func Resolve(opts []llms.CallOption) *llms.CallOptions {
	o := pool.Get().(*llms.CallOptions)
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	return o
}

// Release zeroes o (so the pool holds no references to the call's data) and returns it
// to the pool. A nil o is ignored.
func Release(o *llms.CallOptions) {
	if o == nil {
		return
	}
	*o = llms.CallOptions{}
	pool.Put(o)
}
