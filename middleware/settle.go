package middleware

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/budgetkit"
	"github.com/spendguard/spendguard/internal/sat"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/tmc/langchaingo/llms"
)

// settle charges the call what its provider billed: the reported usage (Spend.Usage,
// written by the model step), with what the report left out estimated, or all of it
// estimated when nothing was reported. A call that failed with nothing reported is
// charged what failedCharge says the provider billed.
func (h *handler) settle(ctx context.Context, b budget.TokenBudget, p plan, s *llmwrap.Spend,
	resp *llms.ContentResponse, err error, tap *streamTap) {
	c := s.Budget
	u, missing := s.Usage, s.UsageMissing
	if missing&llmwrap.MissingCompletion == 0 && u.CompletionTokens == 0 && tap.streamed() {
		// Output that went out only through the stream is output all the same.
		missing |= llmwrap.MissingCompletion
		if missing == llmwrap.MissingAll {
			u = llmwrap.Usage{}
		}
	}
	switch {
	case missing == 0: // answered, or failed after the provider billed what it reports
		h.record(ctx, b, p.r, s, u, llmwrap.UsageReported)
	case missing != llmwrap.MissingAll: // keep what was reported, estimate the rest
		if missing&llmwrap.MissingPrompt != 0 {
			u.PromptTokens = c.PromptEstimate
		}
		if missing&llmwrap.MissingCompletion != 0 {
			// A count flagged missing but not 0 is a lower bound (googleai's first
			// stream chunk: the output so far, thoughts included, which the text
			// estimate cannot see).
			u.CompletionTokens = max(u.CompletionTokens, responseEstimate(resp, tap))
		}
		h.record(ctx, b, p.r, s, u, llmwrap.UsagePartial)
	case err == nil:
		u = llmwrap.Usage{PromptTokens: c.PromptEstimate, CompletionTokens: responseEstimate(resp, tap)}
		h.record(ctx, b, p.r, s, u, llmwrap.UsageEstimated)
	default:
		switch failedCharge(s, err, tap) {
		case notBilled:
			h.release(ctx, b, p.r, s)
		case interrupted:
			u = llmwrap.Usage{PromptTokens: c.PromptEstimate, CompletionTokens: responseEstimate(resp, tap)}
			h.record(ctx, b, p.r, s, u, llmwrap.UsageInterrupted)
		case unknownOutcome:
			h.recordReservation(ctx, b, p.r, s)
		}
	}
}

// What a call that failed without a usage report is charged.
const (
	notBilled      = iota // nothing: released whole
	interrupted           // a stream cut short: the prompt estimate and the output seen
	unknownOutcome        // a call sent without a stream whose outcome is unknown: its reservation
)

// failedCharge decides what the provider billed a call that failed without a usage
// report. Providers bill what they generated: none of OpenAI, Anthropic or Google
// documents a refund for a request cancelled or cut mid-generation, and a stream
// keeps generating until the provider notices the client has gone. So:
//
//   - nothing was sent (a later middleware refused the call), or the provider could
//     not be reached, or it answered with an HTTP error status before any output
//     (4xx: a bad or rate-limited request, 429 included; 5xx: it failed to serve it
//     — errors are not billed, https://docs.anthropic.com/en/api/errors,
//     https://platform.openai.com/docs/guides/error-codes): not billed;
//   - a streamed call that failed (cancelled, timed out, connection cut): the prompt
//     was processed and what was streamed was generated, so the prompt estimate plus
//     the output seen, a lower bound of the bill;
//   - a call without a stream that failed after it was sent: its outcome is unknown
//     (the provider may have generated the whole answer), so its reservation. (So is
//     an error of langchaingo's ollama client that carried a body: the client keeps
//     the body's text and drops the status.)
func failedCharge(s *llmwrap.Spend, err error, tap *streamTap) int {
	switch {
	case !s.Sent:
		return notBilled
	case tap.streamed():
		return interrupted
	case answeredWithStatus(err) || unreachable(err):
		return notBilled
	case tap != nil:
		return interrupted
	}
	return unknownOutcome
}

// answeredWithStatus reports whether err says the provider answered with an HTTP error
// status. langchaingo v0.1.14's clients say it in different ways: openai and
// anthropic as text ("API returned unexpected status code: 429: …"), googleai's
// genai SDK as a *googleapi.Error (Code; "googleapi: Error 429: …"), ollama as a
// StatusError value (StatusCode). Their types are internal or heavy to import, so
// the chain is read by field name.
func answeredWithStatus(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if code := statusField(e); code >= 400 && code <= 599 {
			return true
		}
	}
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, marker := range [...]string{"status code: ", "googleapi: Error "} {
		if i := strings.Index(msg, marker); i >= 0 {
			rest := msg[i+len(marker):]
			return len(rest) >= 3 && (rest[0] == '4' || rest[0] == '5') && isDigit(rest[1]) && isDigit(rest[2])
		}
	}
	return false
}

