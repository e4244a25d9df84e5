package redisrate_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/internal/providertest"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/middleware"
	"github.com/spendguard/spendguard/ratelimit"
)

// TestProvider429PausesEveryReplica: langchaingo's real openai client gets a 429
// through one replica's limiter; the call is not retried and charges nothing, and the
// other replica (its own client and limiter on the same Redis limit) sends nothing
// before the wait the provider asked for.
func TestProvider429PausesEveryReplica(t *testing.T) {
	onEachRedis(t, testProvider429PausesEveryReplica)
}

func testProvider429PausesEveryReplica(t *testing.T, rdb redis.UniversalClient) {
	const msg = "Rate limit reached for gpt-4o in organization org-test on tokens per min (TPM): Limit 30000, Used 29500, Requested 900. Please try again in 400ms."
	srv := providertest.NewOpenAI(providertest.Sequence(
		providertest.Reply{Status: 429, Text: msg},
		providertest.Reply{Text: "hi", Usage: &providertest.Usage{Prompt: 10, Completion: 2}}))
	defer srv.Close()
	name := uniqueName(t)
	l := ratelimit.Limit{Interval: time.Second, Tokens: 100_000}
	var last *llmwrap.RateWait
	replica := func() llms.Model {
		llm, err := srv.OpenAIClient()
		require.NoError(t, err)
		return llmwrap.Wrap(llm,
			llmwrap.OnSpend(func(_ context.Context, s *llmwrap.Spend) { c := *s.Rate; last = &c }),
			llmwrap.WithModelName("gpt-4o"),
			middleware.Budget(budget.NewAtomic(1_000_000)),
			ratelimit.Middleware(newLimit(t, rdb, name, l)))
	}
	one, two := replica(), replica()
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hello")}

	before := time.Now()
	_, err := one.GenerateContent(ctx, msgs)
	require.Error(t, err)
	require.Len(t, srv.Requests(), 1, "not retried")
	assert.Equal(t, 400*time.Millisecond, last.RetryAfter)
	assert.Zero(t, last.ChargedInput+last.ChargedOutput)

	_, err = two.GenerateContent(ctx, msgs)
	require.NoError(t, err)
	assert.False(t, last.Start.Before(before.Add(400*time.Millisecond)), "the other replica sent during the pause")
	assert.Positive(t, last.Waited)
}
