package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/spendguard/spendguard/budget/redisbudget"
)

// FuzzBudgetsQuery: whatever the query string of /api/budgets, the answer is a page
// within bounds whose rows all match the pattern, or a 400 with a message; nothing
// panics.
func FuzzBudgetsQuery(f *testing.F) {
	for _, q := range []string{"", "pattern=t*&page=2&per=3", "sort=used", "page=0", "per=9999999999999999999",
		"pattern=%5B", "pattern=a%7Bb", "page=-1&per=-1", "sort=%00", "pattern=*%5B%5E0-4%5D"} {
		f.Add(q)
	}
	var l []redisbudget.Status
	for i := range 40 {
		l = append(l, redisbudget.Status{Name: fmt.Sprintf("t%02d-[x]", i), Capacity: 100, Consumed: uint64(i)})
	}
	s := &server{idx: newIndex(func(context.Context) ([]redisbudget.Status, []string, error) { return l, nil, nil },
		nil, time.Second)}
	s.idx.refresh(context.Background())
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/api/budgets", nil)
		r.URL.RawQuery = query
		v, err := s.budgets(r)
		if err != nil {
			var h *httpError
			if !errors.As(err, &h) || h.code != http.StatusBadRequest || h.msg == "" {
				t.Fatalf("%q: %v", query, err)
			}
			return
		}
		p := v.(budgetsPage)
		if p.Page < 1 || p.Page > p.Pages || len(p.Rows) > p.Per || p.Per > maxPerPage || p.Matched > p.Total {
			t.Fatalf("%q: page %d of %d, %d rows of %d per page, %d matched of %d", query, p.Page, p.Pages, len(p.Rows), p.Per, p.Matched, p.Total)
		}
		pattern := r.URL.Query().Get("pattern")
		for _, row := range p.Rows {
			if pattern != "" && !globMatch(pattern, row.Name) {
				t.Fatalf("%q: row %q does not match %q", query, row.Name, pattern)
			}
		}
	})
}
