package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/price"
)

// scriptedModel is the name the scripted server answers as.
const scriptedModel = "scripted-model"

// The two models of a money budget (-money, -fallback): the same script, served under
// two names, at two prices.
const (
	largeModel = "scripted-large"
	smallModel = "scripted-small"
)

// scriptedPrices are MADE UP, in micro-dollars per million tokens: no real model's
// prices, only a tenfold gap between an expensive and a cheap model, the kind the
// fallback is for.
var scriptedPrices = price.Table{
	largeModel: {Rates: price.Rates{Input: 10_000_000, Output: 30_000_000}},
	smallModel: {Rates: price.Rates{Input: 1_000_000, Output: 3_000_000}},
	// -scenario rag's embeddings: input only.
	scriptedEmbedModel: {Rates: price.Rates{Input: 100_000}},
}

// priceList describes scriptedPrices in dollars.
func priceList() string {
	var parts []string
	for _, m := range []string{largeModel, smallModel} {
		p := scriptedPrices[m]
		parts = append(parts, fmt.Sprintf("%s $%.2f in, $%.2f out", m, float64(p.Input)/1e6, float64(p.Output)/1e6))
	}
	return strings.Join(parts, "; ")
}

// describePrice describes p's rates per million tokens in dollars, the cache rates
// only when they differ from the input rate, then each tier's.
func describePrice(p price.Price) string {
	s := describeRates(p.Rates)
	for _, t := range p.Tiers {
		s += fmt.Sprintf("; above %d prompt tokens %s", t.Above, describeRates(t.Rates))
	}
	return s
}

// describeRates lists r's non-zero rates (in a tier, a zero rate keeps the one below).
func describeRates(r price.Rates) string {
	var parts []string
	for _, x := range []struct {
		name string
		v    uint64
	}{{"in", r.Input}, {"out", r.Output}, {"cache read", r.CacheRead}, {"cache write", r.CacheWrite}, {"1-hour cache write", r.CacheWrite1h}} {
		if x.v != 0 {
			parts = append(parts, dollars(x.v)+" "+x.name)
		}
	}
	return strings.Join(parts, ", ")
}

// dollars writes micro-dollars as dollars, exactly: 2500000 is $2.50, 75000 $0.075.
func dollars(micro uint64) string {
	frac := strings.TrimRight(fmt.Sprintf("%06d", micro%1_000_000), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return fmt.Sprintf("$%d.%s", micro/1_000_000, frac)
}

// moneyBudget is -budget's default with a money budget: 6 cents, in micro-dollars.
const moneyBudget = 60_000

// words is the text the scripted model hands to the word counter, a little more of it
// on every turn, so that the conversation keeps growing.
var words = strings.Fields(`spend guard reserves an estimate of the tokens each call will
cost before it is sent and settles the reservation with the usage the provider reports so
that an agent which would loop for ever stops when its budget runs out`)

// scenarios are the scripted models -scenario picks from.
var scenarios = map[string]providertest.Script{
	"count": script,
	"stuck": stuckScript,
	"rag":   ragScript,
}

// script plays a tool-calling model that never finishes: turn after turn it asks for the
// word counter (on a longer text each time), the calculator and the clock. It keeps no
// state: the turn is read from the request (see turnOf), so it is safe for concurrent
// use.
//
// The usage it reports is what a provider would bill: the prompt is the request body's
// size in tokens (about four bytes each), the completion the tool call's. A completion
// longer than the request's max tokens is cut to it, with finish reason "length".
func script(req providertest.Request) providertest.Reply {
	turn := turnOf(req)
	var name, arg string
	switch turn % 3 {
	case 0:
		n := 12 * (turn/3 + 1)
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[i%len(words)])
		}
		name, arg = "word_count", b.String()
	case 1:
		name, arg = "calculator", fmt.Sprintf("%d * %d + %d", 12*(turn/3+1), turn+3, turn)
	default:
		name, arg = "clock", "UTC"
	}
	return ask(req, turn, name, arg)
}

// stuckScript plays a model that is stuck: every turn it asks the word counter to
// count the same text, gets the same answer, and asks again.
func stuckScript(req providertest.Request) providertest.Reply {
	return ask(req, turnOf(req), "word_count", "chapter one of the manuscript")
}

// turnOf reads the turn from the request: with tools offered (the OpenAI functions
// agent), from the tool results it carries (the agent replays identical calls as one
// assistant message, so messages do not count turns); without (the MRKL agent, whose
// prompt is one message), from the observations in its scratchpad (the format
// instructions hold one more).
func turnOf(req providertest.Request) int {
	if req.Tools > 0 {
		return strings.Count(string(req.Body), `"tool_call_id"`)
	}
	return max(0, strings.Count(string(req.Body), "Observation:")-1)
}

// ask is the reply asking for tool name with arg: a tool call when the request
// offered tools, else the MRKL text format.
func ask(req providertest.Request, turn int, name, arg string) providertest.Reply {
	var r providertest.Reply
	var completion int
	if req.Tools > 0 {
		args, _ := json.Marshal(map[string]string{"__arg1": arg})
		r.ToolCalls = []providertest.ToolCall{{ID: fmt.Sprintf("call_%d", turn+1), Name: name, Arguments: string(args)}}
		completion = 9 + (len(args)+3)/4
	} else {
		r.Text = fmt.Sprintf("Thought: I should use the %s tool.\nAction: %s\nAction Input: %s", name, name, arg)
		completion = (len(r.Text) + 3) / 4
	}
	u := &providertest.Usage{
		Prompt:     (len(req.Body) + 3) / 4,
		Completion: completion,
	}
	r.Usage = u
	if req.MaxTokens > 0 && u.Completion > req.MaxTokens {
		u.Completion = req.MaxTokens
		r.FinishReason = "length"
	}
	return r
}
