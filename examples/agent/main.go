package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tmc/langchaingo/agents"
	"github.com/tmc/langchaingo/chains"
	"github.com/tmc/langchaingo/embeddings"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/ollama"
	"github.com/tmc/langchaingo/llms/openai"
	"github.com/tmc/langchaingo/tools"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/budget/window"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/exact"
	"github.com/spendguard/spendguard/loopguard"
	"github.com/spendguard/spendguard/middleware"
	"github.com/spendguard/spendguard/price"
	"github.com/spendguard/spendguard/ratelimit"
)

// task is what the agent is asked to do; the scripted model never gets it done.
const task = "Count the words of every chapter of the manuscript with the word_count tool, " +
	"add the counts up with the calculator, and check the clock after each chapter. " +
	"Keep going until every chapter is counted."

func main() {
	redis.SetLogger(quiet{}) // go-redis's pool logs: a Redis failure is reported once, in one line
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(exit(err, os.Stdout, os.Stderr))
}

// quiet is a go-redis logger that drops everything.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// exit reports run's error and gives the exit status, as cmd/spendguard does: 0 done
// (-h prints the usage on stdout), 1 the run failed (one line on stderr), 2 the
// command line was wrong (one line, then the usage, once).
func exit(err error, stdout, stderr io.Writer) int {
	var u usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage())
		return 0
	case errors.As(err, &u):
		fmt.Fprintf(stderr, "agent: %v\n%s", u.err, usage())
		return 2
	default:
		fmt.Fprintln(stderr, "agent:", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
}

// usageError is a wrong command line: a bad flag, flag value or argument.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usage is the flags' usage text, the flag package's.
func usage() string {
	var b strings.Builder
	_, _ = parseFlags([]string{"-h"}, &b) // -h: the flag set prints its usage and stops
	return b.String()
}

// run is the whole program: parse args, run the agent, print to stdout. It returns
// nil when the budget or the loop guard stopped the agent (the point of the demo) or
// the agent finished, and an error for bad flags, a missing API key, a provider
// failure, or an agent still running after -max-calls model calls.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	return runWith(ctx, args, stdout, env{getenv: os.Getenv, stderr: os.Stderr, now: time.Now})
}

// env is what run takes from the process, replaceable in tests.
type env struct {
	getenv func(string) string
	stderr io.Writer
	now    func() time.Time
	// scripted, when set, sees the scripted server before the run starts and may
	// wrap its script (tests record what the server sent).
	scripted func(*scriptHook)
}

// scriptHook lets a test watch the scripted server.
type scriptHook struct {
	Script providertest.Script
	Server *providertest.Server // set once the server is started
}

