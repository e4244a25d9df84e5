// Package llmwrap is the decorator kit spendguard is built on: it wraps any
// langchaingo llms.Model in a chain of Middleware, in the manner of net/http
// middleware, and gives every call a Spend record that the middleware fill in and the
// caller can read.
//
//	model := llmwrap.Wrap(openaiLLM,
//		llmwrap.WithModelName("gpt-4o-mini"), // names the model for spans and allowances
//		otel.Middleware(),                     // outermost: sees denials too
//		middleware.Budget(b),                  // reserves, records, denies
//	)
//
// It also normalizes what providers report: UsageOf reads the token usage of every
// provider in langchaingo v0.1.14 into one Usage, ReportedUsage says which part of a
// report is missing (a completion of 0 next to output is not a report), and an
// Estimator guesses a prompt's size before it is sent, under a provider's published
// rules when it is a ProviderEstimator (EstimateFor). DefaultEstimator needs no network and no tables and is
// within a few percent of OpenAI's o200k_base tokenizer on ordinary text;
// NewEstimator plugs in another text counter with the same message accounting, and
// the llmwrap/exact package counts with the real tokenizer (at the cost of 7 MB of
// embedded tables and ~50x the time).
//
// llmwrap imports langchaingo but neither OpenTelemetry nor the budget enforcement;
// those meet through Spend.
package llmwrap
