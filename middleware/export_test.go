package middleware

// The defaults, for the tests of package middleware_test.
const (
	DefaultCompletionAllowance = defaultCompletionAllowance
	DefaultSettleTimeout       = defaultSettleTimeout
)