// statusField is the StatusCode or Code int field of the struct err is (or points
// to), 0 when it has none.
func statusField(err error) int64 {
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0
	}
	for _, name := range [...]string{"StatusCode", "Code"} {
		if f := v.FieldByName(name); f.IsValid() && f.CanInt() {
			return f.Int()
		}
	}
	return 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// unreachable reports whether err says the request never reached the provider: a
// refused or failed dial (langchaingo's openai client reports any network error
// before a response as "failed to reach API server").
func unreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "failed to reach API server")
}

// learnFrom teaches the model's prompt calibration the prompt the provider reported
// for the estimate, and its learned allowance the completion of a call that answered,
// with one lookup of the model's state for both.
func (h *handler) learnFrom(s *llmwrap.Spend, p plan, resp *llms.ContentResponse, err error) {
	if h.hardCap && resp != nil {
		s.Budget.Cut = wasCut(resp, p.maxTokens, s.Budget.Usage.CompletionTokens/p.choices)
	}
	learnPrompt := s.UsageMissing&llmwrap.MissingPrompt == 0 && !h.noCalibration
	learnCompletion := err == nil && !h.fixed && s.Operation != operationEmbeddings
	if !learnPrompt && !learnCompletion {
		return
	}
	r := h.learn.ring(s.Model, true)
	if r == nil {
		return
	}
	if learnPrompt {
		r.observePrompt(p.shape, s.Budget.PromptEstimateRaw, s.Usage.PromptTokens)
	}
	if learnCompletion {
		perChoice := s.Budget.Usage.CompletionTokens / p.choices
		h.learn.observeRing(r, perChoice, wasCut(resp, p.maxTokens, perChoice))
	}
}

// record settles r with usage u, which the budget's part of the Spend records as
// what was charged.
func (h *handler) record(ctx context.Context, b budget.TokenBudget, r *budget.Reservation, s *llmwrap.Spend, u llmwrap.Usage, src llmwrap.UsageSource) {
	c := s.Budget
	c.Usage, c.UsageSource = u, src
	prompt, completion := u.PromptTokens, u.CompletionTokens
	if h.cost != nil {
		prompt, completion = h.cost(s.Model, u), 0
	}
	c.Charged = sat.Add(prompt, completion)
	sctx, cancel := h.settleContext(ctx)
	defer cancel()
	if h.alerting(b) {
		sctx = budgetkit.NotifyAlerts(sctx, func(a budget.Alert) { c.Alerts = append(c.Alerts, a) })
	}
	if err := b.Record(sctx, r, prompt, completion); err != nil {
		h.settleFailed(c, fmt.Errorf("middleware: recording the usage of a %s call in budget %q: %w", s.Model, c.Name, err))
	}
	c.Remaining, c.RemainingKnown = h.remaining(sctx, b, 0)
}

// recordReservation charges r whole, in budget units: the charge of a call whose
// outcome is unknown.
func (h *handler) recordReservation(ctx context.Context, b budget.TokenBudget, r *budget.Reservation, s *llmwrap.Spend) {
	c := s.Budget
	c.Usage, c.UsageSource = llmwrap.Usage{PromptTokens: c.PromptEstimate, CompletionTokens: c.CompletionAllowance}, llmwrap.UsageReservation
	c.Charged = r.Tokens()
	sctx, cancel := h.settleContext(ctx)
	defer cancel()
	if err := b.Record(sctx, r, r.Tokens(), 0); err != nil {
		h.settleFailed(c, fmt.Errorf("middleware: charging the reservation of a %s call in budget %q: %w", s.Model, c.Name, err))
	}
	c.Remaining, c.RemainingKnown = h.remaining(sctx, b, 0)
}

// release gives r back whole.
func (h *handler) release(ctx context.Context, b budget.TokenBudget, r *budget.Reservation, s *llmwrap.Spend) {
	s.Budget.Charged = 0
	sctx, cancel := h.settleContext(ctx)
	defer cancel()
	if err := b.Release(sctx, r); err != nil {
		h.settleFailed(s.Budget, fmt.Errorf("middleware: releasing the hold of a %s call in budget %q: %w", s.Model, s.Budget.Name, err))
	}
	s.Budget.Remaining, s.Budget.RemainingKnown = h.remaining(sctx, b, 0)
}

