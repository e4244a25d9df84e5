package otel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tmc/langchaingo/tools"
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
func Tool(t tools.Tool, opts ...Option) tools.Tool {
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
		Tool:     t,
		spans:    newSpanSource(cfg.tp),
		spanName: "execute_tool " + name,
		content:  cfg.content,
		startOpts: []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(start...),
		},
	}
}

type tracedTool struct {
	tools.Tool
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
		return t.Tool.Call(ctx, input)
	}
	ctx, span := t.spans.tracer.Start(ctx, t.spanName, t.startOpts...)
	defer span.End()
	out, err := t.Tool.Call(ctx, input)
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