type config struct {
	capacity   uint64
	budgetName string
	hardCap    bool
	provider   string
	model      string
	redisAddr  string
	baseURL    string
	window     time.Duration
	maxCalls   int
	toolCalls  uint64
	asJSON     bool
	scenario   string
	agent      string
	repeats    int
	money      bool // count the budget in micro-dollars at prices
	fallback   bool // fall back to smallModel when the primary does not fit
	rateFlag   string
	rate       ratelimit.Limit // -rate; zero: none

	pricesFile string      // -prices: a price file in LiteLLM's format
	prices     price.Table // with money: scriptedPrices, or the -prices file's
	embedModel string      // -scenario rag: the embedding model
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&c.capacity, "budget", 6000, "token budget of the run (with -money or -fallback: micro-dollars, default 60000)")
	fs.StringVar(&c.budgetName, "budget-name", "agent", "name of the budget (the Redis key's, with -redis)")
	fs.BoolVar(&c.hardCap, "hard-cap", false, "cap each call's max tokens at what the budget has left")
	fs.StringVar(&c.provider, "provider", "scripted", "scripted | openai | anthropic | ollama")
	fs.StringVar(&c.model, "model", "", "model name (default: one per provider); with -prices, the file's name of the model charged, which the scripted server answers as")
	fs.StringVar(&c.redisAddr, "redis", "", "Redis address (host:port) of a budget shared by every run that names it")
	fs.StringVar(&c.baseURL, "base-url", "", "the provider's API base URL (an OpenAI-compatible server, a proxy); ollama: overrides OLLAMA_HOST")
	fs.DurationVar(&c.window, "window", 0, "with -redis: restart the shared budget every this long (0: never)")
	fs.IntVar(&c.maxCalls, "max-calls", 50, "safety: most model calls of one run")
	fs.Uint64Var(&c.toolCalls, "tool-calls", 100, "most tool dispatches of one run (a budget of 1 per dispatch, middleware.GuardTool)")
	fs.BoolVar(&c.asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&c.scenario, "scenario", "count", "scripted model: count (keeps asking for new work until the budget stops it) | stuck (the same tool call every turn, until the loop guard stops it) | rag (embeds a few documents, retrieves for a question, answers)")
	fs.StringVar(&c.agent, "agent", "functions", "functions (langchaingo's OpenAIFunctionsAgent) | mrkl (its OneShotAgent, a text scratchpad)")
	fs.IntVar(&c.repeats, "loop-repeats", 3, "identical tool rounds in a row that make a loop (at least 2)")
	fs.BoolVar(&c.money, "money", false, "count the budget in micro-dollars at the scripted models' made-up prices (-provider scripted)")
	fs.StringVar(&c.pricesFile, "prices", "", "with -money: charge -model at its prices in `FILE`, in the format of LiteLLM's model_prices_and_context_window.json")
	fs.BoolVar(&c.fallback, "fallback", false, "a money budget that switches to the cheap scripted model when the expensive one no longer fits (implies -money)")
	fs.StringVar(&c.rateFlag, "rate", "", "a token rate limit, TOKENS/INTERVAL (say 3000/5s): calls wait for it instead of failing; shared through Redis with -redis")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.rateFlag != "" {
		var err error
		if c.rate, err = parseRate(c.rateFlag); err != nil {
			return c, err
		}
	}
	c.money = c.money || c.fallback
	budgetSet := false
	fs.Visit(func(f *flag.Flag) { budgetSet = budgetSet || f.Name == "budget" })
	switch {
	case c.pricesFile != "" && !c.money:
		return c, errors.New("-prices is for -money: it prices the money budget")
	case c.pricesFile != "" && c.fallback:
		return c, fmt.Errorf("-fallback is for the made-up prices of %s and %s, not -prices", largeModel, smallModel)
	case c.pricesFile != "" && c.model == "":
		return c, errors.New("-prices needs -model: the model to charge, named as the file names it (gpt-4o, claude-sonnet-4-5-20250929, gemini/gemini-2.5-pro)")
	}
	if c.money && c.pricesFile == "" {
		if c.provider != "scripted" {
			return c, errors.New("-money and -fallback are for -provider scripted: its models' prices are made up, and spendguard ships no real ones (-prices FILE brings yours)")
		}
		if c.model == "" {
			c.model = largeModel
		}
		if _, ok := scriptedPrices[c.model]; !ok {
			return c, fmt.Errorf("-model %q has no price: with -money it is %s or %s (or give -prices FILE)", c.model, largeModel, smallModel)
		}
		c.prices = scriptedPrices
	}
	if c.money {
		if !budgetSet {
			c.capacity = moneyBudget
		}
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.maxCalls < 1 {
		return c, fmt.Errorf("-max-calls must be at least 1, not %d", c.maxCalls)
	}
	if _, ok := scenarios[c.scenario]; !ok {
		return c, fmt.Errorf("unknown -scenario %q: want count, stuck or rag", c.scenario)
	}
	if c.scenario != "count" && c.provider != "scripted" {
		return c, errors.New("-scenario is for the scripted model (-provider scripted)")
	}
	if !slices.Contains([]string{"scripted", "openai", "anthropic", "ollama"}, c.provider) {
		return c, fmt.Errorf("unknown -provider %q: want scripted, openai, anthropic or ollama", c.provider)
	}
	if c.agent != "functions" && c.agent != "mrkl" {
		return c, fmt.Errorf("unknown -agent %q: want functions or mrkl", c.agent)
	}
	if c.repeats < 2 {
		return c, fmt.Errorf("-loop-repeats must be at least 2, not %d", c.repeats)
	}
	if c.baseURL != "" && c.provider == "scripted" {
		return c, errors.New("-base-url is for -provider openai, anthropic or ollama; the scripted server has its own")
	}
	if c.window < 0 {
		return c, fmt.Errorf("-window must not be negative, not %s", c.window)
	}
	if c.pricesFile != "" {
		// Last, so that a bad file is read only when every other flag is right; a
		// bad file stops the run before anything starts.
		var err error
		if c.prices, err = loadPrices(c.pricesFile, c.model); err != nil {
			return c, err
		}
	}
	if c.scenario == "rag" {
		c.embedModel = scriptedEmbedModel
		if c.pricesFile != "" {
			c.embedModel = priceFileEmbedModel
			if _, ok := c.prices[c.embedModel]; !ok {
				return c, fmt.Errorf("-scenario rag embeds with %s, which %s does not price", c.embedModel, c.pricesFile)
			}
		}
	}
	if c.model == "" {
		c.model = map[string]string{
			"scripted": scriptedModel, "openai": "gpt-4o-mini",
			"anthropic": "claude-3-5-haiku-latest", "ollama": "llama3.2",
		}[c.provider]
	}
	return c, nil
}

