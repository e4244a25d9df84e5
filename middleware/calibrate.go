package middleware

import (
	"math"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/tmc/langchaingo/llms"
)

// Calibration of prompt estimates, per model and request shape.
//
// A model's calls are calibrated apart by their shape (tools sent or not, images
// or not): what a provider adds unseen depends on it (a tool-use system prompt is
// billed only with tools, an image's cost follows its own rule), and one fit over
// every call would apply an overhead learned with tools to calls without them. A
// shape that is still cold gets the static estimate, whatever the model's other
// shapes have learned.
// A static estimate (llmwrap's provider rules over a tokenizer-free or exact text
// count) cannot see what a provider adds that the request does not show: a router's
// hidden system prompt, a chat template, the model's own tokenizer. Every settled
// call whose provider reported its prompt count gives one pair (static estimate x,
// billed prompt y). The calibration fits y ≈ slope·x + overhead to the last
// calPairs pairs and applies it to the next call's estimate.
//
// The fit is robust. Three candidates are tried: a pure ratio (slope = a quantile of
// y/x, no overhead: another tokenizer), a pure overhead (slope 1, overhead = a
// quantile of y − x: a hidden prompt) and a Theil–Sen line (the median of the slopes
// between pairs whose estimates differ by at least calSpread, then the overhead as
// before: both at once). The one with the smallest median relative error over the
// pairs wins; the overhead wins ties (the same prompt sent over and over says nothing
// about a slope, and a fixed overhead is the safer guess when the prompt then grows),
// and Theil–Sen, which extrapolates worst from noisy pairs, must beat the others by a
// fifth. The quantile is calQuantile, a little above the median. Up to about a
// quarter of the pairs may be outliers (a cached prompt, a retry billed twice)
// without moving the fit.
//
// The correction errs above. A fit that lowers the estimate is never applied below
// the lowest ratio y/x of its pairs: the provider has never billed less than that
// share of a static estimate, and a fit's negative overhead, learned on large
// prompts, would otherwise take most of a small prompt away (gpt-4o with tools: three
// calls of 430–490 estimated tokens billed 44 fewer each, then a call estimated at 85
// and billed 71 would have been reserved 41). An under-estimate is what a hard cap
// overspends; an over-estimate only holds a little more for the length of the call.
//
// Before calMin pairs are known, one or two bills are trusted only when they say the
// estimate was low: if every pair was billed above its estimate, the next estimate is
// raised by the lowest of their ratios, at most calEarlyMax (OpenRouter's
// gemini-2.5-flash billed 326 for tools estimated at 258, then 480 for 345); a
// shape billed at or below its estimates keeps the static estimate until the fit.
//
// Bounds: the slope stays within [1/4, 4] and the overhead within ±maxOverhead, and
// the calibrated estimate within [x/4, 4x + maxOverhead], never 0 for x > 0. A shape
// never seen gets the static estimate unchanged.
//
// Cost: 148 bytes per model and shape, no lock and no allocation. apply is one atomic load and
// a multiply-add. observe stores the pair with one atomic add and one store, and
// refits (one or two microseconds, on the stack) only while fewer than calPairs
// pairs are known, when the current fit is off by more than calTolerance for the new
// pair, or every calRefitEvery-th pair otherwise; steady traffic that the fit already
// predicts costs no refit. Concurrent observes may interleave with a refit, which
// then reads a mix of old and new pairs; the next refit catches up.
type calibration struct {
	seen   atomic.Uint64
	pairs  [calPairs]atomic.Uint64 // x<<32 | y, each saturated at 2^32−1; 0 = not yet written
	params atomic.Uint64           // float32 bits of slope <<32 | uint32(int32 overhead); 0 = cold
	floor  atomic.Uint32           // float32 bits of the lowest ratio y/x of the pairs, at most 1
}

