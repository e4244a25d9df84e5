package llmwrap

// HasOutput exposes hasOutput to the package's external tests.
var HasOutput = hasOutput

// MaxReportedTokens exposes maxReportedTokens to the package's external tests.
const MaxReportedTokens = maxReportedTokens
