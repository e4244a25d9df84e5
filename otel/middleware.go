package otel

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/semconv/v1.41.0/genaiconv"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/callopts"
	"github.com/spendguard/spendguard/internal/conv"
	"github.com/spendguard/spendguard/internal/keycache"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/price"
)

// Bucket boundaries the GenAI semantic conventions advise.
var (
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
)

// maxCachedModels bounds the per-model cache, so that a program that makes up model
// names (from user input, say) cannot grow it without end; past it, entries are built
// per call.
const maxCachedModels = 1024

// Middleware returns an llmwrap.Middleware that traces each call as a CLIENT span
// named "chat {model}" and records the GenAI client metrics, following the GenAI
// semantic conventions (semconv v1.41.0), plus spendguard's budget attributes. A
// batch sent through llmwrap.WrapEmbedder is traced the same way as "embeddings
// {model}", with gen_ai.operation.name "embeddings".
//
// Put it after llmwrap.WithModelName (so the model is named when the span starts) and
// before middleware.Budget (so the span sees denials and reads the budget's record of
// the call):
//
//	llmwrap.Wrap(m, llmwrap.WithModelName("gpt-4o"), otel.Middleware(), middleware.Budget(b))
//
// The span carries gen_ai.operation.name ("chat"), gen_ai.provider.name,
// gen_ai.request.model, gen_ai.request.max_tokens (the value actually sent, after a
// hard cap), gen_ai.request.stream, the other request parameters the caller set
// (temperature, top_p, top_k, seed, penalties, stop sequences, choice count,
// gen_ai.output.type "json" in JSON mode), the gen_ai.usage.* counts,
// gen_ai.response.finish_reasons, gen_ai.response.time_to_first_chunk for a streamed
// call, and error.type with status Error when the call fails (a budget denial
// included; "loop_detected" when a loop guard refused the call, with
// spendguard.loop.tool, spendguard.loop.repeats and, for a cycle,
// spendguard.loop.cycle). When a budget took part (llmwrap.Spend.Budget) it also carries the
// spendguard.* attributes (listed in the package doc), and one span event
// (conv.BudgetAlertEvent) per budget alert threshold the call's settle crossed. Usage is the Spend's: what the
// provider reported, or a budget's estimate when it reported none. Prompt and completion text are
// recorded only with WithContentCapture(true).
//
// A call that a budget sent to a fallback model (middleware.WithFallback) is reported
// as a call to that model, read from the Spend once the call returns: the span is
// renamed "chat {model called}", gen_ai.request.model and gen_ai.response.model (when
// it answered) name the model called, spendguard.fallback.from the model skipped, and
// its metrics carry the model called. A call no model fitted is reported, denied, on
// the last model the budget tried, with spendguard.fallback.from.
//
// gen_ai.provider.name is WithProviderName's, else guessed from the wrapped model's Go
// type (llmwrap.Spend.ModelType): langchaingo's openai, anthropic, ollama, cohere
// packages give their own name, googleai "gcp.gemini", vertex "gcp.vertex_ai",
// bedrock "aws.bedrock", mistral "mistral_ai", watsonx "ibm.watsonx.ai", anything
// else "_OTHER". An openai client pointed at another OpenAI-compatible service still
// says "openai": name the service with WithProviderName.
//
// For a streamed call the streaming functions the options it is passed set
// (StreamingFunc, StreamingReasoningFunc) are wrapped to note the first chunk, and the
// wrappers appended to the options sent on; the caller's options are not changed.
//
// Metrics: gen_ai.client.operation.duration (with error.type on failures),
// gen_ai.client.token.usage (input and output, when the usage is known: reported,
// or estimated by the budget when the provider reported none),
// gen_ai.client.operation.time_to_first_chunk for streamed calls that succeed,
// spendguard.budget.denials, spendguard.loop.stops (calls a loop guard refused), and
// spendguard.budget.fallbacks (calls sent to a fallback model). Their attributes are
// operation, provider and request model (plus token type or error type, or budget
// name for denials; provider and model alone for loop stops; the model skipped,
// spendguard.fallback.from, for fallbacks), never anything that varies per request.
//
// A nil next (possible only when composing by hand) gives a GenerateFunc that returns
// an error. Attributes are built only for spans that record; the ones sampling may need at the
// start are built once per model. A call made outside llmwrap.Wrap (no Spend in its
// context) is still traced, with the model from its options. Instruments that cannot
// be created are reported to otel.Handle and replaced by no-ops.
func Middleware(opts ...Option) llmwrap.Middleware {
	c := newChat(newConfig(opts))
	return func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		if next == nil {
			return func(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
				return nil, errNilNext
			}
		}
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			return c.generate(next, ctx, msgs, opts)
		}
	}
}

