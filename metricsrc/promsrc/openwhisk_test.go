package promsrc

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/dfaas-go/dfaas/metricsrc"
)

// TestSourceOpenWhisk: with SeriesOpenWhisk the query reads the user-events
// series of one namespace, and Local, Latency, Success and Errors come from
// them.
func TestSourceOpenWhisk(t *testing.T) {
	fp := newFakeProm(t)
	fp.vec.Store([]map[string]any{
		series(qAgentUp, 1), series(qGatewayUp, 1), series(qNodeUp, 1),
		series(qOffered, 50, "function", "figlet"),
		series(qLocal, 48, "function", "figlet"),
		series(qFailed, 2, "function", "figlet"),
		series(qOwActivations, 47, "action", "figlet"),
		series(qOwStatus, 45, "action", "figlet", "status", "success"),
		series(qOwStatus, 2, "action", "figlet", "status", "action_developer_error"),
		series(qGwSecs, 4.7, "action", "figlet"),
		series(qGwCount, 47, "action", "figlet"),
		series(qOwActivations, 3, "action", "thumbnail"),
		series(qOwActivations, 9, "action", "utils/split"),
		series(qOwActivations, 1),
	})
	src, err := New(Config{URL: fp.srv.URL, ScrapeInterval: time.Second, Namespace: "guest", Series: SeriesOpenWhisk})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r, err := src.Read(context.Background(), time.Unix(1000, 0), 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := fp.queries.Load().(string)
	for _, want := range []string{
		`openwhisk_action_activations_total{job="openwhisk-user-events", namespace="guest", action!~".*/.*"}`,
		`min(up{job="openwhisk-user-events"})`,
	} {
		if !strings.Contains(q, want) {
			t.Errorf("query lacks %s:\n%s", want, q)
		}
	}
	if strings.Contains(q, "gateway_function_invocation_total") {
		t.Errorf("query reads OpenFaaS's series:\n%s", q)
	}
	var names []string
	for _, f := range r.Functions {
		names = append(names, f.Name)
	}
	if fmt.Sprint(names) != "[figlet thumbnail]" {
		t.Fatalf("functions %v", names)
	}
	fig := r.Functions[0]
	if !fig.HasGateway || fig.Invocations != 47 || fig.Success != 45 || fig.Errors != 2 || fig.Latency != 100*time.Millisecond {
		t.Errorf("figlet %+v", fig)
	}
	s := r.Sample()
	want := []metricsrc.FunctionRates{
		{Name: "figlet", Offered: 50, Local: 47, Failed: 2, Latency: 100 * time.Millisecond},
		{Name: "thumbnail", Local: 3},
	}
	if fmt.Sprint(s.Functions) != fmt.Sprint(want) {
		t.Errorf("sample\n got %+v\nwant %+v", s.Functions, want)
	}
	if _, err := New(Config{URL: fp.srv.URL, Series: "lambda"}); err == nil {
		t.Error("an unknown series accepted")
	}
}

// FuzzDecodeOpenWhisk runs FuzzDecode's checks from OpenWhisk-tagged
// vectors.
func FuzzDecodeOpenWhisk(f *testing.F) {
	f.Add([]byte(`[{"metric":{"dfaas_q":"ow_activations","action":"a"},"value":[1,"3"]},{"metric":{"dfaas_q":"ow_status","action":"a","status":"success"},"value":[1,"2"]}]`))
	f.Add([]byte(`[{"metric":{"dfaas_q":"ow_activations","action":"a"},"value":[1,"1e308"]},{"metric":{"dfaas_q":"ow_activations","action":"a"},"value":[1,"1e308"]}]`))
	f.Add([]byte(`[{"metric":{"dfaas_q":"gw_seconds_sum","action":"p/x"},"value":[1,"1"]},{"metric":{"dfaas_q":"gw_seconds_count","action":"x"},"value":[1,"1e-308"]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var vec model.Vector
		if json.Unmarshal(data, &vec) != nil {
			return
		}
		s := Decode(vec, "").Sample()
		for _, f := range s.Functions {
			if strings.Contains(f.Name, "/") || f.Name == "" {
				t.Fatalf("function %q", f.Name)
			}
			if !(f.Local >= 0) || math.IsInf(f.Local, 0) || f.Latency < 0 {
				t.Fatalf("bad reading %+v", f)
			}
		}
	})
}
