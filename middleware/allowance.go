package middleware

import (
	"sync/atomic"

	"github.com/spendguard/spendguard/internal/keycache"
	"github.com/spendguard/spendguard/internal/sat"
)

const (
	// ringSize is how many recent completions per model the learned allowance looks at.
	ringSize = 64
	// minSamples is how many completions a model needs before its allowance may fall
	// below the default: a handful of short answers says little about the next one.
	minSamples = 8
	// recomputeEvery is how often (in completions) a full ring's quantile is
	// recomputed; until the ring is full it is recomputed on every completion.
	recomputeEvery = 8
	// maxModels bounds the learner's memory when callers pass arbitrary model names;
	// models beyond it get the default allowance.
	maxModels = 1024
	// quantilePct is the learned quantile, in percent.
	quantilePct = 95
)

// learner keeps, per model, the last ringSize completion sizes and a cached high
// quantile of them.
//
// It takes no lock: a completion claims a slot with one atomic add and stores its
// value there; the quantile is recomputed from a pass over the slots (no sort: p95 of
// at most 64 values is one of the 4 largest) on every recomputeEvery-th completion,
// and read with one atomic load. Concurrent completions may interleave with a
// recompute, which then sees a mix of old and new values: the allowance is an
// estimate, and the next recompute catches up.
type learner struct {
	def    uint64
	models *keycache.Cache[string, *modelRing]
}

type modelRing struct {
	q    atomic.Uint64 // cached allowance
	seen atomic.Uint64 // completions recorded so far; the next slot is seen % ringSize
	ring [ringSize]atomic.Uint64
	cal  [numShapes]calibration // the model's prompt-estimate calibration, per request shape (calibrate.go)
}

func newLearner(def uint64) *learner {
	return &learner{def: def, models: keycache.New[string, *modelRing](maxModels)}
}

// ring returns model's ring, creating it when create is set (past maxModels models a
// new ring is not kept, so it learns nothing: those models get the default).
func (l *learner) ring(model string, create bool) *modelRing {
	var mk func(string) *modelRing
	if create {
		mk = func(string) *modelRing {
			r := &modelRing{}
			r.q.Store(max(l.def, 1))
			return r
		}
	}
	r, _ := l.models.Get(model, mk)
	return r
}

// allowance is the completion allowance for model's next call: the learned quantile,
// or the default before the model has minSamples completions (or the largest seen
// so far, when that is larger). Never 0.
func (l *learner) allowance(model string) uint64 {
	return l.allowanceOf(l.ring(model, false))
}

// allowanceOf is allowance for the model whose ring is r (nil: not seen yet).
func (l *learner) allowanceOf(r *modelRing) uint64 {
	if r != nil {
		return r.q.Load()
	}
	return max(l.def, 1)
}

// calibrated is the calibrated prompt estimate for static estimate x of a request of
// shape s to the model whose ring is r (x itself for a model not seen yet).
func (r *modelRing) calibrated(s shape, x uint64) uint64 {
	if r == nil {
		return x
	}
	return r.cal[s&(numShapes-1)].apply(x)
}

// observePrompt teaches the calibrations of the model whose ring is r that a request
// of shape s estimated at x was billed y prompt tokens.
func (r *modelRing) observePrompt(s shape, x, y uint64) {
	r.cal[s&(numShapes-1)].observe(x, y)
}

// observe records a completion of model. A completion cut at its cap is only a lower
// bound of what the model wanted to say: it is recorded as twice its length, and only
// when that is above the current allowance, so that cut answers raise the allowance
// and never lower it.
func (l *learner) observe(model string, completion uint64, cut bool) {
	if r := l.ring(model, true); r != nil {
		l.observeRing(r, completion, cut)
	}
}

// observeRing is observe on the model's ring r.
func (l *learner) observeRing(r *modelRing, completion uint64, cut bool) {
	if cut {
		completion = sat.Mul(max(completion, 1), 2)
		if completion <= r.q.Load() {
			return
		}
	}
	n := r.seen.Add(1)
	r.ring[(n-1)%ringSize].Store(completion)
	if n <= ringSize || n%recomputeEvery == 0 || completion > r.q.Load() {
		r.q.Store(r.quantile(min(n, ringSize), l.def))
	}
}

// quantile is the allowance implied by the first n slots: the quantilePct-th
// percentile (nearest rank) once there are minSamples values, else max(def, largest
// value). At least 1.
func (r *modelRing) quantile(n, def uint64) uint64 {
	if n == 0 {
		return max(def, 1)
	}
	// The nearest-rank percentile is the k-th largest value, k = n − ceil(p·n) + 1;
	// k ≤ 4 for n ≤ 64, so keep the k largest in a tiny descending array.
	k := n - (quantilePct*n+99)/100 + 1
	if n < minSamples {
		k = 1
	}
	var top [ringSize/20 + 1]uint64 // descending; k ≤ len(top)
	filled := uint64(0)
	for i := uint64(0); i < n; i++ {
		v := r.ring[i].Load()
		if filled == k && v <= top[k-1] {
			continue
		}
		j := filled
		if j == k {
			j = k - 1 // the smallest kept value drops out
		} else {
			filled++
		}
		for j > 0 && top[j-1] < v {
			top[j] = top[j-1]
			j--
		}
		top[j] = v
	}
	q := top[k-1]
	if n < minSamples {
		q = max(q, def)
	}
	return max(q, 1)
}
