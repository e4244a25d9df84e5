package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tmc/langchaingo/tools"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
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

// tracing is where the run's spans go: an OTLP/HTTP exporter when the environment
// names an endpoint, else nowhere.
type tracing struct {
	tp        trace.TracerProvider
	exporting bool
	service   string
	shutdown  func(context.Context) error
}

// exportingTo reports whether the standard variables ask for OTLP trace export.
func exportingTo(getenv func(string) string) bool {
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// newTracing builds the tracer provider. The exporter reads the OTEL_EXPORTER_OTLP_*
// variables itself (endpoint, headers, timeout, ...); the resource reads
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, over the default service name.
func newTracing(ctx context.Context, getenv func(string) string) (*tracing, error) {
	if !exportingTo(getenv) {
		return &tracing{tp: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(defaultService)), // later detectors win
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil && res == nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("OTel resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
	)
	service := defaultService
	if v, ok := res.Set().Value(semconv.ServiceNameKey); ok {
		service = v.AsString()
	}
	return &tracing{tp: tp, exporting: true, service: service, shutdown: tp.Shutdown}, nil
}

// close flushes the spans still buffered (the batcher would drop them at exit) and
// stops the exporter, waiting at most a few seconds for the collector.
func (t *tracing) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return t.shutdown(ctx)
}

// startRun starts the span every model call and tool dispatch of the run is a child
// of, so that the whole run is one trace.
func (t *tracing) startRun(ctx context.Context, provider, model string) (context.Context, trace.Span) {
	return t.tp.Tracer("github.com/spendguard/spendguard/examples/agent").Start(ctx, "invoke_agent spendguard-demo",
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			semconv.GenAIOperationNameInvokeAgent,
			semconv.GenAIAgentName("spendguard-demo"),
			semconv.GenAIRequestModel(model),
			semconv.GenAIProviderNameKey.String(provider),
		))
}

// endRun ends the run's span; a run ended by a budget is an error of type
// budget_denied, as the denied call's own span is.
func endRun(span trace.Span, err error) {
	switch {
	case errors.Is(err, budget.ErrDenied):
		span.SetAttributes(semconv.ErrorTypeKey.String("budget_denied"))
		span.SetStatus(codes.Error, err.Error())
	case err != nil:
		span.SetAttributes(semconv.ErrorTypeKey.String(fmt.Sprintf("%T", err)))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// traceModel is the otel middleware for the model calls: a `chat {model}` span each,
// denied ones included. Metrics go nowhere: this program has no metrics exporter
// (Jaeger takes traces only), and the global meter provider is left alone.
func traceModel(tp trace.TracerProvider) llmwrap.Middleware {
	return otel.Middleware(otel.WithTracerProvider(tp), otel.WithMeterProvider(metricnoop.NewMeterProvider()))
}

// traceTool traces a tool's dispatches as `execute_tool {name}` spans.
func traceTool(t tools.Tool, tp trace.TracerProvider) tools.Tool {
	return otel.Tool(t, otel.WithTracerProvider(tp), otel.WithMeterProvider(metricnoop.NewMeterProvider()))
}
