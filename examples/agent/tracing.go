package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tmc/langchaingo/tools"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/otel"
)

// defaultService is the service name when OTEL_SERVICE_NAME (or service.name in
// OTEL_RESOURCE_ATTRIBUTES) does not give one.
const defaultService = "spendguard-agent"

// tracing is where the run's spans and metrics go: each to an OTLP/HTTP exporter when
// the environment names an endpoint for it, else nowhere.
type tracing struct {
	tp        trace.TracerProvider
	mp        metric.MeterProvider
	exporting bool // spans
	metrics   bool
	service   string
	shutdown  []func(context.Context) error // the meter provider first, then the tracer provider

	closeOnce sync.Once
	closeErr  error
}

// exportingTo reports whether the standard variables ask for OTLP trace export:
// an endpoint, and OTEL_TRACES_EXPORTER not "none".
func exportingTo(getenv func(string) string) bool {
	return strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")) != "none" &&
		(getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "")
}

// exportingMetrics reports whether the standard variables ask for OTLP metric
// export: an endpoint, and OTEL_METRICS_EXPORTER not "none".
func exportingMetrics(getenv func(string) string) bool {
	return strings.TrimSpace(getenv("OTEL_METRICS_EXPORTER")) != "none" &&
		(getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != "")
}

// checkExporters refuses an OTEL_TRACES_EXPORTER or OTEL_METRICS_EXPORTER this program
// cannot honour: it exports over OTLP ("otlp", or unset) or not at all ("none").
func checkExporters(getenv func(string) string) error {
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER"} {
		switch v := strings.TrimSpace(getenv(k)); v {
		case "", "otlp", "none":
		default:
			return fmt.Errorf("%s=%q: this program exports over OTLP (otlp) or not at all (none)", k, v)
		}
	}
	return nil
}

// newTracing builds the tracer and meter providers. The exporters read the
// OTEL_EXPORTER_OTLP_* variables themselves (endpoint, headers, timeout, ...), the
// periodic reader OTEL_METRIC_EXPORT_INTERVAL; the resource reads OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES, over the default service name.
func newTracing(ctx context.Context, getenv func(string) string) (*tracing, error) {
	if err := checkExporters(getenv); err != nil {
		return nil, err
	}
	t := &tracing{tp: noop.NewTracerProvider(), mp: metricnoop.NewMeterProvider(), service: defaultService}
	spans, metrics := exportingTo(getenv), exportingMetrics(getenv)
	if !spans && !metrics {
		return t, nil
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(defaultService)), // later detectors win
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("OTel resource: %w", err)
	}
	if v, ok := res.Set().Value(semconv.ServiceNameKey); ok {
		t.service = v.AsString()
	}
	if metrics {
		exp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTLP metric exporter: %w", err)
		}
		// The reader exports in the background, never on a call's path; Shutdown
		// collects and exports once more, so the run's last points are not lost.
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)), sdkmetric.WithResource(res))
		t.mp, t.metrics = mp, true
		t.shutdown = append(t.shutdown, mp.Shutdown)
	}
	if spans {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			_ = t.close(ctx)
			return nil, fmt.Errorf("OTLP trace exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		t.tp, t.exporting = tp, true
		t.shutdown = append(t.shutdown, tp.Shutdown)
	}
	return t, nil
}

// close flushes the spans and metric points still buffered (they would be dropped at
// exit) and stops the exporters, waiting at most a few seconds for the collector. Only
// the first call does anything; later ones return its error.
func (t *tracing) close(ctx context.Context) error {
	t.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		var errs []error
		for _, f := range t.shutdown {
			errs = append(errs, f(ctx))
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

// startRun starts the run's span, otel.StartRun's "invoke_agent spendguard-demo",
// which every model call and tool dispatch of the run is a child of, so that the whole
// run is one trace; end ends it with the run's totals and b's limit and consumed.
func (t *tracing) startRun(ctx context.Context, b budget.TokenBudget) (context.Context, func(error)) {
	return otel.StartRun(ctx, "spendguard-demo", b, otel.WithTracerProvider(t.tp))
}

// traceID is the ID of the trace ctx's span belongs to.
func traceID(ctx context.Context) string {
	return trace.SpanFromContext(ctx).SpanContext().TraceID().String()
}

// traceModel is the otel middleware for the model calls: a `chat {model}` span each,
// denied ones included, and the token usage, duration and denial metrics. The global
// providers are left alone.
func (t *tracing) traceModel() llmwrap.Middleware {
	return otel.Middleware(otel.WithTracerProvider(t.tp), otel.WithMeterProvider(t.mp))
}

// traceTool traces a tool's dispatches as `execute_tool {name}` spans.
func (t *tracing) traceTool(tool tools.Tool) tools.Tool {
	return otel.Tool(tool, otel.WithTracerProvider(t.tp), otel.WithMeterProvider(t.mp))
}

// observe exports b's gauges (remaining, consumed, held, capacity) when metrics are
// exported and b can be observed. The last collection, at close, reads b as the run
// left it.
func (t *tracing) observe(b budget.TokenBudget) error {
	o, ok := b.(budget.Observable)
	if !t.metrics || !ok {
		return nil
	}
	_, err := otel.ObserveBudget(o, otel.WithMeterProvider(t.mp))
	return err
}
