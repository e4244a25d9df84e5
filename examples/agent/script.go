package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spendguard/spendguard/internal/providertest"
)

// scriptedModel is the name the scripted server answers as.
const scriptedModel = "scripted-model"

// words is the text the scripted model hands to the word counter, a little more of it
// on every turn, so that the conversation keeps growing.
var words = strings.Fields(`spend guard reserves an estimate of the tokens each call will
cost before it is sent and settles the reservation with the usage the provider reports so
that an agent which would loop for ever stops when its budget runs out`)

// script plays a tool-calling model that never finishes: turn after turn it asks for the
// word counter (on a longer text each time), the calculator and the clock. It keeps no
// state: the turn is read from the number of messages the agent sent (system, human,
// then an assistant message and a tool result per tool call), so it is safe for
// concurrent use.
//
// The usage it reports is what a provider would bill: the prompt is the request body's
// size in tokens (about four bytes each), the completion the tool call's. A completion
// longer than the request's max tokens is cut to it, with finish reason "length".
func script(req providertest.Request) providertest.Reply {
	turn := max(0, (req.Messages-2)/2)
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
	args, _ := json.Marshal(map[string]string{"__arg1": arg})
	u := &providertest.Usage{
		Prompt:     (len(req.Body) + 3) / 4,
		Completion: 9 + (len(args)+3)/4,
	}
	r := providertest.Reply{
		ToolCalls: []providertest.ToolCall{{ID: fmt.Sprintf("call_%d", turn+1), Name: name, Arguments: string(args)}},
		Usage:     u,
	}
	if req.MaxTokens > 0 && u.Completion > req.MaxTokens {
		u.Completion = req.MaxTokens
		r.FinishReason = "length"
	}
	return r
}
