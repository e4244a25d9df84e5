package kithook_test

import (
	"fmt"

	"github.com/spendguard/spendguard/budget/internal/kithook"
)

type hold struct {
	tokens  uint64
	settled bool
}

// Package budget installs its hooks once; budgetkit reads them back.
func Example() {
	kithook.Set(kithook.Hooks[hold]{
		New: func(_ any, _ string, tokens uint64, _ any, _ error) *hold { return &hold{tokens: tokens} },
		Settle: func(h *hold) bool {
			first := !h.settled
			h.settled = true
			return first
		},
	})
	h := kithook.Get[hold]()
	r := h.New(nil, "", 10, nil, nil)
	fmt.Println(r.tokens, h.Settle(r), h.Settle(r))
	// Output: 10 true false
}
