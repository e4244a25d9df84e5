package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/loopguard"
	"github.com/spendguard/spendguard/middleware"
)

// callRecord is one model call as the program reports it.
type callRecord struct {
	Call             int    `json:"call"`
	Model            string `json:"model"`                   // the model called (or, denied, the last one tried)
	Operation        string `json:"operation,omitempty"`     // "embeddings" for a batch of texts embedded; "" for a chat call
	FallbackFrom     string `json:"fallback_from,omitempty"` // the model the budget skipped for Model
	Estimated        uint64 `json:"estimated"`
	Reserved         uint64 `json:"reserved"`
	PromptTokens     uint64 `json:"prompt_tokens"`
	CompletionTokens uint64 `json:"completion_tokens"`
	UsageSource      string `json:"usage_source,omitempty"` // reported | partial | estimated | "" (not charged)
	Charged          uint64 `json:"charged"`
	Refunded         uint64 `json:"refunded"`
	MaxTokens        int    `json:"max_tokens,omitempty"` // the completion limit sent (a hard cap sets it)
	Cut              bool   `json:"cut,omitempty"`        // the answer stopped at the MaxTokens a hard cap sent
	Denied           bool   `json:"denied,omitempty"`
	Sent             bool   `json:"sent"`           // the model was called
	Loop             bool   `json:"loop,omitempty"` // the loop guard refused the call: not sent, nothing reserved
	Consumed         uint64 `json:"consumed"`
	Error            string `json:"error,omitempty"`
	// With -rate: when the limit counted the call as started (RFC 3339, by the
	// limit's clock: Redis's with -redis), how long it waited for the limit, and the
	// tokens it reserved from the limit (its estimate) and was counted at its settle.
	StartedAt   string `json:"started_at,omitempty"`
	WaitedMs    int64  `json:"waited_ms"`
	RateReserve uint64 `json:"rate_reserved,omitempty"`
	RateCharged uint64 `json:"rate_charged,omitempty"`
}

// denial is the budget's refusal that ended the run.
type denial struct {
	Budget    string `json:"budget"`
	Requested uint64 `json:"requested"`
	Remaining uint64 `json:"remaining"`
	Tool      string `json:"tool,omitempty"` // set when a tool guard refused, not the token budget
}

// loopStop is the loop guard's refusal that ended the run.
type loopStop struct {
	Tool      string   `json:"tool"`
	Arguments string   `json:"arguments"`
	Repeats   int      `json:"repeats"`
	Cycle     []string `json:"cycle,omitempty"`
}

// What ended the run (report.StoppedBy).
const (
	stoppedByLoop     = "loop"      // the loop guard refused a call
	stoppedByBudget   = "budget"    // the token budget or the tool guard refused one
	stoppedByFinish   = "finished"  // the agent answered
	stoppedByMaxCalls = "max_calls" // -max-calls model calls, and still going
	stoppedByError    = "error"     // a provider or budget store failed
)

// report is everything the program prints; -json prints it as it is.
type report struct {
	Provider    string       `json:"provider"`
	Model       string       `json:"model"`
	Scenario    string       `json:"scenario,omitempty"` // the scripted model's
	Agent       string       `json:"agent"`              // functions | mrkl
	Budget      string       `json:"budget"`
	Capacity    uint64       `json:"capacity"`
	Unit        string       `json:"unit"` // of the budget's amounts: "tokens" or "micro-USD"
	HardCap     bool         `json:"hard_cap,omitempty"`
	Fallback    string       `json:"fallback,omitempty"`  // the model calls fall back to (-fallback)
	FellBack    int          `json:"fell_back,omitempty"` // calls sent to it
	ToolBudget  uint64       `json:"tool_budget"`         // tool dispatches allowed (-tool-calls)
	Service     string       `json:"service,omitempty"`   // OTEL service name, when exporting
	TraceID     string       `json:"trace_id,omitempty"`  // the run's trace, when exporting
	Rate        string       `json:"rate,omitempty"`      // -rate, TOKENS/INTERVAL
	Calls       []callRecord `json:"calls"`
	StoppedBy   string       `json:"stopped_by"` // loop | budget | finished | max_calls | error
	Denial      *denial      `json:"denial,omitempty"`
	Loop        *loopStop    `json:"loop,omitempty"`
	Answer      string       `json:"answer,omitempty"` // the agent's answer, when it finished
	ToolCalls   int64        `json:"tool_calls"`
	Sent        int          `json:"sent"` // model calls sent to the provider
	Prompt      uint64       `json:"prompt_tokens"`
	Completion  uint64       `json:"completion_tokens"`
	Estimated   int          `json:"estimated_calls,omitempty"` // calls whose usage was not reported
	Consumed    uint64       `json:"consumed"`
	Remaining   uint64       `json:"remaining"`
	ExportError string       `json:"export_error,omitempty"`

	redis     string   // -redis: the address of the shared budget
	Retrieved []string `json:"retrieved,omitempty"` // -scenario rag: the passages the agent was given
}