func runWith(ctx context.Context, args []string, stdout io.Writer, e env) (err error) {
	c, err := parseFlags(args, io.Discard) // the usage is printed once, by exit
	if err != nil {
		return usageError{err}
	}
	llm, cheap, closeLLM, err := newModel(c, e)
	if err != nil {
		return err
	}
	defer closeLLM()

	b, closeBudget, err := newBudget(ctx, c)
	if err != nil {
		return err
	}
	defer closeBudget()
	// The capacity in force: with -redis, an operator's `spendguard set` wins over -budget.
	snap, err := b.(budget.Observable).Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("reading budget %q: %w", c.budgetName, err)
	}
	c.capacity = snap.Capacity

	lim, closeLimit, err := newRateLimit(c)
	if err != nil {
		return err
	}
	defer closeLimit()

	tr, err := newTracing(ctx, e.getenv)
	if err != nil {
		return err
	}
	rep := &report{Provider: c.provider, Model: c.model, Agent: c.agent, Budget: c.budgetName, Capacity: c.capacity, Unit: "tokens", HardCap: c.hardCap, ToolBudget: c.toolCalls, Rate: c.rateFlag}
	if c.provider == "scripted" {
		rep.Scenario = c.scenario
	}
	rep.redis = c.redisAddr
	if c.money {
		rep.Unit = "micro-USD"
	}
	if c.fallback {
		rep.Fallback = smallModel
	}
	// Flush the spans and metrics even when the run failed: they show why. A run that
	// gets to its report flushes before printing it, so the report has the outcome.
	flush := func() {
		if cerr := tr.close(ctx); cerr != nil && rep.ExportError == "" {
			rep.ExportError = cerr.Error()
			fmt.Fprintf(e.stderr, "agent: exporting telemetry: %v\n", cerr)
		}
	}
	defer flush()
	if err := tr.observe(b); err != nil {
		return err
	}

	rp := &reporter{b: b, capacity: c.capacity, hardCap: c.hardCap, money: c.money, rep: rep}
	if !c.asJSON {
		stdout = wrapped{stdout} // prose lines fit the terminal's 100 columns
		rp.out = stdout
		where := "in-process"
		if c.redisAddr != "" {
			where = "shared through Redis at " + c.redisAddr
		}
		scenario := ""
		if c.provider == "scripted" {
			scenario = ", scenario " + c.scenario
		}
		fmt.Fprintf(stdout, "Agent (%s) on %s (%s%s), budget %q of %d %s (%s)%s, loop guard at %d repeats.\n",
			c.agent, c.provider, c.model, scenario, c.budgetName, c.capacity, rep.Unit, where, map[bool]string{true: ", hard cap"}[c.hardCap], c.repeats)
		switch {
		case c.pricesFile != "":
			fmt.Fprintf(stdout, "Prices of %s from %s, per million tokens: %s.\n", c.model, c.pricesFile, describePrice(c.prices[c.model]))
		case c.money:
			fmt.Fprintf(stdout, "Made-up prices per million tokens: %s.\n", priceList())
		}
		if c.fallback {
			fmt.Fprintf(stdout, "When a call no longer fits on %s, it goes to %s instead.\n", c.model, smallModel)
		}
		if lim != nil {
			fmt.Fprintf(stdout, "Rate limit: %d tokens per %v (%s); a call that does not fit waits.\n", c.rate.Tokens, c.rate.Interval, where)
		}
		fmt.Fprintln(stdout, rp.columns())
	}

	trace := tr.traceModel() // one, for the model and the embedder
	model := guarded(llm, cheap, b, lim, c, rp.observe, trace, e.stderr)

	var dispatched atomic.Int64
	guard := budget.NewAtomic(c.toolCalls, budget.WithName("tool-calls")) // one unit per dispatch
	var toolset []tools.Tool
	for _, t := range []tools.Tool{tools.Calculator{}, wordCount{}, clock{now: e.now}} {
		toolset = append(toolset, tr.traceTool(middleware.GuardTool(counted{Tool: t, n: &dispatched}, guard, 1)))
	}
	var agent agents.Agent = agents.NewOpenAIFunctionsAgent(model, toolset)
	if c.agent == "mrkl" {
		agent = agents.NewOneShotAgent(model, toolset)
	}
	exec := agents.NewExecutor(agent, agents.WithMaxIterations(c.maxCalls))

	runCtx, endRun := tr.startRun(ctx, b)
	if tr.exporting {
		rep.Service, rep.TraceID = tr.service, traceID(runCtx)
	}
	var out map[string]any
	input, runErr := task, error(nil)
	if c.scenario == "rag" {
		input, runErr = ragInput(runCtx, llm, b, c, rp, trace, stdout, e.stderr)
	}
	if runErr == nil {
		out, runErr = chains.Call(runCtx, exec, map[string]any{"input": input})
	}
	endRun(runErr)

	if err := rp.finish(ctx, runErr, dispatched.Load()); err != nil {
		return err
	}
	switch {
	case errors.Is(runErr, loopguard.ErrLoop):
		rep.StoppedBy = stoppedByLoop
		runErr = nil // the loop guard stopped a stuck agent: what -scenario stuck is for
	case errors.Is(runErr, budget.ErrDenied):
		rep.StoppedBy = stoppedByBudget
		runErr = nil // the budget stopped the agent: what the demo is for
	case errors.Is(runErr, agents.ErrNotFinished):
		rep.StoppedBy = stoppedByMaxCalls
		runErr = fmt.Errorf("neither the budget nor the loop guard stopped the agent within -max-calls %d model calls", c.maxCalls)
	case runErr == nil:
		rep.StoppedBy = stoppedByFinish
		rep.Answer = fmt.Sprint(out["output"])
	default:
		rep.StoppedBy = stoppedByError
	}
	flush()
	if err := rep.print(stdout, c.asJSON); err != nil {
		return err
	}
	if !c.asJSON {
		if tr.metrics {
			fmt.Fprintf(stdout, "Metrics of service %q exported over OTLP (with `make jaeger`: in Prometheus format on http://127.0.0.1:8889/metrics).\n", tr.service)
		}
		if tr.exporting {
			fmt.Fprintf(stdout, "Trace %s of service %q exported over OTLP.\n", rep.TraceID, rep.Service)
		} else {
			fmt.Fprintln(stdout, "To see this run in Jaeger: start one (`make jaeger`, API only, or `docker run --rm -p 4318:4318 -p 16686:16686 jaegertracing/jaeger` with its UI), "+
				"run again with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318, then open http://127.0.0.1:16686 (or /api/traces?service="+defaultService+").")
		}
	}
	return runErr
}

