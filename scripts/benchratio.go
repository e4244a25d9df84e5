//go:build ignore

// benchratio reads `go test -bench` output on stdin and prints, for each comparison
// the issues ask for, the medians and the ratio against the named baseline, all from
// the same run.
//
//	go test -run '^$' -bench . -benchmem -count 5 ./... | go run scripts/benchratio.go
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type stat struct{ ns, allocs []float64 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var line = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op(.*)$`)
var allocs = regexp.MustCompile(`([\d.]+) allocs/op`)

type comparison struct {
	title, ours, base string
	kind              string // "speedup": base/ours; "fraction": base/ours as share of floor; "delta": ours-base
	target            string
}

var comparisons = []comparison{
	{"budget.Atomic reserve+record vs x/time/rate ReserveN+Cancel (parallel)", "AtomicReserveRecord", "RateLimiterReserveCancel", "speedup", ">= 3x"},
	{"budget.Atomic reserve+record vs two atomic.AddUint64 (parallel floor)", "AtomicReserveRecord", "FloorTwoAtomicAdds", "speedup", ">= 0.3x"},
	{"redisbudget reserve+record vs two no-op EVALSHA (32 goroutines)", "RedisReserveRecord", "RedisFloorTwoEvalsha", "speedup", ">= 0.7x"},
	{"redisbudget reserve+record vs redis_rate AllowN (reference)", "RedisReserveRecord", "RedisRateAllowN", "speedup", "reference"},
	{"redisbudget on Redis Cluster, WithReplicaAck(1) vs without (32 goroutines)", "ClusterReserveRecordReplicaAck", "ClusterReserveRecord", "slowdown", "reference"},
	{"redisbudget Family reserve+record, 10,000 keys, vs one named budget", "RedisFamilyReserveRecord", "RedisReserveRecord", "slowdown", "<= 1.2x"},
	{"Wrap+Budget(Atomic) vs bare model, per call", "WrapBudget", "BareModel", "delta", "<= 150 ns, <= 2 allocs"},
	{"default estimator vs exact tiktoken o200k, 4,000 chars", "EstimateDefault4000", "EstimateExact4000", "speedup", ">= 20x"},
	{"Wrap+Budget with calibration vs WithoutCalibration, per call", "WrapBudget", "WrapBudgetUncalibrated", "delta", "<= 0 allocs"},
	{"EstimateFor(OpenAI) vs the pre-issue-10 estimator, ~4,000 chars", "EstimateForOpenAI", "EstimateLegacy", "slowdown", "<= 1.2x"},
	{"EstimateFor(OpenAI) vs pre-issue-10, with 2 tools", "EstimateForOpenAITools", "EstimateLegacyTools", "slowdown", "<= 1.2x"},
	{"EstimateFor(Anthropic) vs pre-issue-10, with 2 tools", "EstimateForAnthropicTools", "EstimateLegacyTools", "slowdown", "<= 1.2x"},
	{"EstimateFor(Gemini) vs pre-issue-10, with 2 tools", "EstimateForGeminiTools", "EstimateLegacyTools", "slowdown", "<= 1.2x"},
	{"EstimateFor(Ollama) vs pre-issue-10, with 2 tools", "EstimateForOllamaTools", "EstimateLegacyTools", "slowdown", "<= 1.2x"},
	{"llmwrap.UsageOf (openai) vs two bare type assertions", "UsageOfOpenAI", "UsageOfOpenAINaive", "slowdown", "reference"},
	{"loopguard vs default estimator, 200-message tool conversation", "LoopGuard200", "LoopEstimate200", "slowdown", "<= 0.05x"},
	{"loopguard vs default estimator, MRKL prompt of 99 rounds", "LoopGuardMRKL", "LoopEstimateMRKL", "slowdown", "<= 0.05x"},
	{"loopguard, unanswered call: 10,000 vs 1,000 messages (10x is linear)", "LoopGuardUnanswered10000", "LoopGuardUnanswered1000", "slowdown", "~10x, as the estimator's"},
	{"default estimator on the same: 10,000 vs 1,000 messages", "LoopEstimateUnanswered10000", "LoopEstimateUnanswered1000", "slowdown", "reference"},
	{"loopguard vs default estimator, 1,000 messages, unanswered call", "LoopGuardUnanswered1000", "LoopEstimateUnanswered1000", "slowdown", "<= 0.05x"},
	{"loopguard vs default estimator, 10,000 messages, unanswered call", "LoopGuardUnanswered10000", "LoopEstimateUnanswered10000", "slowdown", "<= 0.05x"},
	{"ratelimit in-process Reserve+Settle vs x/time/rate ReserveN+Cancel (2 goroutines)", "RateLocalReserveSettle", "RateXTimeReserveCancel", "speedup", "reference"},
	{"redisrate Reserve+Settle vs redis_rate AllowN (32 goroutines)", "RedisRateReserveSettle", "RedisRateLimiterAllowN", "speedup", "reference"},
	{"otel.Middleware (SDK) vs raw SDK floor", "MiddlewareSDK", "RawSDKFloor", "slowdown", "<= 1.3x"},
	{"otel.Middleware (no-op providers) vs bare model, per call", "MiddlewareNoop", "OtelBareModel", "delta", "<= 100 ns"},
	// scripts/overhead.sh: the same benchmarks built from the code issue 17 was filed on.
	{"issue 17: Wrap+Budget(Atomic) per call, vs the code before it", "WrapBudget", "Issue17BaseWrapBudget", "slowdown", "<= 1.0x, allocs <= +0"},
	{"issue 17: Wrap+Budget, 2 goroutines, vs the code before it", "WrapBudgetParallel", "Issue17BaseWrapBudgetParallel", "slowdown", "<= 1.0x, allocs <= +0"},
	{"issue 17: Wrap alone per call, vs the code before it", "WrapOnly", "Issue17BaseWrapOnly", "slowdown", "<= 1.0x, allocs <= +0"},
	{"issue 17: otel.Middleware (SDK) per call, vs the code before it", "MiddlewareSDK", "Issue17BaseMiddlewareSDK", "slowdown", "<= 1.0x, allocs <= +0"},
	{"issue 17: otel.Middleware (no-op) per call, vs the code before it", "MiddlewareNoop", "Issue17BaseMiddlewareNoop", "slowdown", "<= 1.0x, allocs <= +0"},
}

func main() {
	stats := map[string]*stat{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[3], 64)
		s := stats[m[1]]
		if s == nil {
			s = &stat{}
			stats[m[1]] = s
		}
		s.ns = append(s.ns, ns)
		if a := allocs.FindStringSubmatch(m[4]); a != nil {
			v, _ := strconv.ParseFloat(a[1], 64)
			s.allocs = append(s.allocs, v)
		}
	}
	fmt.Printf("%-72s %12s %12s %16s  %s\n", "comparison (medians)", "ours ns/op", "base ns/op", "ratio", "target")
	for _, c := range comparisons {
		o, b := stats[c.ours], stats[c.base]
		if o == nil || b == nil {
			fmt.Printf("%-72s %12s %12s %16s  %s\n", c.title, "-", "-", "not run", c.target)
			continue
		}
		on, bn := median(o.ns), median(b.ns)
		var ratio string
		switch c.kind {
		case "speedup":
			ratio = fmt.Sprintf("%.2fx", bn/on)
		case "slowdown":
			ratio = fmt.Sprintf("%.2fx", on/bn)
			if len(o.allocs) > 0 && len(b.allocs) > 0 {
				ratio += fmt.Sprintf(" %+.0f allocs", median(o.allocs)-median(b.allocs))
			}
		case "delta":
			ratio = fmt.Sprintf("%+.0f ns %+.0f allocs", on-bn, median(o.allocs)-median(b.allocs))
		}
		fmt.Printf("%-72s %12.1f %12.1f %16s  %s\n", c.title, on, bn, ratio, c.target)
	}
}
