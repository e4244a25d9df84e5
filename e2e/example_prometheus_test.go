package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
)

// How the test reads a run's spend back from Prometheus's query API: here from a
// recorded answer to the README's "remaining budget" query.
func Example_queryPrometheus() {
	const answer = `{"status":"success","data":{"resultType":"vector","result":[
	 {"metric":{"__name__":"spendguard_budget_remaining","job":"spendguard-agent","spendguard_budget_name":"agent"},
	  "value":[1767225600.123,"30"]}]}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, answer)
	}))
	defer srv.Close()

	s, err := query(context.Background(), srv.Client(), srv.URL, fmt.Sprintf(queryRemaining, "spendguard-agent"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s[0].labels["spendguard_budget_name"], "has", s[0].value, "tokens left")
	// Output:
	// agent has 30 tokens left
}
