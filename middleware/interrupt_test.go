package middleware_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/openai"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/middleware"
)

// streamingServer streams words as OpenAI chat-completion chunks, one flush each,
// then, after `words` chunks, either holds the connection until the client goes
// (cut false) or drops it mid-stream (cut true). No usage is ever sent: the stream
// ends before the final chunk that would carry it.
func streamingServer(t *testing.T, words int, cut bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range words {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word%d \"}}]}\n\n", i)
			w.(http.Flusher).Flush()
		}
		if cut {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Issue 18: an interrupted stream is never free. A stream cancelled by its caller
// after part of the answer, and one whose connection is cut, are charged at least the
// prompt estimate plus the output seen, through langchaingo's real openai client,
// and leave nothing held.
func TestInterruptedStreamIsCharged(t *testing.T) {
	for _, cut := range []bool{false, true} {
		t.Run(map[bool]string{false: "cancelled", true: "cut"}[cut], func(t *testing.T) {
			srv := streamingServer(t, 40, cut)
			llm, err := openai.New(openai.WithToken("test"), openai.WithBaseURL(srv.URL+"/v1"), openai.WithModel("gpt-4o"))
			require.NoError(t, err)
			b := budget.NewAtomic(1_000_000)
			var s llmwrap.Spend
			m := llmwrap.Wrap(llm, capture(&s), middleware.Budget(b))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var seen strings.Builder
			var mu sync.Mutex
			chunks := 0
			stream := llms.WithStreamingFunc(func(_ context.Context, chunk []byte) error {
				mu.Lock()
				defer mu.Unlock()
				seen.Write(chunk)
				if chunks++; chunks == 10 && !cut {
					cancel() // the caller gives up a quarter of the way through
				}
				return nil
			})
			_, err = m.GenerateContent(ctx, hello, stream)
			mu.Lock()
			out := seen.String()
			mu.Unlock()
			require.NotEmpty(t, out, "the caller saw part of the answer")
			// langchaingo's openai client returns what it had, with no error, when its
			// context is cancelled mid-stream: that is a response without usage.
			want := map[bool]llmwrap.UsageSource{true: llmwrap.UsageInterrupted, false: llmwrap.UsageEstimated}[err != nil]
			assert.Equal(t, want, s.Budget.UsageSource, "err %v", err)
			assert.GreaterOrEqual(t, s.Budget.Charged, s.Budget.PromptEstimate+estimate.Text(out), "the prompt and the output seen")
			assert.Less(t, s.Budget.Charged, s.Budget.Reserved, "not the whole reservation")
			wantSettled(t, b, s.Budget.Charged)
		})
	}
}