// guarded is the model the agent calls: llm wrapped in spendguard's chain, the part
// of this example a user comes to copy. Outermost first: name the model, read every
// call's record (onSpend), trace it, refuse a looping agent's next call, then
// reserve, call and settle against the budget, and, with -rate, wait for the rate
// limit (after the budget: a denied call never waits, and the limit reserves the
// budget's estimate).
func guarded(llm, cheap llms.Model, b budget.TokenBudget, lim ratelimit.Limiter, c config, onSpend func(context.Context, *llmwrap.Spend),
	trace llmwrap.Middleware, stderr io.Writer) llms.Model {
	budgetOpts := []middleware.Option{
		middleware.WithErrorHandler(func(err error) { fmt.Fprintln(stderr, "agent:", err) }),
	}
	if c.hardCap {
		budgetOpts = append(budgetOpts, middleware.HardCap())
	}
	if c.money {
		budgetOpts = append(budgetOpts, middleware.WithPrices(c.prices))
	}
	if cheap != nil {
		budgetOpts = append(budgetOpts, middleware.WithFallback(middleware.Alternative{Name: smallModel, Model: cheap}))
	}
	var adapt, rate llmwrap.Middleware
	if c.provider == "anthropic" {
		adapt = forAnthropic
	}
	if lim != nil {
		rate = ratelimit.Middleware(lim)
	}
	return llmwrap.Wrap(llm,
		llmwrap.WithModelName(c.model),
		llmwrap.OnSpend(onSpend),
		trace,
		loopguard.New(loopguard.Repeats(c.repeats)), // before Budget: a refused call reserves nothing
		middleware.Budget(b, budgetOpts...),
		rate,
		adapt,
	)
}

