package testseed_test

import (
	"fmt"
	"os"

	"github.com/spendguard/spendguard/internal/testseed"
)

// Replaying a failure: the seed it logged, through SPENDGUARD_SEED.
func Example() {
	os.Setenv(testseed.Env, "1764617600")
	defer os.Unsetenv(testseed.Env)
	s, note, err := testseed.Seed()
	fmt.Println(s, note, err)
	// Output: 1764617600 from SPENDGUARD_SEED <nil>
}
