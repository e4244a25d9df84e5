// Package exact is an llmwrap.Estimator that counts tokens with OpenAI's real BPE
// tokenizers (tiktoken-go), for when the default estimate's few percent of error
// matter more than speed and binary size.
//
// The BPE files come from tiktoken-go-loader, which embeds them in the binary (about
// 7 MB): nothing is downloaded, nothing is read from disk. Importing this package
// sets tiktoken-go's loader to that offline one for the whole process, in init, so
// that other users of tiktoken-go in the same program stop fetching files too.
//
// Building an encoder takes a few hundred milliseconds and tens of MB; it is done
// once per encoding and process, on first use, and shared. Counting is then tens of
// times slower than estimate.Text (see BenchmarkEstimateExact4000).
//
// Only the text is counted exactly. Message framing, images, tool calls and tool
// definitions are costed with package estimate's accounting, the same as
// estimate.Default's, so that the two estimators differ only in how they count text.
package exact
