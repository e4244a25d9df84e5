package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// prometheus returns the base URL of the Prometheus started by scripts/e2e.sh, which
// scrapes the metrics Jaeger's collector serves in Prometheus's format.
func prometheus(t *testing.T) string {
	t.Helper()
	return needEnv(t, "a Prometheus", "SPENDGUARD_PROMETHEUS_URL")[0]
}

// The PromQL the README gives for a service's spend, with the service (the job label)
// filled in. The token and denial sums are exact totals over the run: the run is
// shorter than a scrape, and the counters start at zero.
const (
	queryTokens    = `sum(gen_ai_client_token_usage_sum{job=%q})`
	queryTokensBy  = `sum by (gen_ai_request_model, gen_ai_token_type) (gen_ai_client_token_usage_sum{job=%q})`
	queryDenials   = `sum(spendguard_budget_denials_total{job=%q})`
	queryRemaining = `spendguard_budget_remaining{job=%q}`
	queryConsumed  = `spendguard_budget_consumed{job=%q}`
	queryCapacity  = `spendguard_budget_capacity{job=%q}`
	queryHeld      = `spendguard_budget_held{job=%q}`
)

// TestAgentSpendInPrometheus runs the example with OTLP export to Jaeger, whose
// collector serves the metrics for the real Prometheus of scripts/e2e.sh to scrape,
// and reads the run's spend back through Prometheus's query API: the token usage
// sums to what the budget consumed, per model and token type as reported, one denial,
// and the budget gauges as the run's summary left them.
func TestAgentSpendInPrometheus(t *testing.T) {
	otlp, _ := jaeger(t)
	prom := prometheus(t)
	bin := buildAgent(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The trace is TestAgentTraceInJaeger's.
	service, stdout := runAgent(ctx, t, bin, otlp, "spendguard-e2e-metrics-", []string{"OTEL_TRACES_EXPORTER=none"}, "-json")
	var rep agentReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("agent -json: %v\n%s", err, stdout.String())
	}
	if rep.ExportError != "" || rep.Denial == nil || rep.Consumed == 0 {
		t.Fatalf("the run: export error %q, denial %v, consumed %d", rep.ExportError, rep.Denial, rep.Consumed)
	}

	want := map[string]float64{
		queryTokens:    float64(rep.Consumed),
		queryDenials:   1,
		queryRemaining: float64(rep.Remaining),
		queryConsumed:  float64(rep.Consumed),
		queryCapacity:  float64(rep.Capacity),
		queryHeld:      0,
	}
	for q, v := range want {
		q = fmt.Sprintf(q, service)
		got := pollQuery(ctx, t, prom, q, func(s []sample) bool { return len(s) == 1 && s[0].value == v })
		if len(got) == 1 && q != fmt.Sprintf(queryTokens, service) && q != fmt.Sprintf(queryDenials, service) {
			if b := got[0].labels["spendguard_budget_name"]; b != rep.Budget {
				t.Errorf("%s: budget label %q, want %q", q, b, rep.Budget)
			}
		}
	}
	byType := pollQuery(ctx, t, prom, fmt.Sprintf(queryTokensBy, service), func(s []sample) bool { return len(s) == 2 })
	for _, s := range byType {
		want := map[string]uint64{"input": rep.Prompt, "output": rep.Completion}[s.labels["gen_ai_token_type"]]
		if s.labels["gen_ai_request_model"] != rep.Model || s.value != float64(want) {
			t.Errorf("tokens by model and type: %v = %v, want model %q and %d", s.labels, s.value, rep.Model, want)
		}
	}

	checkDashboard(ctx, t, prom, service, rep)
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// checkDashboard runs every query of grafana/spendguard.json against the real
// Prometheus, with the dashboard's variables as Grafana would fill them for the
// run's service: each returns data, the stat and gauge panels the run's exact
// figures, and the service variable's label_values lists the service.
func checkDashboard(ctx context.Context, t *testing.T, prom, service string, rep agentReport) {
	t.Helper()
	raw, err := os.ReadFile("grafana/spendguard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("grafana/spendguard.json: %v", err)
	}
	exact := map[string]float64{
		"Tokens used":      float64(rep.Consumed),
		"Denials":          1,
		"Budget remaining": float64(rep.Remaining),
		"Budget used":      float64(rep.Consumed) / float64(rep.Capacity),
	}
	// $__rate_interval is at least four scrape intervals; a minute covers this run.
	grafana := strings.NewReplacer("$service", regexp.QuoteMeta(service), "$__rate_interval", "1m")
	queries := 0
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			q := grafana.Replace(tg.Expr)
			queries++
			if want, ok := exact[p.Title]; ok {
				delete(exact, p.Title)
				pollQuery(ctx, t, prom, q, func(s []sample) bool { return len(s) == 1 && s[0].value == want })
				continue
			}
			pollQuery(ctx, t, prom, q, func(s []sample) bool { return len(s) > 0 })
		}
	}
	for title := range exact {
		t.Errorf("the dashboard has no panel %q", title)
	}

	var vars int
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		vars++
		m := regexp.MustCompile(`^label_values\((\w+), *(\w+)\)$`).FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(metric, label)", v.Name, v.Definition)
			continue
		}
		values, err := labelValues(ctx, prom, m[2], m[1])
		if err != nil || !slices.Contains(values, service) {
			t.Errorf("variable %s (%s): %v (error %v), want %q among them", v.Name, v.Definition, values, err, service)
		}
	}
	if queries < 8 || vars != 1 {
		t.Errorf("the dashboard has %d queries and %d query variables; the test expects 8 and 1", queries, vars)
	}
}

// labelValues is what Grafana's label_values(metric, label) asks Prometheus:
// /api/v1/label/<label>/values?match[]=<metric>.
func labelValues(ctx context.Context, prom, label, metric string) ([]string, error) {
	u := prom + "/api/v1/label/" + label + "/values?" + url.Values{"match[]": {metric}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string   `json:"status"`
		Data   []string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", u, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s: status %q", u, body.Status)
	}
	return body.Data, nil
}

// sample is one series of an instant vector.
type sample struct {
	labels map[string]string
	value  float64
}

// pollQuery runs the instant query q until ok accepts its result (Prometheus scrapes
// every second), or fails the test after 30s with the last result.
func pollQuery(ctx context.Context, t *testing.T, prom, q string, ok func([]sample) bool) []sample {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		s, err := query(ctx, client, prom, q)
		if err == nil && ok(s) {
			return s
		}
		last = fmt.Sprintf("%v (error %v)", s, err)
		if time.Now().After(deadline) {
			t.Errorf("Prometheus: %s is %s after 30s", q, last)
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Prometheus: %s: %v; last %s", q, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// query runs an instant query through Prometheus's HTTP API (/api/v1/query).
func query(ctx context.Context, client *http.Client, prom, q string) ([]sample, error) {
	u := prom + "/api/v1/query?" + url.Values{"query": {q}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"` // [unix time, "value"]
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", u, err)
	}
	if body.Status != "success" || body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("%s: status %q (%s), result type %q", u, body.Status, body.Error, body.Data.ResultType)
	}
	var out []sample
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %v: %w", u, r.Value[1], err)
		}
		out = append(out, sample{labels: r.Metric, value: v})
	}
	return out, nil
}
