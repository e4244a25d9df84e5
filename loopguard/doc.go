// Package loopguard stops an agent that is going round in circles (the same tool
// call, with the same arguments, getting the same result, again and again) before its
// next model call is sent: New returns the llmwrap.Middleware, which refuses such a
// call with an *Error (errors.Is(err, ErrLoop)) and records why in the call's
// llmwrap.Spend.Loop. The rule, the agents it reads and its cost are in the README's
// "Loop stops".
//
// Bad input, once for the package: messages of any shape are accepted and never make
// the guard panic or stop a run by themselves; nil options are skipped and option
// values out of range are clamped (see each option).
package loopguard