type chat struct {
	spans     spanSource
	tokens    metric.Int64Histogram
	duration  metric.Float64Histogram
	ttfc      metric.Float64Histogram
	denials   metric.Int64Counter
	loops     metric.Int64Counter
	fallbacks metric.Int64Counter
	rate      *rateMetrics // rate.go
	provider  string
	prices    price.Table
	content   bool
	entries   *keycache.Cache[modelKey, *modelEntry]
}

func newChat(cfg config) *chat {
	c := &chat{
		spans:    newSpanSource(cfg.tp),
		provider: cfg.provider,
		prices:   cfg.prices,
		content:  cfg.content,
		entries:  keycache.New[modelKey, *modelEntry](maxCachedModels),
	}
	meter := cfg.mp.Meter(scopeName)
	tok, err := genaiconv.NewClientTokenUsage(meter, metric.WithExplicitBucketBoundaries(tokenBuckets...))
	handle(err)
	dur, err := genaiconv.NewClientOperationDuration(meter, metric.WithExplicitBucketBoundaries(durationBuckets...))
	handle(err)
	ttfc, err := genaiconv.NewClientOperationTimeToFirstChunk(meter, metric.WithExplicitBucketBoundaries(durationBuckets...))
	handle(err)
	c.tokens, c.duration, c.ttfc = tok.Inst(), dur.Inst(), ttfc.Inst()
	c.denials, err = meter.Int64Counter(conv.BudgetDenialsMetric,
		metric.WithUnit("{call}"),
		metric.WithDescription("Model calls a budget refused before they were sent."))
	if err != nil || c.denials == nil {
		handle(err)
		c.denials, _ = noopMeter.Int64Counter(conv.BudgetDenialsMetric)
	}
	c.loops, err = meter.Int64Counter(conv.LoopStopsMetric,
		metric.WithUnit("{call}"),
		metric.WithDescription("Model calls a loop guard refused because the agent kept repeating the same tool call with the same result."))
	if err != nil || c.loops == nil {
		handle(err)
		c.loops, _ = noopMeter.Int64Counter(conv.LoopStopsMetric)
	}
	c.fallbacks, err = meter.Int64Counter(conv.BudgetFallbacksMetric,
		metric.WithUnit("{call}"),
		metric.WithDescription("Model calls a budget sent to a fallback model instead of the one they were meant for."))
	if err != nil || c.fallbacks == nil {
		handle(err)
		c.fallbacks, _ = noopMeter.Int64Counter(conv.BudgetFallbacksMetric)
	}
	c.rate = newRateMetrics(meter)
	return c
}

func handle(err error) {
	if err != nil {
		gotel.Handle(err)
	}
}

type modelKey struct{ model, typ, op string } // op: llmwrap.Spend.Operation

// modelEntry holds what is the same for every call of one model: the span's name and
// start options, and the metric attribute sets.
type modelEntry struct {
	key       modelKey
	provider  string
	spanName  string
	oneGen    bool // the provider splits one generation into several choices (anthropic)
	startOpts []trace.SpanStartOption
	okDur     []metric.RecordOption
	tokIn     []metric.RecordOption
	tokOut    []metric.RecordOption
	price     price.Price
	hasPrice  bool
	errDur    sync.Map // error type → []metric.RecordOption
	denied    sync.Map // budget name → []metric.AddOption
	loopOpts  []metric.AddOption
	fellBack  sync.Map // model fallen back from → []metric.AddOption
}

func (c *chat) entry(model, typ, op string) *modelEntry {
	e, _ := c.entries.Get(modelKey{model, typ, op}, c.newEntry)
	return e
}

func (c *chat) newEntry(k modelKey) *modelEntry {
	e := &modelEntry{key: k, provider: c.provider}
	guess := guessProvider(k.typ)
	if e.provider == "" {
		e.provider = guess
	}
	e.oneGen = guess == "anthropic"
	e.spanName = "chat " + k.model
	op := semconv.GenAIOperationNameChat
	if k.op == semconv.GenAIOperationNameEmbeddings.Value.AsString() { // llmwrap.WrapEmbedder
		e.spanName, op = "embeddings "+k.model, semconv.GenAIOperationNameEmbeddings
	}
	prov := semconv.GenAIProviderNameKey.String(e.provider)
	model := semconv.GenAIRequestModel(k.model)
	e.startOpts = []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(op, prov, model),
	}
	e.okDur = recordOpts(op, prov, model)
	e.tokIn = recordOpts(op, prov, model, semconv.GenAITokenTypeInput)
	e.tokOut = recordOpts(op, prov, model, semconv.GenAITokenTypeOutput)
	e.price, e.hasPrice = c.prices[k.model]
	e.loopOpts = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(prov, model))}
	return e
}

