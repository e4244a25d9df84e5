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
// report is missing (a completion of 0 next to output is not a report), and the
// Estimator interface says how a prompt's size is guessed before it is sent: package
// llmwrap/estimate holds the default estimator, under each provider's published
// rules, and llmwrap/exact one that counts with OpenAI's real tokenizer.
//
// llmwrap imports langchaingo but neither OpenTelemetry nor the budget enforcement;
// those meet through Spend.
package llmwrap
