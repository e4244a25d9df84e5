package spendhook_test

import (
	"fmt"

	"github.com/spendguard/spendguard/llmwrap/internal/spendhook"
)

type spend struct{ charge, inline *int }

func Example() {
	spendhook.Set(spendhook.Hooks[spend, int, string, func() string]{StartBudget: func(s *spend) *int { s.charge = s.inline; return s.charge }})
	n := 7
	s := &spend{inline: &n}
	fmt.Println(*spendhook.Get[spend, int, string, func() string]().StartBudget(s))
	// Output: 7
}
