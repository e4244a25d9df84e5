package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
)

// How the test reads a trace back from Jaeger's query API: here from a recorded
// answer, in the shape Jaeger v2 gives /api/traces.
func Example_readTraceFromJaeger() {
	const answer = `{"data":[{"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spans":[
	 {"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"a1","operationName":"chat scripted-model",
	  "references":[{"refType":"CHILD_OF","spanID":"r0"}],
	  "tags":[{"key":"gen_ai.usage.input_tokens","type":"int64","value":297},
	          {"key":"spendguard.usage.source","type":"string","value":"reported"}]}]}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, answer)
	}))
	defer srv.Close()

	docs, err := getTraces(context.Background(), srv.Client(), srv.URL+"/api/traces?service=agent")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := docs[0].Spans[0]
	fmt.Println(s.OperationName, "parent", s.parent())
	fmt.Println("input tokens", s.tag("gen_ai.usage.input_tokens"), "source", s.tag("spendguard.usage.source"))
	// Output:
	// chat scripted-model parent r0
	// input tokens 297 source reported
}