func recordOpts(kvs ...attribute.KeyValue) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
}

func (e *modelEntry) errDuration(errType string) []metric.RecordOption {
	if v, ok := e.errDur.Load(errType); ok {
		return v.([]metric.RecordOption)
	}
	op := semconv.GenAIOperationNameChat
	if e.key.op == semconv.GenAIOperationNameEmbeddings.Value.AsString() {
		op = semconv.GenAIOperationNameEmbeddings
	}
	o := recordOpts(op, semconv.GenAIProviderNameKey.String(e.provider),
		semconv.GenAIRequestModel(e.key.model), semconv.ErrorTypeKey.String(errType))
	v, _ := e.errDur.LoadOrStore(errType, o)
	return v.([]metric.RecordOption)
}

func (e *modelEntry) denialOpts(budgetName string) []metric.AddOption {
	if v, ok := e.denied.Load(budgetName); ok {
		return v.([]metric.AddOption)
	}
	o := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
		conv.BudgetNameKey.String(budgetName),
		semconv.GenAIProviderNameKey.String(e.provider),
		semconv.GenAIRequestModel(e.key.model)))}
	v, _ := e.denied.LoadOrStore(budgetName, o)
	return v.([]metric.AddOption)
}

func (e *modelEntry) fallbackOpts(from string) []metric.AddOption {
	if v, ok := e.fellBack.Load(from); ok {
		return v.([]metric.AddOption)
	}
	o := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
		conv.FallbackFromKey.String(from),
		semconv.GenAIProviderNameKey.String(e.provider),
		semconv.GenAIRequestModel(e.key.model)))}
	v, _ := e.fellBack.LoadOrStore(from, o)
	return v.([]metric.AddOption)
}

// firstChunk notes when the first streamed chunk arrived. Providers call the streaming
// function from the goroutine reading the response, hence the atomic.
type firstChunk struct {
	start time.Time
	after atomic.Int64 // nanoseconds from start; 0 until the first chunk
}

func (f *firstChunk) mark() {
	if f.after.Load() != 0 {
		return
	}
	d := int64(time.Since(f.start))
	if d <= 0 {
		d = 1
	}
	f.after.CompareAndSwap(0, d)
}

func (f *firstChunk) seconds() (float64, bool) {
	if f == nil {
		return 0, false
	}
	d := f.after.Load()
	return time.Duration(d).Seconds(), d != 0
}

// tapStream appends to opts streaming functions that note the first chunk and call
// the ones o (opts resolved) sets; nil and opts unchanged when the call does not
// stream. The caller's array is never written to.
func tapStream(o *llms.CallOptions, start time.Time, opts []llms.CallOption) (*firstChunk, []llms.CallOption) {
	sf, rf := o.StreamingFunc, o.StreamingReasoningFunc
	if sf == nil && rf == nil {
		return nil, opts
	}
	f := &firstChunk{start: start}
	opts = opts[:len(opts):len(opts)]
	if sf != nil {
		opts = append(opts, llms.WithStreamingFunc(func(ctx context.Context, chunk []byte) error {
			if len(chunk) > 0 {
				f.mark()
			}
			return sf(ctx, chunk)
		}))
	}
	if rf != nil {
		opts = append(opts, llms.WithStreamingReasoningFunc(func(ctx context.Context, reasoning, chunk []byte) error {
			if len(reasoning) > 0 || len(chunk) > 0 {
				f.mark()
			}
			return rf(ctx, reasoning, chunk)
		}))
	}
	return f, opts
}

