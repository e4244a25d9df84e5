package llmwrap

import (
	"context"
	"errors"
	"fmt"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/internal/callopts"
)

// GenerateFunc has the shape of llms.Model's GenerateContent.
type GenerateFunc func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error)

// Middleware decorates a GenerateFunc. It may act before and after calling next, or
// not call next at all (a budget denial), and it writes its own part of the call's
// Spend (SpendFrom(ctx)) and nothing else.
//
// The opts a middleware is passed are the call's options as they stand at its layer:
// to change what is sent (a completion limit, a streaming function that taps the
// stream) it appends to them, never writes into the caller's array, and passes the
// result to next; to read them it applies them in order, the last setting winning, as
// a provider does.
//
// Every middleware of this module, given a nil next, returns a GenerateFunc that
// fails with an error (Wrap skips nil middleware); each application of a middleware
// value is independent of the others, so one value may wrap several models.
type Middleware func(next GenerateFunc) GenerateFunc

// ErrEmptyResponse is returned by a wrapped model when the model returned neither a
// response nor an error, and by its Call when the response has no choice.
var ErrEmptyResponse = errors.New("llmwrap: empty response from model")

var errNilModel = errors.New("llmwrap: Wrap was given a nil model")

// Wrap returns m decorated by mws, mws[0] outermost. Every GenerateContent call gets a
// fresh Spend, created before the first middleware runs, and returns only after the
// OnSpend hooks have read it. Call goes through GenerateContent, so the middleware see
// it too. When m implements llms.ReasoningModel, so does the result.
//
// Below the innermost middleware, the model step notes in the Spend that the model
// was called (Sent), with which completion limit (MaxTokens), and the usage the
// provider reported (ReportedUsage: Usage and UsageMissing). A nil context is
// replaced by context.Background. Nil middleware are skipped; a nil m gives a model
// whose calls return an error.
func Wrap(m llms.Model, mws ...Middleware) llms.Model {
	w := &model{next: m, typ: fmt.Sprintf("%T", m)}
	gen := terminal(m)
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] != nil {
			gen = mws[i](gen)
		}
	}
	w.gen = gen
	if rm, ok := m.(llms.ReasoningModel); ok {
		return &reasoningModel{model: w, rm: rm}
	}
	return w
}

// terminal is the model step (wrapkit.Terminal): it calls m and records in the
// call's Spend that it did, with which MaxTokens, and what the provider reported.
func terminal(m llms.Model) GenerateFunc {
	if m == nil {
		return func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
			return nil, errNilModel
		}
	}
	call := m.GenerateContent
	return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
		s := SpendFrom(ctx)
		if s == nil { // outside Wrap, or a middleware replaced the context with one not derived from Wrap's
			return call(ctx, msgs, opts...)
		}
		if err := ctx.Err(); err != nil {
			return nil, err // a done context is never sent: every client checks it first
		}
		o := callopts.Resolve(opts)
		s.Sent, s.MaxTokens = true, o.MaxTokens
		streamed := o.StreamingFunc != nil
		callopts.Release(o)
		resp, err := call(ctx, msgs, opts...)
		s.Usage, s.UsageMissing = callUsage(resp, msgs, streamed)
		return resp, err
	}
}

type model struct {
	next llms.Model
	gen  GenerateFunc
	typ  string
}

// GenerateContent runs the middleware chain with a new Spend in the context.
func (m *model) GenerateContent(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	c := &spendContext{Context: ctx}
	c.spend.init(m.typ, opts)
	resp, err := m.gen(c, msgs, opts...)
	if err == nil && resp == nil {
		err = ErrEmptyResponse
	}
	c.spend.Err = err
	c.spend.done(c)
	return resp, err
}

// Call sends prompt as one human message through GenerateContent and returns the first
// choice's text.
func (m *model) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	resp, err := m.GenerateContent(ctx, []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, prompt)}, opts...)
	if err != nil {
		return "", err
	}
	if len(resp.Choices) == 0 || resp.Choices[0] == nil {
		return "", ErrEmptyResponse
	}
	return resp.Choices[0].Content, nil
}

// Unwrap returns the model that was wrapped.
func (m *model) Unwrap() llms.Model { return m.next }

type reasoningModel struct {
	*model
	rm llms.ReasoningModel
}

// SupportsReasoning reports what the wrapped model reports.
func (r *reasoningModel) SupportsReasoning() bool { return r.rm.SupportsReasoning() }

var (
	_ llms.Model          = (*model)(nil)
	_ llms.ReasoningModel = (*reasoningModel)(nil)
)