const (
	calPairs      = 16       // pairs the fit looks at
	calMin        = 3        // pairs before the fit is applied
	calEarlyMax   = 2        // the largest ratio applied before calMin pairs
	calSpread     = 0.125    // relative difference of two estimates for their slope to count
	calTolerance  = 1.0 / 32 // relative error of a prediction that triggers a refit
	calRefitEvery = 256      // refit at least this often once calPairs pairs are known
	maxOverhead   = 1 << 16  // bound of the learned overhead, in tokens
	minSlope      = 0.25
	maxSlope      = 4
	// calQuantile is the quantile of the pairs' residuals a fit is centred on: a
	// little above the median, because an under-estimate costs more than an
	// over-estimate (it is the overspend of a hard-capped call) and the billed size
	// of a text varies with its language on a tokenizer the estimate does not model.
	calQuantile = 0.6
)

// shape is a request's shape for calibration: a set of shape bits.
type shape uint8

const (
	shapeTools  shape = 1 << iota // tool or function definitions are sent
	shapeImages                   // a message holds an image
	numShapes   = 4               // every combination of the bits
)

// shapeOf is the shape of a request; nil options are no tools.
func shapeOf(msgs []llms.MessageContent, o *llms.CallOptions) shape {
	var s shape
	if o != nil && len(o.Tools)+len(o.Functions) > 0 {
		s |= shapeTools
	}
	for i := range msgs {
		for _, p := range msgs[i].Parts {
			if isImage(p) {
				return s | shapeImages
			}
		}
	}
	return s
}

