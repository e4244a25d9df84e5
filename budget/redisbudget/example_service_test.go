package redisbudget_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/openai"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/budget/redisbudget"
	"github.com/spendguard/spendguard/budget/window"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
)

// An HTTP service that runs model calls for many tenants. Every request gets its
// tenant's budget, from a Family, in its context (budget.NewContext), and the model's
// middleware holds a budget shared by all tenants: a call goes out only if both can
// pay for it, and one that either denies takes nothing from the other. An operator
// lowers one tenant's limit while the service runs (Family.SetCapacity, or
// `spendguard set`), and that tenant's next call is refused.
//
// It needs a Redis server (SPENDGUARD_REDIS_ADDR, else localhost:6379), so its
// output is checked by TestExampleFamilyHTTPService rather than by go test alone.
func ExampleFamily_httpService() {
	ctx := context.Background()
	addr := os.Getenv("SPENDGUARD_REDIS_ADDR")
	if addr == "" {
		addr = "localhost:6379"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	// A prefix of its own, so that every run of the example starts afresh.
	prefix := fmt.Sprintf("example-%d", time.Now().UnixNano())

	// Each tenant may use 5,000 tokens a day unless Redis says otherwise; all
	// tenants together, 1,000,000.
	tenants, err := redisbudget.NewFamily(rdb, 5_000,
		redisbudget.WithWindow(window.Daily(nil)), redisbudget.WithKeyPrefix(prefix))
	if err != nil {
		fmt.Println(err)
		return
	}
	global, err := redisbudget.New(rdb, "all-tenants", 1_000_000,
		redisbudget.WithWindow(window.Daily(nil)), redisbudget.WithKeyPrefix(prefix))
	if err != nil {
		fmt.Println(err)
		return
	}

	// The provider: langchaingo's OpenAI client, here against a local stand-in that
	// bills 900 prompt and 100 completion tokens per call.
	provider := providertest.NewOpenAI(providertest.Fixed(providertest.Reply{
		Text: "ok", Usage: &providertest.Usage{Prompt: 900, Completion: 100}}))
	defer provider.Close()
	llm, err := provider.OpenAIClient(openai.WithModel("gpt-4o-mini"))
	if err != nil {
		fmt.Println(err)
		return
	}
	model := llmwrap.Wrap(llm, middleware.Budget(global, middleware.WithCompletionAllowance(500)))

	mux := http.NewServeMux()
	mux.HandleFunc("POST /ask", func(w http.ResponseWriter, r *http.Request) {
		tb, err := tenants.Budget(r.Header.Get("X-Tenant"))
		if err != nil { // no tenant, or a name Redis keys cannot carry
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx := budget.NewContext(r.Context(), tb)
		body, _ := io.ReadAll(r.Body)
		resp, err := model.GenerateContent(ctx, []llms.MessageContent{
			llms.TextParts(llms.ChatMessageTypeHuman, string(body))})
		var denied *budget.DeniedError
		switch {
		case errors.As(err, &denied):
			http.Error(w, "over the budget of "+denied.Budget, http.StatusTooManyRequests)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprint(w, resp.Choices[0].Content)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ask := func(tenant string) {
		req, _ := http.NewRequest("POST", srv.URL+"/ask", strings.NewReader("Summarise my invoice."))
		req.Header.Set("X-Tenant", tenant)
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%s: %d %s\n", tenant, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	ask("acme")
	ask("globex")

	// The operator lowers globex's limit below what it has used today.
	if err := tenants.SetCapacity(ctx, "globex", 500); err != nil {
		fmt.Println(err)
		return
	}
	ask("globex")
	ask("acme")
	ask("")

	for _, name := range []string{"acme", "globex"} {
		s, err := tenants.Status(ctx, name)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s used %d of %d (from Redis: %v)\n", s.Name, s.Consumed, s.Capacity, s.FromRedis)
	}
	g, _ := global.Snapshot(ctx)
	fmt.Println("all tenants used", g.Consumed)
	// acme: 200 ok
	// globex: 200 ok
	// globex: 429 over the budget of globex
	// acme: 200 ok
	// : 400 redisbudget: empty budget name
	// acme used 2000 of 5000 (from Redis: false)
	// globex used 1000 of 500 (from Redis: true)
	// all tenants used 3000
}
