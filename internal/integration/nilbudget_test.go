package integration_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
)

// TestNilRedisBudgetFailsClosed is middleware's TestNilBudgetsFailClosed for a
// typed-nil *redisbudget.Budget (what an unchecked Family.Budget error leaves), here
// because redisbudget brings go-redis: a nil budget anywhere (the middleware's own,
// the context's, a member of budget.All) never panics and never
// grants: the call returns an error wrapping budget.ErrNilBudget, is not a denial, and
// nothing reaches the provider (langchaingo's real openai client against a loopback
// server that counts requests).
func TestNilRedisBudgetFailsClosed(t *testing.T) {
	nils := map[string]budget.TokenBudget{
		"nil *redisbudget.Budget": (*redisbudget.Budget)(nil),
	}
	for name, nb := range nils {
		t.Run(name, func(t *testing.T) {
			global := budget.NewAtomic(1_000_000, budget.WithName("global"))
			cases := map[string]struct {
				own budget.TokenBudget
				ctx func(context.Context) context.Context
			}{
				"in the context, with an own budget": {global, func(c context.Context) context.Context { return budget.NewContext(c, nb) }},
				"in the context, no own budget":      {nil, func(c context.Context) context.Context { return budget.NewContext(c, nb) }},
				"a member of All":                    {budget.All(nb, global), func(c context.Context) context.Context { return c }},
				"in an All in the context":           {global, func(c context.Context) context.Context { return budget.NewContext(c, budget.All(global, nb)) }},
			}
			if nb != nil { // an untyped nil own budget means "the context's budgets only"
				cases["the middleware's own"] = struct {
					own budget.TokenBudget
					ctx func(context.Context) context.Context
				}{nb, func(c context.Context) context.Context { return budget.NewContext(c, global) }}
			}
			for cname, tc := range cases {
				t.Run(cname, func(t *testing.T) {
					srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: "hi", Usage: &providertest.Usage{Prompt: 5, Completion: 1}}))
					defer srv.Close()
					llm, err := srv.OpenAIClient()
					if err != nil {
						t.Fatal(err)
					}
					for _, hardCap := range []bool{false, true} {
						var opts []middleware.Option
						if hardCap {
							opts = append(opts, middleware.HardCap())
						}
						m := llmwrap.Wrap(llm, middleware.Budget(tc.own, opts...))
						resp, err := m.GenerateContent(tc.ctx(context.Background()),
							[]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hello")})
						if !errors.Is(err, budget.ErrNilBudget) || errors.Is(err, budget.ErrDenied) || resp != nil {
							t.Fatalf("hard cap %v: resp %v, err %v; want an error wrapping budget.ErrNilBudget", hardCap, resp, err)
						}
					}
					if n := len(srv.Requests()); n != 0 {
						t.Errorf("the server saw %d requests, want 0", n)
					}
					if s, _ := global.Snapshot(context.Background()); s.Held != 0 || s.Consumed != 0 {
						t.Errorf("global holds %d and consumed %d: a refused call must leave nothing", s.Held, s.Consumed)
					}
				})
			}
		})
	}
}
