package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/spendguard/spendguard/internal/conv"
	collectormetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// otlpMetrics is a fake OTLP/HTTP collector that keeps every metric it is sent and
// counts the requests per path.
type otlpMetrics struct {
	mu       sync.Mutex
	requests map[string]int
	metrics  []*metricpb.Metric
}

// readOTLP decodes an OTLP/HTTP protobuf request body (gzipped or not) into msg; on a
// bad body it answers 400 and returns false.
func readOTLP(w http.ResponseWriter, r *http.Request, msg proto.Message) bool {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return false
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	if err := proto.Unmarshal(b, msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func (c *otlpMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.requests[r.URL.Path]++
	c.mu.Unlock()
	if r.URL.Path != "/v1/metrics" {
		http.NotFound(w, r)
		return
	}
	var req collectormetrics.ExportMetricsServiceRequest
	if !readOTLP(w, r, &req) {
		return
	}
	c.mu.Lock()
	for _, rm := range req.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			c.metrics = append(c.metrics, sm.Metrics...)
		}
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
}

// named returns the last export of the metric called name (cumulative: the last is
// the total).
func (c *otlpMetrics) named(name string) *metricpb.Metric {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last *metricpb.Metric
	for _, m := range c.metrics {
		if m.Name == name {
			last = m
		}
	}
	return last
}

// TestOTLPMetricsFlushOnExit runs the example with metric export on and trace export
// off (OTEL_TRACES_EXPORTER=none). The default export interval is a minute, far
// longer than the run: what arrives is the flush at exit, and it must hold the run's
// exact totals.
func TestOTLPMetricsFlushOnExit(t *testing.T) {
	col := &otlpMetrics{requests: map[string]int{}}
	srv := httptest.NewServer(col)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "agent-metrics-test")
	vars := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_TRACES_EXPORTER": "none"}
	var out bytes.Buffer
	e := env{getenv: func(k string) string { return vars[k] }, stderr: io.Discard, now: fixedNow}
	if err := runWith(context.Background(), []string{"-json"}, &out, e); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ExportError != "" || rep.TraceID != "" || rep.Denial == nil {
		t.Fatalf("export error %q, trace %q, denial %v", rep.ExportError, rep.TraceID, rep.Denial)
	}
	if col.requests["/v1/traces"] != 0 || col.requests["/v1/metrics"] != 1 {
		t.Fatalf("collector requests %v; want one /v1/metrics (the flush at exit) and no traces", col.requests)
	}

	usage := col.named("gen_ai.client.token.usage").GetHistogram()
	var sum float64
	var count uint64
	byType := map[string]float64{}
	for _, dp := range usage.GetDataPoints() {
		sum += dp.GetSum()
		count += dp.GetCount()
		for _, kv := range dp.Attributes {
			if kv.Key == "gen_ai.token.type" {
				byType[kv.Value.GetStringValue()] += dp.GetSum()
			}
		}
	}
	if sum != float64(rep.Consumed) || count != uint64(2*rep.Sent) {
		t.Errorf("token usage: sum %v over %d points; the run consumed %d in %d calls (an input and an output point each)", sum, count, rep.Consumed, rep.Sent)
	}
	if byType["input"] != float64(rep.Prompt) || byType["output"] != float64(rep.Completion) {
		t.Errorf("token usage by type %v; the run reported %d prompt + %d completion", byType, rep.Prompt, rep.Completion)
	}

	var denials int64
	for _, dp := range col.named(conv.BudgetDenialsMetric).GetSum().GetDataPoints() {
		denials += dp.GetAsInt()
	}
	if denials != 1 {
		t.Errorf("%s = %d, want 1", conv.BudgetDenialsMetric, denials)
	}

	for name, want := range map[string]uint64{
		conv.BudgetRemainingMetric: rep.Remaining,
		conv.BudgetConsumedMetric:  rep.Consumed,
		conv.BudgetHeldMetric:      0,
		conv.BudgetCapacityMetric:  rep.Capacity,
	} {
		dps := col.named(name).GetGauge().GetDataPoints()
		if len(dps) != 1 || dps[0].GetAsInt() != int64(want) {
			t.Errorf("%s: %v, want one point of %d", name, dps, want)
			continue
		}
		if got := dps[0].Attributes[0]; got.Key != string(conv.BudgetNameKey) || got.Value.GetStringValue() != rep.Budget {
			t.Errorf("%s: attribute %v, want budget %q", name, got, rep.Budget)
		}
	}
}

func TestOTLPExportersChecked(t *testing.T) {
	for _, tc := range []struct{ key, val string }{
		{"OTEL_METRICS_EXPORTER", "prometheus"},
		{"OTEL_TRACES_EXPORTER", "zipkin"},
	} {
		e := env{getenv: func(k string) string {
			if k == tc.key {
				return tc.val
			}
			return ""
		}, stderr: io.Discard, now: fixedNow}
		err := runWith(context.Background(), []string{"-json"}, io.Discard, e)
		if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), "(none)") {
			t.Errorf("%s=%s: err = %v, want it refused", tc.key, tc.val, err)
		}
	}
}
