package llmwrap

// HasOutput exposes hasOutput to the package's external tests.
var HasOutput = hasOutput
