package loopguard_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/tmc/langchaingo/agents"
	"github.com/tmc/langchaingo/chains"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/openai"
	"github.com/tmc/langchaingo/tools"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/loopguard"
	"github.com/spendguard/spendguard/middleware"
)

// answerTool answers what answer says for the n-th call (from 1) and counts calls.
type answerTool struct {
	calls  atomic.Int64
	answer func(n int64) string
}

func (*answerTool) Name() string        { return "lookup" }
func (*answerTool) Description() string { return "looks something up" }
func (a *answerTool) Call(context.Context, string) (string, error) {
	return a.answer(a.calls.Add(1)), nil
}

func sameAnswer(int64) string  { return "found nothing, keep looking" }
func newAnswer(n int64) string { return fmt.Sprintf("found %d new things", n) }

// agentKind builds a langchaingo agent of one kind over model.
type agentKind struct {
	name string
	new  func(llms.Model, []tools.Tool) agents.Agent
	// reply is the scripted model's answer asking for the tool, and done its final
	// answer, in the agent's format.
	reply, done providertest.Reply
}

var (
	toolCall = providertest.Reply{
		ToolCalls: []providertest.ToolCall{{Name: "lookup", Arguments: `{"__arg1":"more"}`}},
		Usage:     &providertest.Usage{Prompt: 120, Completion: 15},
	}
	kinds = []agentKind{
		{
			name:  "openai functions",
			new:   func(m llms.Model, ts []tools.Tool) agents.Agent { return agents.NewOpenAIFunctionsAgent(m, ts) },
			reply: toolCall,
			done:  providertest.Reply{Text: "All done.", Usage: &providertest.Usage{Prompt: 120, Completion: 5}},
		},
		{
			name: "mrkl",
			new:  func(m llms.Model, ts []tools.Tool) agents.Agent { return agents.NewOneShotAgent(m, ts) },
			reply: providertest.Reply{Text: "Thought: I should look it up\nAction: lookup\nAction Input: more",
				Usage: &providertest.Usage{Prompt: 300, Completion: 20}},
			done: providertest.Reply{Text: "Thought: I now know the final answer\nFinal Answer: All done.",
				Usage: &providertest.Usage{Prompt: 300, Completion: 12}},
		},
		{
			name: "conversational",
			new: func(m llms.Model, ts []tools.Tool) agents.Agent {
				return agents.NewConversationalAgent(m, ts)
			},
			// A chat model starts its answer on a line of its own: no space after the
			// prompt's "Thought:", so the scratchpad glues it to the observation.
			reply: providertest.Reply{Text: "Do I need to use a tool? Yes\nAction: lookup\nAction Input: more",
				Usage: &providertest.Usage{Prompt: 400, Completion: 20}},
			done: providertest.Reply{Text: "Do I need to use a tool? No\nAI: All done.",
				Usage: &providertest.Usage{Prompt: 400, Completion: 10}},
		},
	}
)

// runAgent runs a real agent of kind k through the real openai client and executor
// against a scripted server that asks for the tool `asks` times (for ever when asks
// is 0), then answers. The model is Wrap(client, log, New, Budget(b)).
func runAgent(t *testing.T, k agentKind, asks int, tool *answerTool, b *budget.Atomic, opts ...loopguard.Option) (error, *providertest.Server, *spendLog) {
	t.Helper()
	script := providertest.Fixed(k.reply)
	if asks > 0 {
		replies := make([]providertest.Reply, asks+1)
		for i := range asks {
			replies[i] = k.reply
		}
		replies[asks] = k.done
		script = providertest.Sequence(replies...)
	}
	srv := providertest.NewOpenAI(script)
	t.Cleanup(srv.Close)
	llm, err := srv.OpenAIClient(openai.WithModel("gpt-test"))
	if err != nil {
		t.Fatal(err)
	}
	log := &spendLog{}
	model := llmwrap.Wrap(llm, log.middleware, loopguard.New(opts...), middleware.Budget(b))
	exec := agents.NewExecutor(k.new(model, []tools.Tool{tool}), agents.WithMaxIterations(50))
	_, err = chains.Call(context.Background(), exec, map[string]any{"input": "find the answer"})
	return err, srv, log
}

