package middleware_test

import (
	"context"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/spendguard/spendguard/budget"
	"github.com/spendguard/spendguard/llmwrap"
	"github.com/spendguard/spendguard/llmwrap/estimate"
	"github.com/spendguard/spendguard/middleware"
)

// seesModel records the model name each estimate was asked for, and the options'
// model the wrapped model was then called with.
type seesModel struct{ estimated []string }

func (s *seesModel) Estimate([]llms.MessageContent, *llms.CallOptions) uint64 { return 10 }
func (s *seesModel) EstimateFor(_ estimate.Provider, _ []llms.MessageContent, o *llms.CallOptions) uint64 {
	s.estimated = append(s.estimated, o.Model)
	return 10
}

type optsModel struct {
	*fixedModel
	sent []string
}

func (m *optsModel) GenerateContent(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	var o llms.CallOptions
	for _, opt := range opts {
		opt(&o)
	}
	m.sent = append(m.sent, o.Model)
	return m.fixedModel.GenerateContent(ctx, msgs, opts...)
}

// The provider rules are chosen from the model's name too (OpenRouter's
// "anthropic/claude-sonnet-4.5" through an OpenAI client): the estimator reads the
// name WithModelName gives when the call's options name none, and the call is sent
// with its options as they were.
func TestEstimateSeesModelName(t *testing.T) {
	est := &seesModel{}
	m := &optsModel{fixedModel: newFixedModel()}
	w := llmwrap.Wrap(m, llmwrap.WithModelName("anthropic/claude-sonnet-4.5"),
		middleware.Budget(budget.NewAtomic(1<<40), middleware.WithEstimator(est)))
	ctx := context.Background()
	if _, err := w.GenerateContent(ctx, benchMsgs); err != nil {
		t.Fatal(err)
	}
	if _, err := w.GenerateContent(ctx, benchMsgs, llms.WithModel("gpt-4o")); err != nil {
		t.Fatal(err)
	}
	if len(est.estimated) != 2 || est.estimated[0] != "anthropic/claude-sonnet-4.5" || est.estimated[1] != "gpt-4o" {
		t.Errorf("estimated for %q, want the WithModelName name, then the options' model", est.estimated)
	}
	if len(m.sent) != 2 || m.sent[0] != "" || m.sent[1] != "gpt-4o" {
		t.Errorf("the model was sent options naming %q, want them unchanged (\"\", gpt-4o)", m.sent)
	}
	// Unnamed models are estimated without a name.
	est.estimated = nil
	if _, err := llmwrap.Wrap(newFixedModel(), middleware.Budget(budget.NewAtomic(1<<40), middleware.WithEstimator(est))).GenerateContent(ctx, benchMsgs); err != nil {
		t.Fatal(err)
	}
	if len(est.estimated) != 1 || est.estimated[0] != "" {
		t.Errorf("an unnamed model was estimated as %q", est.estimated)
	}
}
