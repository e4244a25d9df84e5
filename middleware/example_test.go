package middleware_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/middleware"
	"github.com/spendguard/spendguard/price"
)

// A budget that cannot cover the next call denies it before anything is sent.
func ExampleBudget() {
	ctx := context.Background()
	b := budget.NewAtomic(1500, budget.WithName("run"))

	// Any llms.Model works; this one answers at once, reporting 900 prompt and
	// 300 completion tokens.
	provider := replyWith("Paris.", 900, 300, "stop")
	var s llmwrap.Spend
	model := llmwrap.Wrap(provider, capture(&s),
		middleware.Budget(b, middleware.WithCompletionAllowance(400)))

	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "Capital of France?")}
	if _, err := model.GenerateContent(ctx, msgs); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("charged %d (%s), %d left\n", s.Budget.Charged, s.Budget.UsageSource, s.Budget.Remaining)

	// The next call's estimate (prompt estimate + 400) exceeds what is left.
	_, err := model.GenerateContent(ctx, msgs)
	var denied *budget.DeniedError
	if errors.As(err, &denied) {
		fmt.Printf("denied by %q with %d left: %v\n", denied.Budget, denied.Remaining, errors.Is(err, budget.ErrDenied))
	}
	fmt.Println("provider calls:", provider.calls.Load())
	// Output:
	// charged 1200 (reported), 300 left
	// denied by "run" with 300 left: true
	// provider calls: 1
}

// Charge each dispatch of a tool to a budget: here 1 unit a dispatch, 2 per run. A
// tool priced per call takes its price in micro-units from the money budget instead.
func ExampleGuardTool() {
	ctx := context.Background()
	search := middleware.GuardTool(&echoTool{}, budget.NewAtomic(2, budget.WithName("searches")), 1)
	for i := 0; i < 3; i++ {
		out, err := search.Call(ctx, "query")
		fmt.Println(out, err)
	}
	// Output:
	// query <nil>
	// query <nil>
	//  middleware: tool "echo" denied by budget "searches": requested 1, 0 remaining
}

// A model behind a router that adds a 600-token hidden system prompt: the first call
// reserves the static estimate; the next two, after bills above their estimates,
// are raised by the lowest ratio billed, at most 2× (errs above); once three calls
// were billed, the calibration has learned what the router adds.
func ExampleWithoutCalibration() {
	ctx := context.Background()
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "Capital of France?")}
	static := estimate.Default().Estimate(msgs, &llms.CallOptions{})
	provider := replyWith("Paris.", int(static)+600, 2, "stop") // bills the hidden prompt too

	for _, opts := range [][]middleware.Option{nil, {middleware.WithoutCalibration()}} {
		var s llmwrap.Spend
		model := llmwrap.Wrap(provider, llmwrap.WithModelName("router-model"), capture(&s),
			middleware.Budget(budget.NewAtomic(1_000_000), opts...))
		var added []uint64 // what calibration added to the static estimate, per call
		for range 5 {
			if _, err := model.GenerateContent(ctx, msgs); err != nil {
				fmt.Println(err)
				return
			}
			added = append(added, s.Budget.PromptEstimate-s.Budget.PromptEstimateRaw)
		}
		fmt.Println(added)
	}
	// Output:
	// [0 11 11 600 600]
	// [0 0 0 0 0]
}

// A money budget that sends a call to a cheaper model when the expensive one no longer
// fits, and denies only when none does. The prices are made up.
func ExampleWithFallback() {
	ctx := context.Background()
	// Micro-dollars per million tokens: $10 and $5 in, $30 and $15 out.
	prices := price.Table{
		"large": {Rates: price.Rates{Input: 10_000_000, Output: 30_000_000}},
		"small": {Rates: price.Rates{Input: 5_000_000, Output: 15_000_000}},
	}
	large := replyWith("Paris.", 900, 100, "stop") // any llms.Model
	small := replyWith("Paris!", 900, 100, "stop")
	b := budget.NewAtomic(25_000, budget.WithName("money")) // 2.5 cents
	var s llmwrap.Spend
	model := llmwrap.Wrap(large, llmwrap.WithModelName("large"), capture(&s),
		middleware.Budget(b,
			middleware.WithPrices(prices),
			middleware.WithEstimator(fixedEstimator(900)),
			middleware.WithCompletionAllowance(400), // estimates: 21000 on large, 10500 on small
			middleware.WithFallback(middleware.Alternative{Name: "small", Model: small})))

	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "Capital of France?")}
	for range 3 {
		_, err := model.GenerateContent(ctx, msgs)
		var d *budget.DeniedError
		switch {
		case errors.As(err, &d):
			fmt.Printf("denied even on %s: %d needed, %d left\n", s.Model, d.Requested, d.Remaining)
		case err != nil:
			fmt.Println(err)
		case s.Fallback != nil:
			fmt.Printf("%s (fell back from %s): charged %d, %d left\n", s.Model, s.Fallback.From, s.Budget.Charged, s.Budget.Remaining)
		default:
			fmt.Printf("%s: charged %d, %d left\n", s.Model, s.Budget.Charged, s.Budget.Remaining)
		}
	}
	fmt.Println("calls:", large.calls.Load(), "on large,", small.calls.Load(), "on small")
	// Output:
	// large: charged 12000, 13000 left
	// small (fell back from large): charged 6000, 7000 left
	// denied even on small: 10500 needed, 7000 left
	// calls: 1 on large, 1 on small
}