// reporter reads every call's llmwrap.Spend (through llmwrap.OnSpend, filled in by
// middleware.Budget further in) and prints a line.
type reporter struct {
	b        budget.TokenBudget
	capacity uint64
	hardCap  bool
	money    bool      // amounts are micro-dollars, each with its unit
	out      io.Writer // nil: print nothing as calls go (-json)

	mu  sync.Mutex
	rep *report
}

// observe is the llmwrap.OnSpend hook: one record and line per call.
func (r *reporter) observe(ctx context.Context, s *llmwrap.Spend) {
	consumed := r.snapshot(context.WithoutCancel(ctx)).Consumed
	c := callRecord{
		Model:     s.Model,
		Operation: s.Operation,
		MaxTokens: s.MaxTokens,
		Sent:      s.Sent,
		Consumed:  consumed,
	}
	if b := s.Budget; b != nil {
		c.Estimated, c.Reserved, c.Charged, c.Refunded, c.Denied, c.Cut = b.Estimate, b.Reserved, b.Charged, b.Refunded(), b.Denied, b.Cut
	}
	if s.Fallback != nil {
		c.FallbackFrom = s.Fallback.From
	}
	if w := s.Rate; w != nil && !w.Start.IsZero() {
		c.StartedAt, c.WaitedMs = w.Start.UTC().Format(time.RFC3339Nano), w.Waited.Milliseconds()
		c.RateReserve, c.RateCharged = w.EstimateInput+w.EstimateOutput, w.ChargedInput+w.ChargedOutput
	}
	if b := s.Budget; b != nil && b.UsageSource != llmwrap.UsageNone {
		c.PromptTokens, c.CompletionTokens = b.Usage.PromptTokens, b.Usage.CompletionTokens
		c.UsageSource = string(b.UsageSource)
	}
	switch {
	case s.Loop != nil:
		c.Loop = true
	case s.Err != nil && !c.Denied:
		c.Error = s.Err.Error()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c.Call = len(r.rep.Calls) + 1
	r.rep.Calls = append(r.rep.Calls, c)
	if r.out != nil {
		fmt.Fprintln(r.out, r.line(c))
	}
}

// columns is the heading of the per-call lines; with a money budget the amounts
// are micro-dollars (µ$) and the usage tokens, each number with its unit.
func (r *reporter) columns() string {
	usage := "reported (in + out)"
	if r.money {
		usage = "reported (in + out)"
	}
	return strings.TrimRight(fmt.Sprintf("%-7s  %9s  %9s  %-*s  %9s  %s", "", "estimated", "reserved", r.usageWidth(), usage, "refunded", "budget used"), " ")
}

func (r *reporter) usageWidth() int {
	if r.money {
		return 24
	}
	return 20
}

// amount is a budget amount with its unit: a bare number of tokens (the heading and
// the header say tokens), or micro-dollars with a money budget.
func (r *reporter) amount(n uint64) string {
	if r.money {
		return strconv.FormatUint(n, 10) + "µ$"
	}
	return strconv.FormatUint(n, 10)
}

// line is one call in a line, under columns: what was estimated and reserved before
// it, what the provider reported, what was given back, and the budget used so far;
// then notes: the usage's source when the provider did not report it all, the
// max_tokens a hard cap sent (and "cut" when the answer stopped there), a fallback,
// the wait for the rate limit. The default output keeps within 100 columns.
func (r *reporter) line(c callRecord) string {
	if c.Loop {
		return fmt.Sprintf("call %2d  LOOP: the same tool call and result too often; not sent, nothing reserved", c.Call)
	}
	head := fmt.Sprintf("call %2d  %9s", c.Call, r.amount(c.Estimated))
	switch {
	case c.Denied && c.FallbackFrom != "":
		return head + "  DENIED on " + c.Model + " (fell back from " + c.FallbackFrom + "), not sent"
	case c.Denied && r.money:
		return head + "  DENIED on " + c.Model + ", not sent"
	case c.Denied:
		return head + "  DENIED, not sent"
	case c.Error != "":
		return fmt.Sprintf("%s  %9s  failed: %s  %s", head, r.amount(c.Reserved), c.Error, bar(c.Consumed, r.capacity))
	}
	tok := ""
	if r.money {
		tok = " tokens"
	}
	usage := fmt.Sprintf("%5d%s (%d + %d)", c.PromptTokens+c.CompletionTokens, tok, c.PromptTokens, c.CompletionTokens)
	back := r.amount(c.Refunded)
	if c.Charged > c.Reserved { // the estimate was short: the rest is charged, as debt if need be
		back = "over " + r.amount(c.Charged-c.Reserved)
	}
	var notes []string
	switch c.UsageSource {
	case string(llmwrap.UsageEstimated):
		notes = append(notes, "usage estimated")
	case string(llmwrap.UsagePartial): // part reported, the rest estimated
		notes = append(notes, "usage partial")
	}
	if r.hardCap {
		n := fmt.Sprintf("max_tokens %d", c.MaxTokens)
		if c.Cut {
			n += " CUT"
		}
		notes = append(notes, n)
	}
	if c.FallbackFrom != "" {
		notes = append(notes, "fell back") // to the model the header names
	}
	if c.WaitedMs > 0 {
		notes = append(notes, fmt.Sprintf("waited %d ms", c.WaitedMs))
	}
	if c.Operation != "" {
		notes = append(notes, c.Operation) // of the embedding model (-json has it)
	}
	l := fmt.Sprintf("%s  %9s  %-*s  %9s  %s", head, r.amount(c.Reserved), r.usageWidth(), usage, back, bar(c.Consumed, r.capacity))
	if len(notes) > 0 {
		l += "  " + strings.Join(notes, ", ")
	}
	return l
}

// bar draws used out of capacity as [#####-----] 48%; a budget in debt shows more
// than 100%.
func bar(used, capacity uint64) string {
	const width = 10
	pct := 100.0
	if capacity > 0 {
		pct = 100 * float64(used) / float64(capacity)
	}
	filled := min(width, max(0, int(pct*width/100+0.5)))
	return fmt.Sprintf("[%s%s] %3.0f%%", strings.Repeat("#", filled), strings.Repeat("-", width-filled), pct)
}

// finish fills in the totals and the denial that ended the run.
func (r *reporter) finish(ctx context.Context, runErr error, tools int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.rep
	rep.ToolCalls = tools
	for _, c := range rep.Calls {
		if c.Sent {
			rep.Sent++
			if c.FallbackFrom != "" {
				rep.FellBack++
			}
		}
		if c.UsageSource == "" {
			continue
		}
		rep.Prompt += c.PromptTokens
		rep.Completion += c.CompletionTokens
		if c.UsageSource == string(llmwrap.UsageEstimated) {
			rep.Estimated++
		}
	}
	s, err := r.b.(budget.Observable).Snapshot(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("reading budget %q: %w", rep.Budget, err)
	}
	rep.Consumed, rep.Capacity, rep.Remaining = s.Consumed, s.Capacity, s.Remaining
	var le *loopguard.Error
	if errors.As(runErr, &le) {
		rep.Loop = &loopStop{Tool: le.Tool, Arguments: le.Arguments, Repeats: le.Repeats}
		if len(le.Cycle) > 1 {
			rep.Loop.Cycle = le.Cycle
		}
	}
	var d *budget.DeniedError
	var td *middleware.ToolDeniedError
	switch {
	case errors.As(runErr, &td):
		rep.Denial = &denial{Budget: "tool guard", Tool: td.Tool, Requested: td.Requested, Remaining: td.Remaining}
	case errors.As(runErr, &d):
		rep.Denial = &denial{Budget: d.Budget, Requested: d.Requested, Remaining: d.Remaining}
	}
	return nil
}

// snapshot is the budget as it stands (both of the example's budgets are
// budget.Observable: an Atomic, or a redisbudget.Budget, whose snapshot has the
// capacity an operator set in Redis); a failed read is the zero Snapshot.
func (r *reporter) snapshot(ctx context.Context) budget.Snapshot {
	s, _ := r.b.(budget.Observable).Snapshot(ctx)
	return s
}

// print writes the end of the run in words, or the whole report as JSON.
func (rep *report) print(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	switch d := rep.Denial; {
	case rep.Loop != nil && len(rep.Loop.Cycle) > 1:
		fmt.Fprintf(w, "Stopped by the loop guard: the agent went round the same %d tool calls (%s) %d times in a row with the same results, so call %d was refused before it was sent; budget %q still had %d of %d %s.\n",
			len(rep.Loop.Cycle), strings.Join(rep.Loop.Cycle, ", "), rep.Loop.Repeats, len(rep.Calls), rep.Budget, rep.Remaining, rep.Capacity, rep.Unit)
	case rep.Loop != nil:
		fmt.Fprintf(w, "Stopped by the loop guard: the agent called the %s tool %d times in a row with the same arguments (%s) and got the same result each time, so call %d was refused before it was sent; budget %q still had %d of %d %s.\n",
			rep.Loop.Tool, rep.Loop.Repeats, rep.Loop.Arguments, len(rep.Calls), rep.Budget, rep.Remaining, rep.Capacity, rep.Unit)
	case d != nil && d.Tool != "":
		fmt.Fprintf(w, "Denied: the run has used up its %d tool dispatches, so the call to the %s tool was refused and the agent stopped.\n", rep.ToolBudget, d.Tool)
	case d != nil && rep.HardCap:
		fmt.Fprintf(w, "Denied: call %d would need at least %d %s (its prompt and a minimal answer)%s, but budget %q had only %d%s left. It was never sent, and the agent stopped.\n",
			len(rep.Calls), d.Requested, rep.Unit, rep.onCheapest(), d.Budget, d.Remaining, rep.moneyUnit())
	case d != nil:
		fmt.Fprintf(w, "Denied: call %d would need about %d %s%s, but budget %q had only %d%s left. It was never sent, and the agent stopped.\n",
			len(rep.Calls), d.Requested, rep.Unit, rep.onCheapest(), d.Budget, d.Remaining, rep.moneyUnit())
	case rep.Answer != "":
		fmt.Fprintf(w, "The agent finished before the budget ran out. Its answer: %s\n", rep.Answer)
	}
	if d := rep.Denial; d != nil && d.Tool == "" && rep.redis != "" && len(rep.Calls) == 1 {
		fmt.Fprintf(w, "Budget %q is shared through Redis, and earlier runs spent it: `spendguard -redis %s reset %s -yes` starts it over.\n",
			d.Budget, rep.redis, d.Budget)
	}
	denied, loops := 0, ""
	for _, c := range rep.Calls {
		if c.Denied {
			denied++
		}
		if c.Loop {
			loops = " (1 refused by the loop guard)"
		}
	}
	est := ""
	if rep.Estimated > 0 {
		est = fmt.Sprintf(", %d of them estimated because the provider reported none", rep.Estimated)
	}
	unit := rep.moneyUnit()
	fmt.Fprintf(w, "Summary: %d model calls sent, %d denied, %d tool calls%s. Reported usage %d tokens (%d prompt + %d completion)%s. Budget %q consumed %d of %d%s, %d%s remaining. Stopped by: %s.\n",
		rep.Sent, denied, rep.ToolCalls, loops, rep.Prompt+rep.Completion, rep.Prompt, rep.Completion, est,
		rep.Budget, rep.Consumed, rep.Capacity, unit, rep.Remaining, unit, rep.StoppedBy)
	if rep.Fallback != "" {
		fmt.Fprintf(w, "%d of the calls sent fell back to %s when %s no longer fitted.\n", rep.FellBack, rep.Fallback, rep.Model)
	}
	return nil
}

// moneyUnit is " micro-USD" with a money budget, so that its amounts are not taken
// for tokens next to the usage; "" with a token budget.
func (rep *report) moneyUnit() string {
	if rep.Unit != "tokens" {
		return " " + rep.Unit
	}
	return ""
}

// onCheapest says, with -fallback, that the denied call did not fit even on the
// cheap model.
func (rep *report) onCheapest() string {
	if rep.Fallback == "" {
		return ""
	}
	return " even on " + rep.Fallback
}

// width is the most columns a line of the default output takes.
const width = 100

// wrapped is a writer that breaks each line written to it at spaces to fit width,
// continuing on lines indented by two spaces. Each Write is taken as whole lines, as
// fmt.Fprint* writes them.
type wrapped struct{ w io.Writer }

func (ww wrapped) Write(p []byte) (int, error) {
	var b strings.Builder
	lines := strings.SplitAfter(string(p), "\n")
	for _, l := range lines {
		body, nl := strings.CutSuffix(l, "\n")
		for utf8.RuneCountInString(body) > width {
			cut := strings.LastIndexByte(string([]rune(body)[:width+1]), ' ')
			if cut <= 2 { // one word longer than a line: leave it whole
				break
			}
			b.WriteString(body[:cut] + "\n")
			body = "  " + strings.TrimLeft(body[cut:], " ")
		}
		b.WriteString(body)
		if nl {
			b.WriteByte('\n')
		}
	}
	if _, err := io.WriteString(ww.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}