// loadPrices reads the -prices file with price.ParseLiteLLM and checks that it prices
// model. A file that cannot be read or parsed, or leaves model unpriced, is an error
// naming the file.
func loadPrices(file, model string) (price.Table, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("-prices: %w", err)
	}
	defer f.Close()
	t, err := price.ParseLiteLLM(f)
	if err != nil {
		return nil, fmt.Errorf("-prices %s: %w", file, err)
	}
	if _, ok := t[model]; !ok {
		return nil, fmt.Errorf("-model %q has no price in %s (a chat or embedding entry with input and output prices; names are the file's, some with a provider prefix such as gemini/)", model, file)
	}
	return t, nil
}

// ragInput is -scenario rag's retrieval: the documents and the question embedded
// through guardedEmbedder, the passages retrieved, and the agent's input made of
// them. A denied embedding call ends the run before the agent starts.
func ragInput(ctx context.Context, llm llms.Model, b budget.TokenBudget, c config, rp *reporter, trace llmwrap.Middleware,
	stdout, stderr io.Writer) (string, error) {
	client, ok := llm.(embeddings.EmbedderClient)
	if !ok {
		return "", fmt.Errorf("-scenario rag: %T makes no embeddings", llm)
	}
	emb, err := guardedEmbedder(client, b, c, rp.observe, trace, stderr)
	if err != nil {
		return "", err
	}
	passages, err := retrieve(ctx, emb)
	if err != nil {
		return "", err
	}
	rp.mu.Lock()
	rp.rep.Retrieved = passages
	rp.mu.Unlock()
	if rp.out != nil {
		fmt.Fprintf(stdout, "Retrieved for %q: %q.\n", ragQuestion, passages)
	}
	return ragTask(passages), nil
}