func isImage(p llms.ContentPart) bool {
	switch p := p.(type) {
	case llms.ImageURLContent, *llms.ImageURLContent:
		return true
	case llms.BinaryContent:
		return hasPrefixFold(p.MIMEType, "image/")
	case *llms.BinaryContent:
		return p != nil && hasPrefixFold(p.MIMEType, "image/")
	case llms.CachedContent:
		return isImage(p.ContentPart)
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// apply is the calibrated estimate for static estimate x.
func (c *calibration) apply(x uint64) uint64 {
	p := c.params.Load()
	if p == 0 || x == 0 {
		return x
	}
	slope, overhead := unpackParams(p)
	y := float64(slope)*float64(x) + float64(overhead)
	lo, hi := float64(x)/4, 4*float64(x)+maxOverhead
	if y < float64(x) { // a fit that lowers the estimate stops at the floor
		lo = float64(max(math.Float32frombits(c.floor.Load()), 0.25)) * float64(x)
	}
	y = min(max(y, lo, 1), hi)
	return uint64(math.Round(y))
}

// observe learns that a prompt estimated at x was billed y tokens. A zero x or y
// says nothing and is ignored.
func (c *calibration) observe(x, y uint64) {
	if x == 0 || y == 0 {
		return
	}
	n := c.seen.Add(1)
	c.pairs[(n-1)%calPairs].Store(min(x, math.MaxUint32)<<32 | min(y, math.MaxUint32))
	if n < calMin {
		c.early(n)
		return
	}
	if n > calPairs && n%calRefitEvery != 0 {
		if p := c.params.Load(); p != 0 {
			slope, overhead := unpackParams(p)
			pred := float64(slope)*float64(x) + float64(overhead)
			if math.Abs(pred-float64(y)) <= calTolerance*float64(y)+1 {
				return // the fit already knows this
			}
		}
	}
	p, floor := c.fit(min(n, calPairs))
	c.floor.Store(math.Float32bits(floor))
	c.params.Store(p)
}

// early sets the correction of a shape with fewer than calMin pairs: none unless
// every pair was billed above its estimate, else the lowest of their ratios, at most
// calEarlyMax (see calibration).
func (c *calibration) early(n uint64) {
	low := math.Inf(1)
	for i := range n {
		v := c.pairs[i].Load()
		if v == 0 {
			return // claimed but not yet written
		}
		low = min(low, float64(v&math.MaxUint32)/float64(v>>32))
	}
	if low <= 1 {
		return
	}
	c.floor.Store(math.Float32bits(1))
	c.params.Store(packParams(float32(min(low, calEarlyMax)), 0))
}

// fit is the packed (slope, overhead) of the first n pairs and the lowest ratio y/x
// among them, at most 1; see calibration.
func (c *calibration) fit(n uint64) (params uint64, floor float32) {
	var xs, ys [calPairs]float64
	k := 0
	for i := range n {
		v := c.pairs[i].Load()
		if v == 0 {
			continue // claimed but not yet written
		}
		xs[k], ys[k] = float64(v>>32), float64(v&math.MaxUint32)
		k++
	}
	if k == 0 {
		return 0, 0
	}
	low := 1.0
	for i := range k {
		low = min(low, ys[i]/xs[i])
	}
	var slopes [calPairs * (calPairs - 1) / 2]float64
	m := 0
	for i := range k {
		for j := i + 1; j < k; j++ {
			dx := xs[j] - xs[i]
			if math.Abs(dx) < calSpread*max(xs[i], xs[j]) {
				continue
			}
			slopes[m] = (ys[j] - ys[i]) / dx
			m++
		}
	}
	// Three candidate fits: a pure ratio (another tokenizer), a pure overhead (a
	// hidden prompt) and Theil–Sen (both). The one whose median relative residual
	// over the pairs is smallest wins; Theil–Sen, which has the most freedom and
	// extrapolates worst from noisy pairs, must beat the others clearly.
	var buf [calPairs]float64
	for i := range k {
		buf[i] = ys[i] / xs[i]
	}
	best := packParams(float32(clampSlope(quantile(buf[:k], calQuantile))), 0)
	bestErr := fitError(best, xs[:k], ys[:k], &buf)
	if c := overheadFit(1, xs[:k], ys[:k], &buf); fitError(c, xs[:k], ys[:k], &buf) <= bestErr {
		best, bestErr = c, fitError(c, xs[:k], ys[:k], &buf)
	}
	if m >= k/2 && m >= 2 { // enough spread among the estimates for a slope
		c := overheadFit(clampSlope(median(slopes[:m])), xs[:k], ys[:k], &buf)
		if e := fitError(c, xs[:k], ys[:k], &buf); e < 0.8*bestErr {
			best = c
		}
	}
	return best, float32(low)
}

func clampSlope(s float64) float64 {
	if math.IsNaN(s) {
		return 1
	}
	return min(max(s, minSlope), maxSlope)
}

// overheadFit is slope with the median residual as overhead.
func overheadFit(slope float64, xs, ys []float64, buf *[calPairs]float64) uint64 {
	for i := range xs {
		buf[i] = ys[i] - slope*xs[i]
	}
	overhead := min(max(math.Round(quantile(buf[:len(xs)], calQuantile)), -maxOverhead), maxOverhead)
	return packParams(float32(slope), int32(overhead))
}

// fitError is the median relative error of fit p over the pairs.
func fitError(p uint64, xs, ys []float64, buf *[calPairs]float64) float64 {
	slope, overhead := unpackParams(p)
	for i := range xs {
		buf[i] = math.Abs(float64(slope)*xs[i]+float64(overhead)-ys[i]) / ys[i]
	}
	return median(buf[:len(xs)])
}

// quantile sorts v in place and returns its q-quantile (linear between ranks).
func quantile(v []float64, q float64) float64 {
	slices.Sort(v)
	pos := q * float64(len(v)-1)
	i := int(pos)
	if i+1 >= len(v) {
		return v[len(v)-1]
	}
	return v[i] + (pos-float64(i))*(v[i+1]-v[i])
}

// median sorts v in place and returns its median.
func median(v []float64) float64 {
	slices.Sort(v)
	h := len(v) / 2
	if len(v)%2 == 1 {
		return v[h]
	}
	return (v[h-1] + v[h]) / 2
}

// packParams never returns 0, which means "cold": a slope is never 0.
func packParams(slope float32, overhead int32) uint64 {
	return uint64(math.Float32bits(slope))<<32 | uint64(uint32(overhead))
}

func unpackParams(p uint64) (slope float32, overhead int32) {
	return math.Float32frombits(uint32(p >> 32)), int32(uint32(p))
}
