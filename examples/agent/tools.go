package main

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tmc/langchaingo/tools"
)

// wordCount counts the words of its input.
type wordCount struct{}

func (wordCount) Name() string { return "word_count" }

func (wordCount) Description() string {
	return "Counts the words of a text. The input is the text."
}

func (wordCount) Call(_ context.Context, input string) (string, error) {
	return strconv.Itoa(len(strings.Fields(input))) + " words", nil
}

// clock tells the time in UTC; now is injectable so that tests see a fixed time.
type clock struct{ now func() time.Time }

func (clock) Name() string { return "clock" }

func (clock) Description() string {
	return "Tells the current date and time in UTC, in RFC 3339. The input is ignored."
}

func (c clock) Call(context.Context, string) (string, error) {
	return c.now().UTC().Format(time.RFC3339), nil
}

// counted counts the dispatches that reached the tool (a guard's denial does not).
type counted struct {
	tools.Tool
	n *atomic.Int64
}

func (c counted) Call(ctx context.Context, input string) (string, error) {
	c.n.Add(1)
	return c.Tool.Call(ctx, input)
}
