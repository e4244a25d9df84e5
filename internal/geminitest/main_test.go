package geminitest_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/spendguard/spendguard/internal/providertest/geminiclient"
)

// genai's gRPC cache client outlives the googleai client (geminiclient.New).
func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, f := range geminiclient.Leaks {
		opts = append(opts, goleak.IgnoreTopFunction(f))
	}
	goleak.VerifyTestMain(m, opts...)
}