func (c *chat) generate(next llmwrap.GenerateFunc, ctx context.Context, msgs []llms.MessageContent, opts []llms.CallOption) (*llms.ContentResponse, error) {
	tracing := c.spans.active()
	metered := c.duration.Enabled(ctx) || c.tokens.Enabled(ctx) || c.ttfc.Enabled(ctx)
	r := runFrom(ctx)
	if !tracing && !metered && r == nil && !c.denials.Enabled(ctx) && !c.loops.Enabled(ctx) && !c.fallbacks.Enabled(ctx) && !c.rate.enabled(ctx) {
		return next(ctx, msgs, opts...) // nothing would be recorded: cost nothing
	}
	s := llmwrap.SpendFrom(ctx)
	if s == nil {
		return next(ctx, msgs, opts...) // outside Wrap: no record to read, nothing traced
	}
	e := c.entry(s.Model, s.ModelType, s.Operation)
	span := noSpan
	if tracing {
		ctx, span = c.spans.tracer.Start(ctx, e.spanName, e.startOpts...)
	}
	recording := span.IsRecording()

	var start time.Time
	var first *firstChunk
	var o *llms.CallOptions // the options as they reach this layer
	if recording || metered {
		start = time.Now()
		o = callopts.Resolve(opts)
		defer callopts.Release(o)
		first, opts = tapStream(o, start, opts)
	}

	finished := false
	defer func() {
		if !finished { // next panicked: end the span, let the panic go on
			if recording {
				span.SetStatus(codes.Error, "panic")
				span.SetAttributes(semconv.ErrorTypeKey.String(conv.ErrorTypePanic))
			}
			span.End()
		}
	}()
	resp, err := next(ctx, msgs, opts...)
	finished = true
	if s.Model != e.key.model || s.ModelType != e.key.typ { // a budget sent the call to another model
		e = c.entry(s.Model, s.ModelType, s.Operation)
		span.SetName(e.spanName)
	}

	var elapsed time.Duration
	if metered {
		elapsed = time.Since(start)
	}
	callErr := err
	if callErr == nil && resp == nil {
		callErr = llmwrap.ErrEmptyResponse // what Wrap will return
	}
	var errType string
	switch {
	case callErr != nil && s.Loop != nil:
		errType = conv.ErrorTypeLoopDetected
	case callErr != nil && s.Rate != nil && s.Rate.Limited:
		errType = conv.ErrorTypeRateLimited
	case callErr != nil:
		errType = errorType(ctx, callErr)
	}
	u, src, missing := usageOf(s)
	if recording {
		if callErr != nil {
			span.SetStatus(codes.Error, callErr.Error())
		}
		c.setAttributes(span, e, s, o, msgs, resp, u, src, missing, errType, first)
	}
	span.End()

	if metered {
		if errType == "" {
			c.duration.Record(ctx, elapsed.Seconds(), e.okDur...)
		} else {
			c.duration.Record(ctx, elapsed.Seconds(), e.errDuration(errType)...)
		}
		if missing&llmwrap.MissingPrompt == 0 {
			c.tokens.Record(ctx, toInt64(u.PromptTokens), e.tokIn...)
		}
		if missing&llmwrap.MissingCompletion == 0 {
			c.tokens.Record(ctx, toInt64(u.CompletionTokens), e.tokOut...)
		}
		if secs, ok := first.seconds(); ok && errType == "" {
			c.ttfc.Record(ctx, secs, e.okDur...)
		}
	}
	if errType == conv.ErrorTypeBudgetDenied && c.denials.Enabled(ctx) {
		c.denials.Add(ctx, 1, e.denialOpts(deniedBy(s, callErr))...)
	}
	if errType == conv.ErrorTypeLoopDetected && c.loops.Enabled(ctx) {
		c.loops.Add(ctx, 1, e.loopOpts...)
	}
	if s.Fallback != nil && s.Sent && c.fallbacks.Enabled(ctx) {
		c.fallbacks.Add(ctx, 1, e.fallbackOpts(s.Fallback.From)...)
	}
	c.rate.record(ctx, e.provider, e.key.model, s)
	if r != nil { // what the span carries, summed on the run's (StartRun)
		rc := call{u: u, missing: missing, sent: s.Sent, denied: errType == conv.ErrorTypeBudgetDenied,
			loop: errType == conv.ErrorTypeLoopDetected, fallback: s.Fallback != nil && s.Sent}
		if rc.priced = e.hasPrice && missing != llmwrap.MissingAll && s.Budget != nil; rc.priced {
			rc.costMicroUSD = e.price.Cost(u)
		}
		r.add(&rc)
	}
	return resp, err
}

// deniedBy names the budget that refused the call.
func deniedBy(s *llmwrap.Spend, err error) string {
	if s.Budget != nil && s.Budget.Name != "" {
		return s.Budget.Name
	}
	var d *budget.DeniedError
	if errors.As(err, &d) {
		return d.Budget
	}
	return ""
}

