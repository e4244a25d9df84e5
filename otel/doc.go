// Package otel traces and measures langchaingo model calls and tool calls with
// OpenTelemetry, following the GenAI semantic conventions
// (go.opentelemetry.io/otel/semconv/v1.41.0), and adds what spendguard's budget did
// for each call.
//
// Middleware is an llmwrap.Middleware: it gives every GenerateContent call a CLIENT
// span named "chat {model}" and records gen_ai.client.operation.duration,
// gen_ai.client.token.usage and, for streamed calls,
// gen_ai.client.operation.time_to_first_chunk. It does not import the middleware
// package: the two meet through llmwrap.Spend, which middleware.Budget fills and this
// package reads after the call, so the order in llmwrap.Wrap matters:
//
//	model := llmwrap.Wrap(llm,
//		llmwrap.WithModelName("gpt-4o-mini"), // names the model before the span starts
//		otel.Middleware(otel.WithPrices(prices)), // sees denials and the settled spend
//		middleware.Budget(b, middleware.WithPrices(prices)), // prices: one price.Table
//	)
//
// When a budget took part, spans carry spendguard.* attributes (estimate, reserved,
// charged, refunded, usage source, remaining, budget name, denial, cost). A denied
// call is a span with status Error and error.type "budget_denied", and it adds one to
// the spendguard.budget.denials counter. A call refused by loopguard.New
// (llmwrap.Spend.Loop) has error.type "loop_detected", spendguard.loop.tool and
// spendguard.loop.repeats, and adds one to spendguard.loop.stops.
//
// The names spendguard adds beside the GenAI conventions' gen_ai.* ones (spendguard.*
// span attributes, the spendguard.budget.alert event, its metrics and error.type
// values) are listed in the README's "Span attributes" and "Metrics" tables. They are
// stable: dashboards are built on them.
//
// Tool wraps a langchaingo tools.Tool so that each call is an "execute_tool {name}"
// span, ObserveBudget exports a budget's Snapshot as gauges, and StartRun makes an
// agent run an "invoke_agent {name}" span with the totals of its calls.
//
// Tracers and meters are taken with the instrumentation scope
// "github.com/spendguard/spendguard/otel", the package's import path.
//
// Prompts and completions are never recorded unless WithContentCapture(true). Without
// a WithTracerProvider / WithMeterProvider option the global providers are used; when
// they are the default no-op ones the middleware costs little more than an unwrapped
// call.
package otel
