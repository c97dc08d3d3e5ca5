package promsrc_test

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
	"github.com/dfaas-go/dfaas/metricsrc/scrape"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// DashboardPath is the Grafana dashboard shipped with the project.
const dashboardPath = "../../deploy/grafana/dfaas.json"

// DashboardExprs returns every PromQL expression of the dashboard.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var out []string
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	return out
}

// recorder is a Registerer that remembers the metric names of what is
// registered.
type recorder struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}
func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		r.Register(c)
	}
}
func (r *recorder) Unregister(prometheus.Collector) bool { return true }

// TestDashboardMetrics: every metric the dashboard queries is one that the
// agent, its proxy collector, the FaaS gateway or node_exporter exports.
func TestDashboardMetrics(t *testing.T) {
	known := &recorder{names: map[string]bool{}}
	net := peer.NewMemNetwork(peer.MemNetworkOptions{})
	defer net.Close()
	tr, _ := net.Join("a")
	node, err := dfaas.New(dfaas.Config{
		Strategy: strategy.AllLocal{}, Proxy: proxyctl.NewRecorder(1), FaaS: faas.NewStatic(),
		Metrics: metricsrc.NewStatic(metricsrc.Sample{}), Peers: tr, ProxyURL: "http://a:1", Period: time.Second, Registerer: known,
	})
	if err != nil {
		t.Fatal(err)
	}
	node.Close()
	known.Register(promsrc.NewCollector(metricsrc.NewCounters(), 0))
	for _, n := range []string{"gateway_function_invocation_total", "gateway_functions_seconds", "gateway_service_count", "up"} {
		known.names[n] = true
	}
	page, err := os.Open("../scrape/testdata/node-exporter-1.5.0.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	fams, err := scrape.Parse(page)
	if err != nil {
		t.Fatal(err)
	}
	for n := range fams {
		known.names[n] = true
	}

	for _, n := range []string{"dfaas_agent_decision_share", "dfaas_agent_forecast_error_requests_per_second", promsrc.MetricOffered} {
		if !known.names[n] {
			t.Fatalf("%s not found among the registered metrics %v", n, known.names)
		}
	}
	ident := regexp.MustCompile(`\b(dfaas_[a-z_]+|gateway_[a-z_]+|node_[A-Za-z_]+)\b`)
	used := map[string]bool{}
	for _, e := range dashboardExprs(t) {
		for _, m := range ident.FindAllString(e, -1) {
			base := m
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if s, ok := strings.CutSuffix(m, suf); ok && known.names[s] {
					base = s
				}
			}
			used[base] = true
			if !known.names[base] {
				t.Errorf("dashboard queries %s, which nothing exports (expression %s)", m, e)
			}
		}
	}
	// And the dashboard shows every agent metric.
	var missing []string
	for n := range known.names {
		if strings.HasPrefix(n, "dfaas_agent_") && !used[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("agent metrics not on the dashboard: %v", missing)
	}
}