// A stuck agent of every kind is stopped after the configured repeats, with the
// typed error, before the refused call is sent or reserved.
func TestLoopGuardStopsStuckAgents(t *testing.T) {
	for _, k := range kinds {
		for _, repeats := range []int{3, 5} {
			t.Run(fmt.Sprintf("%s/%d", k.name, repeats), func(t *testing.T) {
				b := budget.NewAtomic(1_000_000, budget.WithName("run"))
				tool := &answerTool{answer: sameAnswer}
				err, srv, log := runAgent(t, k, 0, tool, b, loopguard.Repeats(repeats))
				var le *loopguard.Error
				if !errors.Is(err, loopguard.ErrLoop) || !errors.As(err, &le) {
					t.Fatalf("run ended with %v, want a loop stop", err)
				}
				if errors.Is(err, budget.ErrDenied) {
					t.Errorf("a loop stop is a budget denial: %v", err)
				}
				if le.Tool != "lookup" || le.Repeats != repeats || le.Arguments != "more" || len(le.Cycle) != 1 || le.Cycle[0] != "lookup" {
					t.Errorf("Error %+v, want %d repeats of lookup(more)", le, repeats)
				}
				if got := len(srv.Requests()); got != repeats {
					t.Errorf("server saw %d requests, want %d: the refused call must not be sent", got, repeats)
				}
				if got := tool.calls.Load(); got != int64(repeats) {
					t.Errorf("tool called %d times, want %d", got, repeats)
				}
				spends := log.spends
				if len(spends) != repeats+1 {
					t.Fatalf("%d calls through the model, want %d", len(spends), repeats+1)
				}
				refused := spends[repeats]
				if refused.Budget != nil || refused.Sent {
					t.Errorf("refused call's spend %+v: want no budget part, not sent", refused)
				}
				if l := refused.Loop; l == nil || !reflect.DeepEqual(*l, le.LoopStop) {
					t.Errorf("refused call's loop record %+v", l)
				}
				for _, s := range spends[:repeats] {
					if s.Loop != nil || !s.Sent {
						t.Errorf("a call that went through has loop record %+v, sent %v", s.Loop, s.Sent)
					}
				}
				wantSettled(t, b, sumCharged(spends))
			})
		}
	}
}

// An agent that calls the same tool with the same input but learns something new
// every time is never stopped: it finishes.
func TestLoopGuardLetsVariedAgentsFinish(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			b := budget.NewAtomic(1_000_000, budget.WithName("run"))
			tool := &answerTool{answer: newAnswer}
			err, srv, _ := runAgent(t, k, 12, tool, b)
			if err != nil {
				t.Fatalf("run ended with %v, want it finished", err)
			}
			if got := len(srv.Requests()); got != 13 {
				t.Errorf("server saw %d requests, want 13", got)
			}
		})
	}
}

// Placed after Budget (the wrong order), the guard still costs the budget nothing:
// the hold of the refused call is released, since the model
// was never called.
func TestLoopGuardAfterBudgetChargesNothing(t *testing.T) {
	srv := providertest.NewOpenAI(providertest.Fixed(kinds[0].reply))
	defer srv.Close()
	llm, err := srv.OpenAIClient(openai.WithModel("gpt-test"))
	if err != nil {
		t.Fatal(err)
	}
	b := budget.NewAtomic(1_000_000, budget.WithName("run"))
	log := &spendLog{}
	model := llmwrap.Wrap(llm, log.middleware, middleware.Budget(b), loopguard.New())
	exec := agents.NewExecutor(agents.NewOpenAIFunctionsAgent(model, []tools.Tool{&answerTool{answer: sameAnswer}}), agents.WithMaxIterations(50))
	_, err = chains.Call(context.Background(), exec, map[string]any{"input": "find the answer"})
	if !errors.Is(err, loopguard.ErrLoop) || len(log.spends) != 4 || len(srv.Requests()) != 3 {
		t.Fatalf("err %v after %d calls, %d sent", err, len(log.spends), len(srv.Requests()))
	}
	refused := log.spends[3]
	if refused.Budget == nil || refused.Budget.Reserved == 0 || refused.Budget.Charged != 0 || refused.Sent || refused.Loop == nil {
		t.Errorf("refused call: budget part %+v, sent %v, loop %+v; want a released hold", refused.Budget, refused.Sent, refused.Loop)
	}
	wantSettled(t, b, sumCharged(log.spends))
}

// seqTool is a tool named name whose n-th call (from 1) answers answers[n-1], then
// the last answer for ever.
type seqTool struct {
	name    string
	calls   atomic.Int64
	answers []string
}

func (s *seqTool) Name() string        { return s.name }
func (s *seqTool) Description() string { return "a tool" }
func (s *seqTool) Call(context.Context, string) (string, error) {
	n := int(s.calls.Add(1))
	return s.answers[min(n, len(s.answers))-1], nil
}

