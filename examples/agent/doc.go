// Command agent is a langchaingo tool-calling agent whose model calls pay for
// themselves from a token budget, and which stops when the budget says no.
//
//	go run ./examples/agent                 # offline: a scripted OpenAI-compatible server
//	go run ./examples/agent -budget 20000 -hard-cap
//	go run ./examples/agent -fallback       # a money budget: expensive model, then a cheap one
//	go run ./examples/agent -money -prices model_prices_and_context_window.json -model gpt-4o   # LiteLLM's prices
//	go run ./examples/agent -provider openai -model gpt-4o-mini      # OPENAI_API_KEY
//	go run ./examples/agent -provider anthropic                      # ANTHROPIC_API_KEY
//	go run ./examples/agent -provider ollama                         # OLLAMA_HOST or localhost:11434
//	go run ./examples/agent -redis 127.0.0.1:6379                    # a budget shared through Redis
//	go run ./examples/agent -rate 3000/5s -budget 12000 -json        # calls wait for a token rate limit
//	go run ./examples/agent -provider openai -base-url http://127.0.0.1:8000/v1   # an OpenAI-compatible server
//	go run ./examples/agent -scenario stuck                          # a stuck model, stopped by the loop guard
//	go run ./examples/agent -scenario stuck -agent mrkl              # the same with langchaingo's MRKL agent
//	go run ./examples/agent -scenario rag                            # embed, retrieve, answer: embeddings are budgeted too
//
// By default the model is a scripted OpenAI-compatible HTTP server started in-process
// and reached through langchaingo's real openai client: it plays an agent that keeps
// asking for tools (a calculator, a word counter, a clock) with an ever longer
// conversation, and would loop for ever. With -scenario stuck it plays an agent that
// is stuck instead: the same word_count call with the same text every turn, getting
// the same answer. The agent is langchaingo's OpenAIFunctionsAgent (or, with -agent
// mrkl, its OneShotAgent, whose tool calls are text in the prompt) run by an
// agents.Executor; its model is decorated with llmwrap.Wrap(model,
// llmwrap.WithModelName, a reporter, otel.Middleware, loopguard.New,
// middleware.Budget), and its tools with middleware.GuardTool and otel.Tool.
//
// Every model call prints one line, under a heading: the tokens estimated and
// reserved before the call, the usage the provider reported, what was refunded, and a
// bar of the budget used; then notes (the max_tokens a hard cap sent, CUT when the
// answer stopped there, "cut" in -json; a fallback; a wait for the rate limit). With
// a money budget every amount says µ$ and the usage says tokens. The output keeps
// within 100 columns, its prose continued on indented lines. The call the budget refuses is never sent; the denial reaches the executor's
// caller unchanged (errors.Is(err, budget.ErrDenied)), the program says so in plain
// words and prints a summary. A call the loop guard refuses (after -loop-repeats
// identical rounds, 3 by default) is never sent nor reserved either; its line says
// LOOP and the summary names the repeated call. -json prints the same as one JSON
// document, whose "stopped_by" says what ended the run: "loop", "budget" (the token
// budget or the tool guard), "finished", "max_calls" or "error".
//
// Traces go to an OTLP/HTTP endpoint when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, and metrics (token usage, call duration,
// denials, and the budget's remaining/consumed/held/capacity gauges) when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is; the exporters
// read the other standard OTEL_EXPORTER_OTLP_* variables themselves, and
// OTEL_TRACES_EXPORTER=none or OTEL_METRICS_EXPORTER=none turns either off. Metrics
// are exported in the background (every OTEL_METRIC_EXPORT_INTERVAL, a minute by
// default) and once more at exit, so a short run loses no point. The service name is
// OTEL_SERVICE_NAME, default "spendguard-agent". With a Jaeger on its default ports:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 go run ./examples/agent
//
// then open http://127.0.0.1:16686. `make jaeger` builds and runs one bound to
// 127.0.0.1, but a Jaeger built from Go sources has no UI assets: read the trace from
// its API (http://127.0.0.1:16686/api/traces?service=spendguard-agent), or run the
// jaegertracing/jaeger container image for the UI. `make jaeger` also turns the
// metrics into Prometheus's format on http://127.0.0.1:8889/metrics, for a Prometheus
// to scrape.
//
// With -provider anthropic the agent's functions are offered to Claude as tools
// (langchaingo's anthropic client reads tools, not functions). langchaingo's ollama
// client sends no tools at all, so with -provider ollama the model can only answer.
//
// -money counts the budget in micro-dollars (-budget defaults to 60000, 6 cents) at
// made-up prices of two scripted models, scripted-large (the default) and
// scripted-small, ten times cheaper: middleware.WithPrices. -fallback adds
// middleware.WithFallback: a call that no longer fits on scripted-large goes to
// scripted-small, served by the same scripted server under its own name, so the run
// gets further than with -money alone and ends in a denial only when even the cheap
// model no longer fits. With a money budget every line names the model that answered
// (and the one it fell back from), and -json reports it per call (model,
// fallback_from).
//
// -money -prices FILE -model NAME charges the money budget at NAME's rates in FILE, a
// price file in the format of LiteLLM's model_prices_and_context_window.json
// (price.ParseLiteLLM): gpt-4o, claude-sonnet-4-5-20250929, gemini/gemini-2.5-pro, as
// the file names them. The scripted server answers as NAME (its responses' "model")
// but always speaks OpenAI's wire, so an Anthropic or Gemini model's usage reaches the
// budget through the openai client as prompt and completion counts. A file that
// cannot be read or parsed, or leaves NAME unpriced, is an error before anything runs.
//
// -scenario rag embeds six documents and a question through langchaingo's
// embeddings.NewEmbedder over the openai client (the scripted server's /v1/embeddings),
// the client wrapped with llmwrap.WrapEmbedder in the same reporter, tracing and budget
// as the model, retrieves the two passages nearest the question by cosine similarity,
// and has the agent answer from them. Each embedding batch is a call of its own
// (operation "embeddings" in -json, an `embeddings {model}` span), charged its cl100k
// estimate since langchaingo's client drops the usage; a budget too small for a batch
// stops the run there, before the batch is sent.
//
// -rate TOKENS/INTERVAL (say 3000/5s) puts ratelimit.Middleware after the budget: a
// call that does not fit the limit waits (its line says how long) instead of failing,
// so the run is still stopped by its budget. With -redis the limit, named after the
// model, is shared through Redis (ratelimit/redisrate) by every run that names it.
// -json gives each call's started_at (RFC 3339, when the limit counted it as
// started), waited_ms, and the tokens it reserved from the limit (rate_reserved) and
// was counted at its settle (rate_charged).
//
// -max-calls bounds the model calls of one run (the executor's MaxIterations): when
// the budget has not stopped the agent by then, the program exits with an error.
//
// Exit status, as cmd/spendguard's: 0 when the budget, the loop guard or the agent's
// answer ended the run; 1 when the run failed (one line on stderr: a provider error,
// a missing API key, a Redis that does not answer within 2 s, named by its address);
// 2 for a wrong command line (its error, then the usage, once). With -redis the header
// shows the capacity in force (an operator's `spendguard set` wins over -budget), and
// a run denied at its first call says that `spendguard reset NAME -yes` starts the
// shared budget over.
package main