// guardedEmbedder is the embedder of -scenario rag: client wrapped with
// llmwrap.WrapEmbedder in the model's chain, the same reporter, tracing and budget,
// so that each batch is reserved, denied or charged like a model call. langchaingo's
// client drops the usage the server reports, so each batch is charged its estimate,
// counted with cl100k, the tokenizer of OpenAI's embedding models.
func guardedEmbedder(client embeddings.EmbedderClient, b budget.TokenBudget, c config, onSpend func(context.Context, *llmwrap.Spend),
	trace llmwrap.Middleware, stderr io.Writer) (embeddings.EmbedderClient, error) {
	est, err := exact.New(exact.ForModel(priceFileEmbedModel))
	if err != nil {
		return nil, err
	}
	opts := []middleware.Option{
		middleware.WithErrorHandler(func(err error) { fmt.Fprintln(stderr, "agent:", err) }),
		middleware.WithEstimator(est),
	}
	if c.money {
		opts = append(opts, middleware.WithPrices(c.prices))
	}
	return llmwrap.WrapEmbedder(client,
		llmwrap.WithModelName(c.embedModel),
		llmwrap.OnSpend(onSpend),
		trace,
		middleware.Budget(b, opts...),
	), nil
}

// newModel builds the provider's langchaingo client; for "scripted" it first starts
// the scripted server, which the returned func closes, and with -fallback also returns
// a client of the cheap model on the same server (cheap is nil otherwise).
func newModel(c config, e env) (llm, cheap llms.Model, closeFn func(), err error) {
	llm, closeFn, err = newClient(c, e, func(srv *providertest.Server) error {
		if c.fallback {
			cheap, err = srv.OpenAIClient(openai.WithModel(smallModel))
		}
		return err
	})
	return llm, cheap, closeFn, err
}

// newClient builds the provider's client; more, for "scripted", builds more clients
// of the same server.
func newClient(c config, e env, more func(*providertest.Server) error) (llms.Model, func(), error) {
	// The real providers get a client of their own, whose idle connections are
	// closed when the run ends.
	hc := &http.Client{}
	done := hc.CloseIdleConnections
	switch c.provider {
	case "scripted":
		h := &scriptHook{Script: scenarios[c.scenario]}
		if e.scripted != nil {
			e.scripted(h)
		}
		srv := providertest.NewOpenAI(h.Script)
		h.Server = srv
		opts := []openai.Option{openai.WithModel(c.model)}
		if c.embedModel != "" {
			opts = append(opts, openai.WithEmbeddingModel(c.embedModel))
		}
		llm, err := srv.OpenAIClient(opts...)
		if err == nil {
			err = more(srv)
		}
		if err != nil {
			srv.Close()
			return nil, nil, err
		}
		return llm, srv.Close, nil
	case "openai":
		key := e.getenv("OPENAI_API_KEY")
		if key == "" {
			return nil, nil, errors.New("-provider openai needs an API key in OPENAI_API_KEY")
		}
		opts := []openai.Option{openai.WithToken(key), openai.WithModel(c.model), openai.WithHTTPClient(hc)}
		if c.baseURL != "" {
			opts = append(opts, openai.WithBaseURL(c.baseURL))
		}
		llm, err := openai.New(opts...)
		return llm, done, err
	case "anthropic":
		key := e.getenv("ANTHROPIC_API_KEY")
		if key == "" {
			return nil, nil, errors.New("-provider anthropic needs an API key in ANTHROPIC_API_KEY")
		}
		opts := []anthropic.Option{anthropic.WithToken(key), anthropic.WithModel(c.model), anthropic.WithHTTPClient(hc)}
		if c.baseURL != "" {
			opts = append(opts, anthropic.WithBaseURL(c.baseURL))
		}
		llm, err := anthropic.New(opts...)
		return llm, done, err
	case "ollama":
		url := c.baseURL
		if url == "" {
			url = ollamaURL(e.getenv("OLLAMA_HOST"))
		}
		llm, err := ollama.New(ollama.WithServerURL(url), ollama.WithModel(c.model), ollama.WithHTTPClient(hc))
		return llm, done, err
	default:
		return nil, nil, fmt.Errorf("unknown -provider %q: want scripted, openai, anthropic or ollama", c.provider)
	}
}