// parallel is a scripted model answer asking for n identical calls of tool at once.
func parallel(n int, tool, args string) providertest.Reply {
	r := providertest.Reply{Usage: &providertest.Usage{Prompt: 150, Completion: 10 * n}}
	for range n {
		r.ToolCalls = append(r.ToolCalls, providertest.ToolCall{Name: tool, Arguments: args})
	}
	return r
}

// runFunctionsAgent runs langchaingo's OpenAI functions agent, through the real
// openai client, against a server answering script, with the model
// Wrap(client, log, New(), Budget(b)).
func runFunctionsAgent(t *testing.T, script providertest.Script, tool tools.Tool, b *budget.Atomic) (error, *providertest.Server, *spendLog) {
	t.Helper()
	srv := providertest.NewOpenAI(script)
	t.Cleanup(srv.Close)
	llm, err := srv.OpenAIClient(openai.WithModel("gpt-test"))
	if err != nil {
		t.Fatal(err)
	}
	log := &spendLog{}
	model := llmwrap.Wrap(llm, log.middleware, loopguard.New(), middleware.Budget(b))
	exec := agents.NewExecutor(agents.NewOpenAIFunctionsAgent(model, []tools.Tool{tool}), agents.WithMaxIterations(20))
	_, err = chains.Call(context.Background(), exec, map[string]any{"input": "do the task"})
	return err, srv, log
}

var finalAnswer = providertest.Reply{Text: "All done.", Usage: &providertest.Usage{Prompt: 200, Completion: 5}}

// Issue 19: a tool whose results vary (a random topic) is not a loop. The agent asks
// for three topics at once (cars, penguins, cars), then three more (penguins, cars,
// penguins), then answers; it used to be refused as a cycle of 2 repeated 3 times.
func TestVaryingToolIsNotALoop(t *testing.T) {
	b := budget.NewAtomic(1_000_000, budget.WithName("run"))
	tool := &seqTool{name: "generate_topic", answers: []string{"cars", "penguins", "cars", "penguins", "cars", "penguins"}}
	err, srv, log := runFunctionsAgent(t, providertest.Sequence(
		parallel(3, "generate_topic", `{}`), parallel(3, "generate_topic", `{}`), finalAnswer), tool, b)
	if err != nil {
		t.Fatalf("run ended with %v, want it finished", err)
	}
	if got := len(srv.Requests()); got != 3 || tool.calls.Load() != 6 {
		t.Errorf("%d requests, %d tool calls; want 3 and 6", got, tool.calls.Load())
	}
	wantSettled(t, b, sumCharged(log.spends))
}

// Issue 19: identical calls the model asked for at once are one round. Three
// identical fetches in one answer, with their three (identical) results, are the
// model's first sight of that page: the next call goes out. The same answer three
// turns in a row is a loop of three rounds, refused at the fourth call.
func TestParallelIdenticalCallsAreOneRound(t *testing.T) {
	fetch := parallel(3, "fetch", `{"url":"a"}`)
	t.Run("one turn", func(t *testing.T) {
		b := budget.NewAtomic(1_000_000, budget.WithName("run"))
		tool := &seqTool{name: "fetch", answers: []string{"<html>a</html>"}}
		err, srv, log := runFunctionsAgent(t, providertest.Sequence(fetch, finalAnswer), tool, b)
		if err != nil {
			t.Fatalf("run ended with %v, want it finished", err)
		}
		if got := len(srv.Requests()); got != 2 || tool.calls.Load() != 3 {
			t.Errorf("%d requests, %d tool calls; want 2 and 3", got, tool.calls.Load())
		}
		wantSettled(t, b, sumCharged(log.spends))
	})
	t.Run("three turns", func(t *testing.T) {
		b := budget.NewAtomic(1_000_000, budget.WithName("run"))
		tool := &seqTool{name: "fetch", answers: []string{"<html>a</html>"}}
		err, srv, log := runFunctionsAgent(t, providertest.Fixed(fetch), tool, b)
		var le *loopguard.Error
		if !errors.As(err, &le) || le.Tool != "fetch" || le.Repeats != 3 || le.Arguments != `{"url":"a"}` || len(le.Cycle) != 1 {
			t.Fatalf("run ended with %v (%+v), want a loop stop of 3 repeats of fetch", err, le)
		}
		if got := len(srv.Requests()); got != 3 || tool.calls.Load() != 9 {
			t.Errorf("%d requests, %d tool calls; want 3 and 9", got, tool.calls.Load())
		}
		if n := len(log.spends); n != 4 || log.spends[3].Loop == nil || log.spends[3].Sent {
			t.Errorf("%d calls; the last one's loop record %+v, sent %v", n, log.spends[n-1].Loop, log.spends[n-1].Sent)
		}
		wantSettled(t, b, sumCharged(log.spends))
	})
}
