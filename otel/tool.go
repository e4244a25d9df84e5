package otel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// Tool returns t traced: each Call is an INTERNAL span named "execute_tool {name}",
// a child of the span in the call's context (an agent run's span, say), with
// gen_ai.operation.name "execute_tool", gen_ai.tool.name, gen_ai.tool.type
// "function" and gen_ai.tool.description (read once, when Tool is called). An error
// sets error.type and status Error. The input and the result are recorded (as
// gen_ai.tool.call.arguments and gen_ai.tool.call.result) only with
// WithContentCapture(true).
//
// Name and Description are t's. A nil t gives nil, so that a nil tool fails where it
// is used as it would have unwrapped.
//
// The tool is anything with langchaingo's tools.Tool methods (a tools.Tool value
// passes, and the result is one): the interface is spelled out rather than named so
// that this package does not import langchaingo/tools, whose calculator pulls the
// Starlark interpreter (and its tests' dependencies) into every user's download.
func Tool(t interface {
	Name() string
	Description() string
	Call(ctx context.Context, input string) (string, error)
}, opts ...Option) interface {
	Name() string
	Description() string
	Call(ctx context.Context, input string) (string, error)
} {
	if t == nil {
		return nil
	}
	cfg := newConfig(opts)
	name := t.Name()
	start := []attribute.KeyValue{
		semconv.GenAIOperationNameExecuteTool,
		semconv.GenAIToolName(name),
		semconv.GenAIToolType("function"),
	}
	if d := t.Description(); d != "" {
		start = append(start, semconv.GenAIToolDescription(d))
	}
	return &tracedTool{
		tool:     t,
		spans:    newSpanSource(cfg.tp),
		spanName: "execute_tool " + name,
		content:  cfg.content,
		startOpts: []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(start...),
		},
	}
}

// tool has the method set of langchaingo's tools.Tool (see Tool).
type tool = interface {
	Name() string
	Description() string
	Call(ctx context.Context, input string) (string, error)
}

type tracedTool struct {
	tool
	spans     spanSource
	spanName  string
	content   bool
	startOpts []trace.SpanStartOption
}

// Call runs the tool inside its span.
func (t *tracedTool) Call(ctx context.Context, input string) (string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if !t.spans.active() {
		return t.tool.Call(ctx, input)
	}
	ctx, span := t.spans.tracer.Start(ctx, t.spanName, t.startOpts...)
	defer span.End()
	out, err := t.tool.Call(ctx, input)
	if !span.IsRecording() {
		return out, err
	}
	var a []attribute.KeyValue
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		a = append(a, semconv.ErrorTypeKey.String(errorType(ctx, err)))
	}
	if t.content {
		a = append(a, semconv.GenAIToolCallArgumentsKey.String(input))
		if err == nil {
			a = append(a, semconv.GenAIToolCallResultKey.String(out))
		}
	}
	if len(a) > 0 {
		span.SetAttributes(a...)
	}
	return out, err
}
