// Package middleware enforces token budgets on langchaingo models and tools, and stops
// agents stuck in a loop of tool calls.
//
// Budget is an llmwrap.Middleware: every call reserves its estimate (prompt estimate +
// completion allowance) before anything is sent, is denied with the budget's
// *budget.DeniedError when the budget cannot cover it, and settles afterwards with the
// usage the provider reported (or an estimate of it, when the provider reported none):
//
//	b := budget.NewAtomic(200_000, budget.WithName("run"))
//	model := llmwrap.Wrap(openaiLLM,
//		llmwrap.WithModelName("gpt-4o-mini"),
//		otel.Middleware(),    // optional, outermost: it sees denials too
//		middleware.Budget(b), // innermost: reserves, records, denies
//	)
//
// Per-run budgets travel in the context (budget.NewContext) and are reserved from
// together with the middleware's own budget, all-or-nothing. An agent built on
// langchaingo stops its tool-call loop on a denial: the error reaches the caller of
// executor.Call or chains.Call unchanged, so errors.Is(err, budget.ErrDenied) holds.
//
// The completion allowance is the call's MaxTokens when set. Otherwise it is learned
// per model (Spend.Model): the 95th percentile of the model's last 64 completions,
// 1,024 tokens until 8 are known, and never lowered by completions that
// were cut at their cap (finish reason length / max_tokens, or a completion equal to
// the MaxTokens sent), since those only bound from below what the model wanted to say.
// HardCap turns the allowance into a ceiling the provider enforces: the call reserves
// a range and is sent the granted completion part as MaxTokens.
//
// The prompt estimate follows the provider's published rules (estimate.Provider:
// OpenAI's message framing and function rendering, Anthropic's tool-use system prompt
// and image sizes, Gemini's framing and image tiles, Ollama's chat template), picked
// from the wrapped model's type or WithProvider and refined by the model's name
// (llms.WithModel, else llmwrap.WithModelName: a router's "anthropic/claude-sonnet-4.5"
// is billed by Anthropic's rules), and is then calibrated per model and request shape
// (tools or not, images or not) from what the model's earlier calls of that shape were
// billed, which learns what no static rule sees (a router's hidden prompt, another
// tokenizer); see Budget. A usage report with
// a part missing (langchaingo's googleai client reports 0 completion tokens for every
// streamed call) is charged its reported part plus an estimate of the rest, and
// marked llmwrap.UsagePartial.
//
// Money budgets and fallback. WithPrices counts money instead of tokens, from a
// price.Table in integer micro-units per million tokens; WithFallback sends a call
// the budget would deny to the first cheaper model that fits, and denies only when
// none does. A budget's alert thresholds (budget.WithAlerts) that a call's settle
// crosses are written into that call's record.
//
// What each call did is written into its llmwrap.Spend (Spend.Budget), which the otel
// package turns into span attributes and metrics and llmwrap.OnSpend hands to the
// caller.
//
// Cost per call. With a budget.Atomic as the only budget and a context that cannot be
// cancelled, a call through Wrap and Budget allocates twice: Wrap's Spend (which also
// holds the budget's record) and the budget's reservation; the allowance is read with
// one atomic load and updated lock-free. A cancellable context adds the settle
// context (context.WithoutCancel plus a timeout, a few allocations), budgets from the
// context a budget.All per call, and a budget that implements neither
// budgetkit.RemainingReader nor budgetkit.Composite one Snapshot after the settle for
// Spend.Budget.Remaining. The prompt estimate (WithEstimator) and llmwrap.UsageOf are
// the larger part of the time it adds. A call that falls back allocates its
// llmwrap.Fallback and, when the call's options name the model, one more option; a
// budget with alert thresholds adds a context value and a closure to each settle.
//
// GuardTool charges each dispatch of a tool to a budget, in the budget's units.
//
// Errors the middleware cannot return, because the model already answered (a budget
// store that failed during the settle), go to WithErrorHandler; the response is never
// lost to them.
package middleware