// setAttributes sets the attributes known once the call is over; o is the options as
// they reached this middleware.
func (c *chat) setAttributes(span trace.Span, e *modelEntry, s *llmwrap.Spend, o *llms.CallOptions, msgs []llms.MessageContent,
	resp *llms.ContentResponse, u llmwrap.Usage, src llmwrap.UsageSource, missing llmwrap.Missing, errType string, first *firstChunk) {
	maxTokens := o.MaxTokens
	if s.Sent {
		maxTokens = s.MaxTokens // what the model was called with, after any hard cap
	}
	b := s.Budget
	// One allocation of the right size (the slice escapes through the interface
	// call). It is not pooled: the Span interface does not promise that
	// implementations copy what they are given.
	n := 3 + requestParams(o) // usage in/out, finish reasons
	if maxTokens > 0 {
		n++
	}
	if first != nil {
		n += 2 // stream, time to first chunk
	}
	if errType != "" {
		n++
	}
	if u.CachedPromptTokens > 0 {
		n++
	}
	if u.CacheWriteTokens > 0 {
		n++
	}
	if u.ReasoningTokens > 0 {
		n++
	}
	if b != nil {
		n += 13
	}
	if s.Loop != nil {
		n += 3
	}
	if s.Fallback != nil {
		n += 3
	}
	if c.content {
		n += 2
	}
	n += rateAttrs(s)
	a := make([]attribute.KeyValue, 0, n)
	if maxTokens > 0 {
		a = append(a, semconv.GenAIRequestMaxTokens(maxTokens))
	}
	if first != nil {
		a = append(a, semconv.GenAIRequestStream(true))
	}
	a = appendRequestParams(a, o)
	if missing != llmwrap.MissingAll {
		if missing&llmwrap.MissingPrompt == 0 {
			a = append(a, semconv.GenAIUsageInputTokensKey.Int64(toInt64(u.PromptTokens)))
		}
		if missing&llmwrap.MissingCompletion == 0 {
			a = append(a, semconv.GenAIUsageOutputTokensKey.Int64(toInt64(u.CompletionTokens)))
		}
		if u.CachedPromptTokens > 0 {
			a = append(a, semconv.GenAIUsageCacheReadInputTokensKey.Int64(toInt64(u.CachedPromptTokens)))
		}
		if u.CacheWriteTokens > 0 {
			a = append(a, conv.CacheWriteInputTokensKey.Int64(toInt64(u.CacheWriteTokens)))
		}
		if u.ReasoningTokens > 0 {
			a = append(a, semconv.GenAIUsageReasoningOutputTokensKey.Int64(toInt64(u.ReasoningTokens)))
		}
	}
	if reasons := finishReasons(resp, e.oneGen); reasons != nil {
		a = append(a, semconv.GenAIResponseFinishReasons(reasons...))
	}
	if secs, ok := first.seconds(); ok {
		a = append(a, semconv.GenAIResponseTimeToFirstChunkKey.Float64(secs))
	}
	if errType != "" {
		a = append(a, semconv.ErrorTypeKey.String(errType))
	}
	if b != nil {
		a = append(a,
			conv.EstimateTokensKey.Int64(toInt64(b.Estimate)),
			conv.PromptEstimateTokensKey.Int64(toInt64(b.PromptEstimate)),
			conv.PromptEstimateRawTokensKey.Int64(toInt64(b.PromptEstimateRaw)),
			conv.ReservedTokensKey.Int64(toInt64(b.Reserved)),
			conv.ChargedTokensKey.Int64(toInt64(b.Charged)),
			conv.RefundedTokensKey.Int64(toInt64(b.Refunded())),
			conv.BudgetDeniedKey.Bool(b.Denied))
		if src != llmwrap.UsageNone {
			a = append(a, conv.UsageSourceKey.String(string(src)))
		}
		if b.Name != "" {
			a = append(a, conv.BudgetNameKey.String(b.Name))
		}
		if b.RemainingKnown {
			a = append(a, conv.BudgetRemainingKey.Int64(toInt64(b.Remaining)))
		}
		if b.FailOpen {
			a = append(a, conv.BudgetFailOpenKey.Bool(true))
		}
		if b.Cut {
			a = append(a, conv.BudgetCutKey.Bool(true))
		}
		if e.hasPrice && missing != llmwrap.MissingAll {
			a = append(a, conv.CostUSDKey.Float64(float64(e.price.Cost(u))/1e6))
		}
	}
	if l := s.Loop; l != nil {
		a = append(a, conv.LoopToolKey.String(l.Tool), conv.LoopRepeatsKey.Int(l.Repeats))
		if len(l.Cycle) > 1 {
			a = append(a, conv.LoopCycleKey.Int(len(l.Cycle)))
		}
	}
	if s.Fallback != nil { // the span started with the model the call was meant for
		a = append(a, semconv.GenAIRequestModel(s.Model), conv.FallbackFromKey.String(s.Fallback.From))
		if s.Sent && errType == "" {
			a = append(a, semconv.GenAIResponseModel(s.Model))
		}
	}
	a = appendRate(a, s)
	if c.content {
		a = appendContent(a, msgs, resp, e.oneGen)
	}
	span.SetAttributes(a...)
	if b != nil {
		for _, al := range b.Alerts {
			span.AddEvent(conv.BudgetAlertEvent, trace.WithAttributes(
				conv.BudgetNameKey.String(al.Snapshot.Name),
				conv.AlertFractionKey.Float64(al.Fraction),
				conv.AlertConsumedKey.Int64(toInt64(al.Snapshot.Consumed)),
				conv.AlertCapacityKey.Int64(toInt64(al.Snapshot.Capacity))))
		}
	}
}