// alerting reports whether a Record of b may cross an alert threshold, so that the
// settle is prepared to note it (known in advance for the middleware's own budget).
func (h *handler) alerting(b budget.TokenBudget) bool {
	if h.ownComparable && b == h.b {
		return h.alerts
	}
	return alerting(b, 0)
}

// alerting reports whether b, or a member of it, has alert thresholds (budgetkit.Alerting).
func alerting(b budget.TokenBudget, depth int) bool {
	if a, ok := b.(budgetkit.Alerting); ok && len(a.AlertFractions()) > 0 {
		return true
	}
	if all, ok := b.(budgetkit.Composite); ok && depth < 8 {
		for _, m := range all.Members() {
			if alerting(m, depth+1) {
				return true
			}
		}
	}
	return false
}

func (h *handler) settleFailed(c *llmwrap.BudgetCharge, err error) {
	c.SettleErr = err
	h.report(err)
}

// remaining is what b has left (the smallest among a composite's members), and
// whether b could say.
func (h *handler) remaining(ctx context.Context, b budget.TokenBudget, depth int) (uint64, bool) {
	switch x := b.(type) {
	case budgetkit.RemainingReader:
		return x.Remaining(), true
	case budgetkit.Composite:
		if depth > 8 {
			return 0, false
		}
		var least uint64
		known := false
		for _, m := range x.Members() {
			if v, ok := h.remaining(ctx, m, depth+1); ok && (!known || v < least) {
				least, known = v, true
			}
		}
		return least, known
	case budget.Observable:
		snap, err := x.Snapshot(ctx)
		if err != nil {
			h.report(fmt.Errorf("middleware: reading what is left in budget %q: %w", nameOf(b), err))
			return 0, false
		}
		return snap.Remaining, true
	}
	return 0, false
}

func (h *handler) report(err error) {
	if h.onError != nil {
		h.onError(err)
	}
}

// settleContext is the context settles run on: the call's values without its
// cancellation, bounded by the settle timeout, since the call has happened and its
// hold must be settled even if the caller gave up. A context that can never be
// cancelled needs no detaching and is used as it is.
func (h *handler) settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Done() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), h.settleTimeout)
}

// wasCut reports whether a completion stopped at its token cap rather than on its own.
func wasCut(resp *llms.ContentResponse, maxTokens int, completion uint64) bool {
	if maxTokens > 0 && completion >= uint64(maxTokens) {
		return true
	}
	if resp == nil {
		return false
	}
	for _, c := range resp.Choices {
		if c != nil && isLengthStop(c.StopReason) {
			return true
		}
	}
	return false
}

func isLengthStop(reason string) bool {
	switch reason {
	case "", "stop", "end_turn", "tool_calls", "tool_use", "function_call", "stop_sequence":
		return false
	case "length", "max_tokens":
		return true
	}
	r := strings.ToLower(reason)
	return strings.Contains(r, "length") || strings.Contains(r, "max_tokens") || strings.Contains(r, "maxtokens")
}

// responseEstimate estimates the completion tokens of a response that reported no
// usage: every choice's text, reasoning and tool calls, or the streamed text when the
// response carries no text at all.
func responseEstimate(resp *llms.ContentResponse, tap *streamTap) uint64 {
	var n uint64
	if resp != nil {
		for _, c := range resp.Choices {
			if c == nil {
				continue
			}
			n = sat.Add(n, estimate.Text(c.Content))
			n = sat.Add(n, estimate.Text(c.ReasoningContent))
			for _, tc := range c.ToolCalls {
				if tc.FunctionCall != nil {
					n = sat.Add(n, estimate.Text(tc.FunctionCall.Name))
					n = sat.Add(n, estimate.Text(tc.FunctionCall.Arguments))
				}
			}
			if len(c.ToolCalls) == 0 && c.FuncCall != nil { // FuncCall repeats ToolCalls[0]
				n = sat.Add(n, estimate.Text(c.FuncCall.Name))
				n = sat.Add(n, estimate.Text(c.FuncCall.Arguments))
			}
		}
	}
	if n == 0 && tap != nil {
		n = estimate.Text(tap.text())
	}
	return n
}

func nameOf(b budget.TokenBudget) string {
	if n, ok := b.(budgetkit.Named); ok {
		return n.Name()
	}
	return ""
}

func asDenied(err error) *budget.DeniedError {
	var d *budget.DeniedError
	if errors.As(err, &d) {
		return d
	}
	return nil
}
