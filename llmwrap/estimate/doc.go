// Package estimate is spendguard's default prompt estimator: how many tokens a
// prompt will be billed for, computed before it is sent, with no network and no
// tables.
//
// Default counts text with Text (an o200k_base estimate within a few percent on
// ordinary text) and adds what a provider bills around it: message framing, tool
// calls and results, tool definitions and the hidden prompts tools bring, images.
// EstimateFor applies the rules of whoever bills the call: the published rules of one
// Provider (ProviderOf reads it from a wrapped model's Go type or a provider's name),
// refined by the model's name in the call options, since a client of OpenAI's API
// also reaches routers and hosts of open-weights models that bill by the model's own
// chat template (the README lists every rule and its source). Estimate applies
// OpenAI-like rules.
// New keeps that accounting and counts text another way, and package
// llmwrap/exact counts it with OpenAI's real tokenizer.
//
// Every estimator here implements llmwrap.Estimator, is safe for concurrent use and
// accepts any input: nil messages, nil options, nil or unknown parts and malformed
// images are costed, never a panic.
package estimate
