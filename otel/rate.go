package otel

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/spendguard/spendguard/internal/conv"
	"github.com/spendguard/spendguard/llmwrap"
)

// rateBuckets are the wait histogram's bounds (s): from a slot of a per-second limit
// to a minute's.
var rateBuckets = []float64{0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// rateMetrics is the wait metric of the calls a rate limiter took part in
// (llmwrap.Spend.Rate).
type rateMetrics struct {
	wait metric.Float64Histogram
	opts sync.Map // rateKey → []metric.RecordOption
}

type rateKey struct{ provider, model, limiter string }

func newRateMetrics(meter metric.Meter) *rateMetrics {
	h, err := meter.Float64Histogram(conv.RateWaitMetric, metric.WithUnit("s"),
		metric.WithDescription("Time model calls waited for their rate limit before they were sent."),
		metric.WithExplicitBucketBoundaries(rateBuckets...))
	if err != nil || h == nil {
		handle(err)
		h, _ = noopMeter.Float64Histogram(conv.RateWaitMetric)
	}
	return &rateMetrics{wait: h}
}

func (r *rateMetrics) enabled(ctx context.Context) bool { return r.wait.Enabled(ctx) }

// record notes the wait of a call its rate limit admitted.
func (r *rateMetrics) record(ctx context.Context, provider, model string, s *llmwrap.Spend) {
	w := s.Rate
	if w == nil || w.Limited || !r.wait.Enabled(ctx) {
		return
	}
	k := rateKey{provider, model, w.Limiter}
	v, ok := r.opts.Load(k)
	if !ok {
		v, _ = r.opts.LoadOrStore(k, []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
			semconv.GenAIProviderNameKey.String(provider), semconv.GenAIRequestModel(model), conv.RateLimiterKey.String(w.Limiter)))})
	}
	r.wait.Record(ctx, w.Waited.Seconds(), v.([]metric.RecordOption)...)
}

// rateAttrs is how many attributes appendRate adds for s.
func rateAttrs(s *llmwrap.Spend) int {
	if s.Rate == nil {
		return 0
	}
	return 7
}

// appendRate adds the rate limiter's part of the call to a.
func appendRate(a []attribute.KeyValue, s *llmwrap.Spend) []attribute.KeyValue {
	w := s.Rate
	if w == nil {
		return a
	}
	a = append(a,
		conv.RateLimiterKey.String(w.Limiter),
		conv.RateWaitedMsKey.Int64(w.Waited.Milliseconds()),
		conv.RateDelayedKey.Bool(w.Waited > 0),
		conv.RateReservedInKey.Int64(toInt64(w.EstimateInput)),
		conv.RateReservedOutKey.Int64(toInt64(w.EstimateOutput)))
	if w.Limited {
		a = append(a, conv.RateLimitedKey.Bool(true))
	}
	if w.RetryAfter > 0 {
		a = append(a, conv.RateRetryAfterKey.Int64(w.RetryAfter.Milliseconds()))
	}
	return a
}
