package exact

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/llmwrap"
)

// Encoding names accepted by WithEncoding.
const (
	O200kBase  = "o200k_base"  // gpt-4o, gpt-4.1, o1, o3, o4-mini, gpt-5
	Cl100kBase = "cl100k_base" // gpt-4, gpt-3.5-turbo, text-embedding-3
	P50kBase   = "p50k_base"   // text-davinci-002/003, code models
	R50kBase   = "r50k_base"   // gpt-3 (davinci, curie, ...)
)

// DefaultEncoding is the encoding New uses when WithEncoding is not given.
const DefaultEncoding = O200kBase

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
		return nil, fmt.Errorf("exact: unknown encoding %q (want %s, %s, %s or %s)", name, O200kBase, Cl100kBase, P50kBase, R50kBase)
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

// WithEncoding picks the BPE encoding by name (O200kBase, Cl100kBase, P50kBase,
// R50kBase). An unknown name makes New return an error.
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
	case O200kBase, Cl100kBase, P50kBase, R50kBase:
		return true
	}
	return false
}

// Estimator counts tokens with a real BPE tokenizer. It implements
// llmwrap.Estimator with the same per-message, per-part and per-tool accounting as
// llmwrap.DefaultEstimator, so the two differ only in how text is counted.
//
// An Estimator is safe for concurrent use. Build one with New or Must: the zero value,
// like a nil *Estimator, has no encoder and falls back to llmwrap's default estimate.
type Estimator struct {
	name string
	enc  *tiktoken.Tiktoken
	acct llmwrap.ProviderEstimator
}

var _ llmwrap.ProviderEstimator = (*Estimator)(nil)

// New returns an Estimator for the o200k_base encoding, or for the one the options
// pick. The encoder is built once per encoding and process, by the first New that
// needs it (a few hundred milliseconds and tens of MB for o200k_base, from files
// embedded in the binary: no network, no disk), and shared by every Estimator. It
// returns an error for an unknown encoding; nil options are ignored.
func New(opts ...Option) (*Estimator, error) {
	c := config{encoding: DefaultEncoding}
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
	e.acct = llmwrap.NewEstimator(e.CountText).(llmwrap.ProviderEstimator)
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

// Encoding names the encoding e counts with.
func (e *Estimator) Encoding() string {
	if e == nil {
		return ""
	}
	return e.name
}

// CountText returns the number of tokens s encodes to. Special-token text such as
// "<|endoftext|>" is counted as ordinary text, as a provider does with user input;
// invalid UTF-8 is counted as tiktoken-go sees it (each bad byte as U+FFFD). An
// Estimator without an encoder (nil, or the zero value) counts with
// llmwrap.EstimateText, and so does any text the tokenizer fails on, so that no input
// makes it panic.
func (e *Estimator) CountText(s string) (n uint64) {
	if s == "" {
		return 0
	}
	if e == nil || e.enc == nil {
		return llmwrap.EstimateText(s)
	}
	defer func() {
		if recover() != nil { // tiktoken-go is not ours to vouch for on every input
			n = llmwrap.EstimateText(s)
		}
	}()
	return uint64(len(e.enc.EncodeOrdinary(s)))
}

// Estimate returns the prompt tokens of msgs and the tools in opts, counted exactly
// for the text and with llmwrap's accounting for everything else (message framing,
// images, tool calls). Nil msgs and nil opts count as empty; a nil Estimator falls
// back to llmwrap.DefaultEstimator.
func (e *Estimator) Estimate(msgs []llms.MessageContent, opts *llms.CallOptions) uint64 {
	if e == nil || e.acct == nil {
		return llmwrap.DefaultEstimator().Estimate(msgs, opts)
	}
	return e.acct.Estimate(msgs, opts)
}

// EstimateFor is Estimate under provider p's published framing, tool and image rules
// (see llmwrap.Provider), with text counted exactly. A nil Estimator falls back to
// llmwrap.DefaultEstimator's EstimateFor.
func (e *Estimator) EstimateFor(p llmwrap.Provider, msgs []llms.MessageContent, opts *llms.CallOptions) uint64 {
	if e == nil || e.acct == nil {
		return llmwrap.DefaultEstimator().(llmwrap.ProviderEstimator).EstimateFor(p, msgs, opts)
	}
	return e.acct.EstimateFor(p, msgs, opts)
}
