package price

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// maxFileSize bounds what ParseLiteLLM reads: the real file is about 1.6 MB.
const maxFileSize = 64 << 20

// The fields ParseLiteLLM reads, each a price per token in USD, and where it puts
// them. A field followed by "_above_<N>k_tokens" is the same rate for prompts above
// N×1000 tokens (a Tier).
var liteLLMRates = []struct {
	field string
	rate  func(*Rates) *uint64
}{
	{"input_cost_per_token", func(r *Rates) *uint64 { return &r.Input }},
	{"output_cost_per_token", func(r *Rates) *uint64 { return &r.Output }},
	{"cache_read_input_token_cost", func(r *Rates) *uint64 { return &r.CacheRead }},
	{"cache_creation_input_token_cost", func(r *Rates) *uint64 { return &r.CacheWrite }},
	{"cache_creation_input_token_cost_above_1hr", func(r *Rates) *uint64 { return &r.CacheWrite1h }},
}

// pricedModes are the values of an entry's "mode" whose calls are billed by the
// token counts llmwrap.Usage carries (an entry without a mode is a chat model, as
// LiteLLM treats it). Entries of any other mode (image_generation,
// audio_transcription, rerank, ...) are left unpriced.
var pricedModes = []string{"", "chat", "completion", "responses", "embedding"}

// ParseLiteLLM reads a price table in the format of LiteLLM's
// model_prices_and_context_window.json (a JSON object of model name → entry), keyed
// by the file's model names. Of each entry it reads input_cost_per_token,
// output_cost_per_token, cache_read_input_token_cost,
// cache_creation_input_token_cost (CacheWrite, the 5-minute write),
// cache_creation_input_token_cost_above_1hr (CacheWrite1h), each of them suffixed
// "_above_<N>k_tokens" (a Tier above N×1000 prompt tokens), and mode; every other
// field is ignored.
//
// Prices are USD per token, converted to micro-USD per million tokens from their
// decimal text exactly, with no float rounding: 2.5e-06 is 2,500,000. A price that
// is not a whole multiple of 10^-12 USD per token (a micro-USD per million tokens) is
// rounded up to the next one, so that it never under-charges.
//
// An entry is priced when its mode is chat, completion, responses or embedding (or
// missing) and it has a non-zero input price, and, unless it is an embedding model,
// a non-zero output price. Any other entry (an image or audio model, a model the
// file lists without prices or at $0, LiteLLM's sample_spec) is left out, so its
// calls are refused as unpriced rather than run free; give such a model a price of
// your own in the Table to run it.
//
// Bad input: a file that is not a JSON object of objects, a field above that is not
// a number (null counts as absent) or a string (mode), a negative price, one of
// 2^64 micro-units or more per million tokens, a file of more than 64 MiB, or one
// with no priced model gives an error
// (naming the entry when one is at fault) and a nil Table: nothing of a bad file is
// used, so a caller reloading it keeps the table it had.
func ParseLiteLLM(r io.Reader) (Table, error) {
	if r == nil {
		return nil, errors.New("price: ParseLiteLLM: nil reader")
	}
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("price: reading the LiteLLM price file: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("price: the LiteLLM price file is larger than %d MiB", maxFileSize>>20)
	}
	var entries map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&entries); err != nil || entries == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, fmt.Errorf("price: the LiteLLM price file is not a JSON object of model entries: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("price: the LiteLLM price file has data after its JSON object")
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	slices.Sort(names) // the first bad entry by name is the one reported, every time
	t := make(Table)
	for _, name := range names {
		p, priced, err := parseEntry(entries[name])
		if err != nil {
			return nil, fmt.Errorf("price: LiteLLM entry %q: %w", name, err)
		}
		if priced {
			t[name] = p
		}
	}
	if len(t) == 0 {
		return nil, errors.New("price: the LiteLLM price file prices no model")
	}
	return t, nil
}

// parseEntry reads one entry; priced says whether it goes into the table.
func parseEntry(raw json.RawMessage) (p Price, priced bool, err error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return Price{}, false, errors.New("not a JSON object")
	}
	var mode string
	if v, ok := fields["mode"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &mode); err != nil {
			return Price{}, false, errors.New("mode: not a string")
		}
	}
	keys := make([]string, 0, len(fields))
	for key := range fields {
		keys = append(keys, key)
	}
	slices.Sort(keys) // the first bad field by name is the one reported
	tiers := map[uint64]*Tier{}
	for _, key := range keys {
		v := fields[key]
		if isNull(v) {
			continue
		}
		field, above, tiered := splitThreshold(key)
		for _, lr := range liteLLMRates {
			if lr.field != field {
				continue
			}
			rate, err := microPerMillion(string(bytes.TrimSpace(v)))
			if err != nil {
				return Price{}, false, fmt.Errorf("%s: %s: %w", key, truncate(v), err)
			}
			dst := lr.rate(&p.Rates)
			if tiered {
				t := tiers[above]
				if t == nil {
					t = &Tier{Above: above}
					tiers[above] = t
				}
				dst = lr.rate(&t.Rates)
			}
			*dst = rate
		}
	}
	for _, t := range tiers {
		p.Tiers = append(p.Tiers, *t)
	}
	slices.SortFunc(p.Tiers, func(a, b Tier) int { return cmpUint(a.Above, b.Above) })
	priced = slices.Contains(pricedModes, mode) && p.Input != 0 && (mode == "embedding" || p.Output != 0)
	return p, priced, nil
}

// splitThreshold splits "field_above_<N>k_tokens" into field and N×1000. A key of
// another shape (or with an N beyond 2^64/1000) is returned whole, untiered.
func splitThreshold(key string) (field string, above uint64, tiered bool) {
	rest, ok := strings.CutSuffix(key, "k_tokens")
	if !ok {
		return key, 0, false
	}
	i := strings.LastIndex(rest, "_above_")
	if i < 0 {
		return key, 0, false
	}
	digits := rest[i+len("_above_"):]
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n > ^uint64(0)/1000 || (len(digits) > 1 && digits[0] == '0') {
		return key, 0, false // one threshold has one spelling: no leading zeros
	}
	return rest[:i], n * 1000, true
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// truncate quotes a bad value for an error message, cut to a readable length.
func truncate(v json.RawMessage) string {
	s := []rune(string(bytes.TrimSpace(v)))
	if len(s) > 40 {
		return string(s[:40]) + "…"
	}
	return string(s)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
