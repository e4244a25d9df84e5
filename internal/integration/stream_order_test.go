package integration_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/tmc/langchaingo/llms"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/middleware"
	sgotel "github.com/spendguard/spendguard/otel"
)

// recorder collects the chunks a streaming function sees.
type recorder struct {
	mu     sync.Mutex
	chunks []string
}

func (r *recorder) add(chunk []byte) {
	r.mu.Lock()
	r.chunks = append(r.chunks, string(chunk))
	r.mu.Unlock()
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.chunks, "")
}

// userStreamMiddleware is a third party's middleware written the ordinary
// langchaingo way: apply the options it is given, take the effective streaming
// function, append a wrapper of it.
func userStreamMiddleware(seen *recorder) llmwrap.Middleware {
	return func(next llmwrap.GenerateFunc) llmwrap.GenerateFunc {
		return func(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
			var o llms.CallOptions
			for _, opt := range opts {
				opt(&o)
			}
			if f := o.StreamingFunc; f != nil {
				opts = append(opts[:len(opts):len(opts)], llms.WithStreamingFunc(func(ctx context.Context, chunk []byte) error {
					seen.add(chunk)
					return f(ctx, chunk)
				}))
			}
			return next(ctx, msgs, opts...)
		}
	}
}

// permutations of {0, 1, 2}.
var sixOrders = [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}

var orderNames = [3]string{"user", "otel", "budget"}

// TestStreamTapsComposeInEveryOrder drives langchaingo's real openai client over a
// streaming server through a user's stream middleware, otel.Middleware and
// middleware.Budget in all six orders: the caller's function and the user's wrapper
// each see the whole stream exactly once, otel sees its first chunk, and the budget
// charges the whole answer (the server reports no usage, so the charge is the
// budget's estimate of the streamed answer).
func TestStreamTapsComposeInEveryOrder(t *testing.T) {
	const answer = "The quick brown fox jumps over the lazy dog, twice over, and then rests."
	srv := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{Text: answer}))
	defer srv.Close()
	llm, err := srv.OpenAIClient()
	if err != nil {
		t.Fatal(err)
	}
	for _, order := range sixOrders {
		name := orderNames[order[0]] + "," + orderNames[order[1]] + "," + orderNames[order[2]]
		t.Run(name, func(t *testing.T) {
			var caller, user recorder
			spans := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
			defer func() { _ = tp.Shutdown(context.Background()) }()
			b := budget.NewAtomic(100_000, budget.WithName("run"))
			layers := [3]llmwrap.Middleware{
				userStreamMiddleware(&user),
				sgotel.Middleware(sgotel.WithTracerProvider(tp)),
				middleware.Budget(b, middleware.WithEstimator(fixedEstimator(40))),
			}
			var s llmwrap.Spend
			m := llmwrap.Wrap(llm, capture(&s), llmwrap.WithModelName("gpt-test"),
				layers[order[0]], layers[order[1]], layers[order[2]])

			callerOpt := llms.WithStreamingFunc(func(_ context.Context, chunk []byte) error {
				caller.add(chunk)
				return nil
			})
			resp, err := m.GenerateContent(context.Background(), hello, callerOpt)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Choices[0].Content != answer {
				t.Fatalf("response %q", resp.Choices[0].Content)
			}
			if got := caller.text(); got != answer {
				t.Errorf("the caller's function saw %q, want the whole stream once", got)
			}
			if got := user.text(); got != answer {
				t.Errorf("the user's wrapper saw %q, want the whole stream once", got)
			}
			if len(caller.chunks) < 3 || len(user.chunks) != len(caller.chunks) {
				t.Errorf("chunks: caller %d, user %d", len(caller.chunks), len(user.chunks))
			}
			wantCompletion := estimate.Text(answer)
			if s.Budget.UsageSource != llmwrap.UsageEstimated || s.Budget.Usage.CompletionTokens != wantCompletion || s.Budget.Charged != 40+wantCompletion {
				t.Errorf("budget charged %d for %+v (%s), want 40 + %d", s.Budget.Charged, s.Budget.Usage, s.Budget.UsageSource, wantCompletion)
			}
			if s, _ := b.Snapshot(context.Background()); s.Consumed != 40+wantCompletion {
				t.Errorf("budget consumed %d", s.Consumed)
			}
			ended := spans.Ended()
			if len(ended) != 1 {
				t.Fatalf("%d spans", len(ended))
			}
			ttfc := false
			for _, kv := range ended[0].Attributes() {
				ttfc = ttfc || kv.Key == semconv.GenAIResponseTimeToFirstChunkKey
			}
			if !ttfc {
				t.Error("otel did not see the first chunk")
			}
			if s.Options.StreamingFunc == nil {
				t.Error("Spend.Options lost the caller's streaming function")
			}
		})
	}
}

// TestBudgetTapSeesTheStreamInEveryOrder covers the budget's own copy of the stream,
// which it charges from when the response carries no text (a provider whose client
// does not gather the stream): in every order the charge is the whole streamed text,
// once.
func TestBudgetTapSeesTheStreamInEveryOrder(t *testing.T) {
	pieces := []string{"one two ", "three four ", "five six seven"}
	model := &fakeModel{fn: func(ctx context.Context, _ []llms.MessageContent, o llms.CallOptions) (*llms.ContentResponse, error) {
		for _, p := range pieces {
			if err := o.StreamingFunc(ctx, []byte(p)); err != nil {
				return nil, err
			}
		}
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{{StopReason: "stop"}}}, nil
	}}
	whole := strings.Join(pieces, "")
	for _, order := range sixOrders {
		t.Run(orderNames[order[0]]+","+orderNames[order[1]]+","+orderNames[order[2]], func(t *testing.T) {
			var caller, user recorder
			layers := [3]llmwrap.Middleware{
				userStreamMiddleware(&user),
				sgotel.Middleware(sgotel.WithTracerProvider(sdktrace.NewTracerProvider())),
				middleware.Budget(budget.NewAtomic(10_000), middleware.WithEstimator(fixedEstimator(1))),
			}
			var s llmwrap.Spend
			m := llmwrap.Wrap(model, capture(&s), layers[order[0]], layers[order[1]], layers[order[2]])
			_, err := m.GenerateContent(context.Background(), hello, llms.WithStreamingFunc(func(_ context.Context, c []byte) error {
				caller.add(c)
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			if caller.text() != whole || user.text() != whole {
				t.Errorf("caller saw %q, user saw %q", caller.text(), user.text())
			}
			if want := estimate.Text(whole); s.Budget.Usage.CompletionTokens != want {
				t.Errorf("budget charged a completion of %d, want %d (the stream once)", s.Budget.Usage.CompletionTokens, want)
			}
		})
	}
}
