package middleware

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/spendguard/spendguard/internal/testseed"
)

// reference is the allowance computed the slow way: sort the last ringSize values.
func reference(values []uint64, def uint64) uint64 {
	if len(values) > ringSize {
		values = values[len(values)-ringSize:]
	}
	if len(values) == 0 {
		return max(def, 1)
	}
	s := slices.Clone(values)
	slices.Sort(s)
	if len(s) < minSamples {
		return max(def, s[len(s)-1], 1)
	}
	return max(s[(quantilePct*len(s)+99)/100-1], 1)
}

func TestQuantileMatchesSortedReference(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	for trial := 0; trial < 200; trial++ {
		r := &modelRing{}
		var values []uint64
		n := rng.IntN(300)
		spread := uint64(1 + rng.IntN(5000))
		for i := 0; i < n; i++ {
			v := rng.Uint64N(spread)
			values = append(values, v)
			seen := r.seen.Add(1)
			r.ring[(seen-1)%ringSize].Store(v)
			got := r.quantile(min(seen, ringSize), 1024)
			if want := reference(values, 1024); got != want {
				t.Fatalf("seed %d trial %d after %d values: quantile %d, want %d", seed, trial, i+1, got, want)
			}
		}
	}
}

func TestLearnerAllowance(t *testing.T) {
	l := newLearner(1024)
	if a := l.allowance("m"); a != 1024 {
		t.Fatalf("before data: %d", a)
	}
	for i := 0; i < ringSize; i++ {
		l.observe("m", 200, false)
	}
	if a := l.allowance("m"); a != 200 {
		t.Fatalf("after 64 × 200: %d", a)
	}
	for i := 0; i < 3*ringSize; i++ {
		l.observe("m", 10, true) // cut: never lowers
	}
	if a := l.allowance("m"); a != 200 {
		t.Fatalf("after cut completions: %d", a)
	}
	l.observe("m", 900, true) // cut: counted as twice its length, though one outlier is not the p95
	if a := l.allowance("m"); a != 200 {
		t.Fatalf("after one long cut completion: %d", a)
	}
	for i := 0; i < 3; i++ { // four of 64 are: the p95 is the 4th largest
		l.observe("m", 900, true)
	}
	if a := l.allowance("m"); a != 1800 {
		t.Fatalf("after a long cut completion: %d", a)
	}
	if a := l.allowance("other"); a != 1024 {
		t.Fatalf("other model: %d", a)
	}
	// Zero-length completions never make a zero allowance.
	for i := 0; i < 2*ringSize; i++ {
		l.observe("empty", 0, false)
	}
	if a := l.allowance("empty"); a != 1 {
		t.Fatalf("empty completions: %d", a)
	}
}

func TestLearnerBoundsModels(t *testing.T) {
	l := newLearner(1024)
	for i := 0; i < maxModels+10; i++ {
		l.observe(string(rune('a'+i%26))+string(rune(i)), 5, false)
	}
	// Past the bound a new model is not kept: it learns nothing and keeps the default.
	for i := 0; i < 2*ringSize; i++ {
		l.observe("one too many", 5, false)
	}
	if a := l.allowance("one too many"); a != 1024 {
		t.Fatalf("a model past the bound learned: allowance %d", a)
	}
	first := string(rune('a')) + string(rune(0))
	for i := 0; i < 2*ringSize; i++ {
		l.observe(first, 5, false)
	}
	if a := l.allowance(first); a != 5 {
		t.Fatalf("a model within the bound did not learn: allowance %d", a)
	}
}

func TestLearnerConcurrent(t *testing.T) {
	l := newLearner(1024)
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func(g int) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 2000; i++ {
				l.observe("m", uint64(100+g), i%7 == 0)
				_ = l.allowance("m")
			}
		}(g)
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	if a := l.allowance("m"); a < 100 || a > 2*103 { // a cut sample counts twice its length
		t.Fatalf("allowance %d", a)
	}
}
