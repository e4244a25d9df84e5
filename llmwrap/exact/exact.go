package exact

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap/estimate"
)

// The encodings WithEncoding accepts.
const (
	o200kBase  = "o200k_base"  // gpt-4o, gpt-4.1, o1, o3, o4-mini, gpt-5
	cl100kBase = "cl100k_base" // gpt-4, gpt-3.5-turbo, text-embedding-3
	p50kBase   = "p50k_base"   // text-davinci-002/003, code models
	r50kBase   = "r50k_base"   // gpt-3 (davinci, curie, ...)
)

// defaultEncoding is the encoding New uses when WithEncoding is not given.
const defaultEncoding = o200kBase

// The offline loader reads the BPE files embedded in tiktoken-go-loader. It is set in
// init, before any goroutine of the program can call tiktoken, because SetBpeLoader
// writes an unguarded package variable.
func init() {
	tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
}

// encoders caches one encoder per encoding for the life of the process: building one
// parses the BPE file, sorts the vocabulary and compiles the split regexp (a few
// hundred milliseconds, tens of MB), which llms.CountTokens pays on every call.
var encoders sync.Map // encoding name -> *encoderOnce

type encoderOnce struct {
	once sync.Once
	enc  *tiktoken.Tiktoken
	err  error
}

func encoder(name string) (*tiktoken.Tiktoken, error) {
	if !supported(name) {
		return nil, fmt.Errorf("exact: unknown encoding %q (want %s, %s, %s or %s)", name, o200kBase, cl100kBase, p50kBase, r50kBase)
	}
	v, _ := encoders.LoadOrStore(name, new(encoderOnce))
	e := v.(*encoderOnce)
	e.once.Do(func() {
		e.enc, e.err = tiktoken.GetEncoding(name)
		if e.err == nil && e.enc == nil {
			e.err = errors.New("exact: tiktoken returned no encoder")
		}
		if e.err != nil {
			e.err = fmt.Errorf("exact: loading %s: %w", name, e.err)
		}
	})
	return e.enc, e.err
}

// Option configures New.
type Option func(*config)

type config struct {
	encoding string
}

// WithEncoding picks the BPE encoding by its tiktoken name: "o200k_base" (gpt-4o,
// gpt-4.1, o-series, gpt-5: the default), "cl100k_base" (gpt-4, gpt-3.5-turbo),
// "p50k_base" (text-davinci-002/003) or "r50k_base" (gpt-3). An unknown name makes
// New return an error.
func WithEncoding(name string) Option {
	return func(c *config) { c.encoding = name }
}

// ForModel picks the encoding tiktoken associates with an OpenAI model name, such as
// "gpt-4o-mini" (o200k_base) or "gpt-4" (cl100k_base). Names tiktoken does not know,
// or maps to an encoding this package cannot load, keep the default encoding (the
// one of current OpenAI models), so that any model name is accepted.
func ForModel(model string) Option {
	return func(c *config) {
		if name, ok := tiktoken.MODEL_TO_ENCODING[model]; ok {
			if supported(name) {
				c.encoding = name
			}
			return
		}
		best := ""
		for prefix, name := range tiktoken.MODEL_PREFIX_TO_ENCODING {
			if len(prefix) > len(best) && strings.HasPrefix(model, prefix) && supported(name) {
				best, c.encoding = prefix, name
			}
		}
	}
}

func supported(name string) bool {
	switch name {
	case o200kBase, cl100kBase, p50kBase, r50kBase:
		return true
	}
	return false
}

// Estimator counts tokens with a real BPE tokenizer. It implements
// estimate.ProviderEstimator (and so llmwrap.Estimator) with the same per-message,
// per-part and per-tool accounting as estimate.Default, so the two differ only in
// how text is counted.
//
// An Estimator is safe for concurrent use. Build one with New or Must: the zero value,
// like a nil *Estimator, has no encoder and falls back to estimate.Default.
type Estimator struct {
	name string
	enc  *tiktoken.Tiktoken
	acct estimate.ProviderEstimator
}

var _ estimate.ProviderEstimator = (*Estimator)(nil)

// New returns an Estimator for the o200k_base encoding, or for the one the options
// pick. The encoder is built once per encoding and process, by the first New that
// needs it (a few hundred milliseconds and tens of MB for o200k_base, from files
// embedded in the binary: no network, no disk), and shared by every Estimator. It
// returns an error for an unknown encoding; nil options are ignored.
func New(opts ...Option) (*Estimator, error) {
	c := config{encoding: defaultEncoding}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	enc, err := encoder(c.encoding)
	if err != nil {
		return nil, err
	}
	e := &Estimator{name: c.encoding, enc: enc}
	e.acct = estimate.New(e.CountText)
	return e, nil
}

// Must is New that panics on error, for package-level variables with options known
// to be valid.
func Must(opts ...Option) *Estimator {
	e, err := New(opts...)
	if err != nil {
		panic(err)
	}
	return e
}

// CountText returns the number of tokens s encodes to. Special-token text such as
// "<|endoftext|>" is counted as ordinary text, as a provider does with user input;
// invalid UTF-8 is counted as tiktoken-go sees it (each bad byte as U+FFFD). An
// Estimator without an encoder (nil, or the zero value) counts with
// estimate.Text, and so does any text the tokenizer fails on, so that no input
// makes it panic.
func (e *Estimator) CountText(s string) (n uint64) {
	if s == "" {
		return 0
	}
	if e == nil || e.enc == nil {
		return estimate.Text(s)
	}
	defer func() {
		if recover() != nil { // tiktoken-go is not ours to vouch for on every input
			n = estimate.Text(s)
		}
	}()
	return uint64(len(e.enc.EncodeOrdinary(s)))
}

// Estimate returns the prompt tokens of msgs and the tools in opts, counted exactly
// for the text and with package estimate's accounting for everything else (message framing,
// images, tool calls). Nil msgs and nil opts count as empty; a nil Estimator falls
// back to estimate.Default.
func (e *Estimator) Estimate(msgs []llms.MessageContent, opts *llms.CallOptions) uint64 {
	if e == nil || e.acct == nil {
		return estimate.Default().Estimate(msgs, opts)
	}
	return e.acct.Estimate(msgs, opts)
}

// EstimateFor is Estimate under provider p's published framing, tool and image rules
// (see estimate.Provider), with text counted exactly. A nil Estimator falls back to
// estimate.Default's EstimateFor.
func (e *Estimator) EstimateFor(p estimate.Provider, msgs []llms.MessageContent, opts *llms.CallOptions) uint64 {
	if e == nil || e.acct == nil {
		return estimate.Default().EstimateFor(p, msgs, opts)
	}
	return e.acct.EstimateFor(p, msgs, opts)
}
