package otel

import (
	"slices"

	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/spendguard/spendguard/price"
)

// scopeName is the instrumentation scope of the tracer and meter this package uses
// (the package doc names it, for views and filters).
const scopeName = "github.com/spendguard/spendguard/otel"

// Option configures Middleware, Tool and ObserveBudget. Options that do not concern
// the function they are given to are ignored.
type Option func(*config)

type config struct {
	tp       trace.TracerProvider
	mp       metric.MeterProvider
	provider string
	prices   price.Table
	content  bool
}

// newConfig resolves opts. Like otelhttp it falls back to the global providers; those
// forward to whatever otel.SetTracerProvider / SetMeterProvider install later, so a
// Middleware built before the SDK is set up still reports to it.
func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.tp == nil {
		c.tp = gotel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = gotel.GetMeterProvider()
	}
	return c
}

// WithTracerProvider sets the TracerProvider spans are started with. nil (the
// default) means the global provider, otel.GetTracerProvider().
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithMeterProvider sets the MeterProvider instruments are created with. nil (the
// default) means the global provider, otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithProviderName sets gen_ai.provider.name for every call, overriding the guess
// made from the wrapped model's Go type. Use the values of the GenAI semantic
// conventions ("openai", "anthropic", "gcp.gemini", "aws.bedrock", ...) where one
// applies, for instance "azure.ai.openai" for an openai client pointed at Azure.
// An empty name restores the guess.
func WithProviderName(name string) Option {
	return func(c *config) { c.provider = name }
}

// WithPrices gives the price table (package price, the one middleware.WithPrices
// charges from), keyed by the model name the spans carry (llmwrap.Spend.Model). Calls
// a budget took part in then get spendguard.cost.usd: the table's cost of the usage
// the budget charged (or, with no budget charge, the usage the provider reported),
// computed in integer micro-USD exactly as the budget charges it and reported in
// US dollars (micro-USD / 10^6). Models missing from the table get no cost. The
// table is copied, so later changes to it have no effect. nil removes it.
func WithPrices(t price.Table) Option {
	var cp price.Table
	if t != nil {
		cp = make(price.Table, len(t))
		for k, v := range t {
			v.Tiers = slices.Clone(v.Tiers)
			cp[k] = v
		}
	}
	return func(c *config) { c.prices = cp }
}

// WithContentCapture turns the recording of prompts and completions on or off (off by
// default). When on, chat spans carry gen_ai.input.messages (system messages
// included, with role "system", since langchaingo sends them as part of the chat
// history) and gen_ai.output.messages, and tool spans carry
// gen_ai.tool.call.arguments and gen_ai.tool.call.result, in the shapes the GenAI
// semantic conventions define. They are JSON strings, which the conventions allow,
// rather than structured (map) attributes: Jaeger and most backends show and search
// strings well and structured values poorly. They are likely to hold personal
// data: turn this on only where the trace backend may keep it.
func WithContentCapture(on bool) Option {
	return func(c *config) { c.content = on }
}