// requestParams counts what appendRequestParams adds.
func requestParams(o *llms.CallOptions) int {
	n := 0
	if max(o.N, o.CandidateCount) > 1 {
		n++
	}
	for _, set := range [...]bool{o.Temperature != 0, o.TopP != 0, o.TopK != 0, o.Seed != 0,
		o.FrequencyPenalty != 0, o.PresencePenalty != 0, len(o.StopWords) > 0, o.JSONMode} {
		if set {
			n++
		}
	}
	return n
}

// appendRequestParams adds the request parameters the caller set. langchaingo cannot
// tell a zero from an unset value, so zeros are left out.
func appendRequestParams(a []attribute.KeyValue, o *llms.CallOptions) []attribute.KeyValue {
	if n := max(o.N, o.CandidateCount); n > 1 {
		a = append(a, semconv.GenAIRequestChoiceCount(n))
	}
	if o.Temperature != 0 {
		a = append(a, semconv.GenAIRequestTemperature(o.Temperature))
	}
	if o.TopP != 0 {
		a = append(a, semconv.GenAIRequestTopP(o.TopP))
	}
	if o.TopK != 0 {
		a = append(a, semconv.GenAIRequestTopK(float64(o.TopK)))
	}
	if o.Seed != 0 {
		a = append(a, semconv.GenAIRequestSeed(o.Seed))
	}
	if o.FrequencyPenalty != 0 {
		a = append(a, semconv.GenAIRequestFrequencyPenalty(o.FrequencyPenalty))
	}
	if o.PresencePenalty != 0 {
		a = append(a, semconv.GenAIRequestPresencePenalty(o.PresencePenalty))
	}
	if len(o.StopWords) > 0 {
		a = append(a, semconv.GenAIRequestStopSequences(o.StopWords...))
	}
	if o.JSONMode {
		a = append(a, semconv.GenAIOutputTypeJSON)
	}
	return a
}

// finishReasons is one reason per generation, nil when the provider gave none.
func finishReasons(resp *llms.ContentResponse, oneGen bool) []string {
	if resp == nil {
		return nil
	}
	var out []string
	for _, ch := range resp.Choices {
		if ch == nil || ch.StopReason == "" {
			continue
		}
		out = append(out, ch.StopReason)
		if oneGen {
			break
		}
	}
	return out
}

var errNilNext = errors.New("otel: Middleware was given a nil next GenerateFunc")

var noopMeter = noop.NewMeterProvider().Meter(scopeName)

// noSpan stands for the span not started (see spanSource); it records nothing.
var noSpan trace.Span = tracenoop.Span{}

// usageOf is the usage to report for the call, how it was arrived at, and the parts
// of it nobody knows, as the Spend's writers left them: what a budget charged when one
// settled the call (the provider's report with the parts it left out estimated),
// else what the provider reported, without the counts it left out (langchaingo's
// googleai client reports 0 completion tokens for a streamed call: that is not a
// count to put on a span).
func usageOf(s *llmwrap.Spend) (llmwrap.Usage, llmwrap.UsageSource, llmwrap.Missing) {
	if b := s.Budget; b != nil && b.UsageSource != llmwrap.UsageNone {
		return b.Usage, b.UsageSource, 0
	}
	return s.Usage, llmwrap.UsageNone, s.UsageMissing
}