// ollamaURL turns OLLAMA_HOST as Ollama itself accepts it ("host", "host:port", or a
// URL) into a URL; empty means Ollama's default, localhost:11434.
func ollamaURL(host string) string {
	host = strings.TrimSpace(host)
	switch {
	case host == "":
		return "http://localhost:11434"
	case strings.Contains(host, "://"):
		return host
	case !strings.Contains(host, ":"):
		return "http://" + host + ":11434"
	default:
		return "http://" + host
	}
}

// newBudget is the run's token budget: in-process, or shared through Redis. A Redis
// that does not answer a ping within redisTimeout is an error naming its address.
func newBudget(ctx context.Context, c config) (budget.TokenBudget, func(), error) {
	if c.redisAddr == "" {
		return budget.NewAtomic(c.capacity, budget.WithName(c.budgetName)), func() {}, nil
	}
	rdb := redisClient(c.redisAddr)
	var opts []redisbudget.Option
	if c.window > 0 {
		opts = append(opts, redisbudget.WithWindow(window.Every(c.window)))
	}
	b, err := redisbudget.New(rdb, c.budgetName, c.capacity, opts...)
	if err == nil {
		err = ping(ctx, rdb, c.redisAddr) // after New: a bad name is said first
	}
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	return b, func() { _ = rdb.Close() }, nil
}

// forAnthropic adapts the OpenAIFunctionsAgent to langchaingo's anthropic client.
// The agent passes its tools as llms.WithFunctions, which the openai client turns into
// tools but the anthropic client ignores: they are offered as tools here, or Claude
// would never see them. And the agent's scratchpad replays each tool call with just
// its "__arg1" text as arguments, which the anthropic client refuses as not JSON: such
// arguments are wrapped back into {"__arg1": text}. The caller's messages are not
// modified.
func forAnthropic(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
	return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
		var o llms.CallOptions
		for _, opt := range opts {
			if opt != nil {
				opt(&o)
			}
		}
		if len(o.Functions) > 0 && len(o.Tools) == 0 {
			ts := make([]llms.Tool, len(o.Functions))
			for i := range o.Functions {
				ts[i] = llms.Tool{Type: "function", Function: &o.Functions[i]}
			}
			opts = append(opts[:len(opts):len(opts)], llms.WithTools(ts))
		}
		return next(ctx, jsonToolArguments(msgs), opts...)
	}
}

// jsonToolArguments returns msgs with every tool call's arguments valid JSON, copying
// only the messages it changes.
func jsonToolArguments(msgs []llms.MessageContent) []llms.MessageContent {
	out := msgs
	for i, m := range msgs {
		for j, p := range m.Parts {
			tc, ok := p.(llms.ToolCall)
			if !ok || tc.FunctionCall == nil || json.Valid([]byte(tc.FunctionCall.Arguments)) {
				continue
			}
			if &out[0] == &msgs[0] {
				out = slices.Clone(msgs)
			}
			if &out[i].Parts[0] == &msgs[i].Parts[0] {
				out[i].Parts = slices.Clone(m.Parts)
			}
			args, _ := json.Marshal(map[string]string{"__arg1": tc.FunctionCall.Arguments})
			fc := *tc.FunctionCall
			fc.Arguments = string(args)
			tc.FunctionCall = &fc
			out[i].Parts[j] = tc
		}
	}
	return out
}
