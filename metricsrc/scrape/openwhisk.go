package scrape

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/dfaas-go/dfaas/metricsrc"
)

// Series names the FaaS platform whose per-function series a page holds.
type Series string

// The platforms whose series the scraping source reads.
const (
	// SeriesOpenFaaS: the OpenFaaS gateway's gateway_function_invocation_total
	// and gateway_functions_seconds (dfaas faas serves them too).
	SeriesOpenFaaS Series = "openfaas"
	// SeriesOpenWhisk: the per-action series of OpenWhisk's user-events
	// service, openwhisk_action_activations_total, openwhisk_action_status
	// and openwhisk_action_duration_seconds (dfaas faas --api openwhisk
	// serves them too).
	SeriesOpenWhisk Series = "openwhisk"
)

// NewFaaS returns the TotalsReader of a FaaS platform's /metrics page for
// the platform's series: a Gateway for OpenFaaS's, an OpenWhisk for
// OpenWhisk's. namespace is the OpenFaaS namespace suffix, or the OpenWhisk
// namespace whose actions count.
func NewFaaS(t *Target, namespace string, s Series) (metricsrc.TotalsReader, error) {
	switch s {
	case SeriesOpenFaaS, "":
		return NewGateway(t, namespace), nil
	case SeriesOpenWhisk:
		return NewOpenWhisk(t, namespace), nil
	}
	return nil, fmt.Errorf("scrape: series %q: want %s or %s", s, SeriesOpenFaaS, SeriesOpenWhisk)
}

// OpenWhisk reads the per-action counters of OpenWhisk's user-events service
// from its /metrics page, as a metricsrc.TotalsReader: Local counts the
// activations (openwhisk_action_activations_total), Failed those whose
// status (openwhisk_action_status) is not success, and
// LatencySeconds/LatencyCount the activations' duration
// (openwhisk_action_duration_seconds).
type OpenWhisk struct {
	t  *Target
	ns string
}

// NewOpenWhisk returns an OpenWhisk reader over t that counts the actions
// of namespace (every namespace when it is empty or "_").
func NewOpenWhisk(t *Target, namespace string) *OpenWhisk { return &OpenWhisk{t: t, ns: namespace} }

// Totals implements metricsrc.TotalsReader.
func (o *OpenWhisk) Totals(ctx context.Context) (metricsrc.Totals, error) {
	fams, err := o.t.Scrape(ctx)
	if err != nil {
		return metricsrc.Totals{}, err
	}
	return OpenWhiskTotals(fams, o.ns), nil
}

// OpenWhiskTotals extracts the per-action counters of a user-events page.
// Actions in packages (an action label with a slash) are not functions and
// are left out; so are other namespaces than namespace, unless it is empty
// or "_". The series of one action are summed over their other labels
// (initiator, kind, memory).
func OpenWhiskTotals(fams map[string]*dto.MetricFamily, namespace string) metricsrc.Totals {
	fns := map[string]*metricsrc.FunctionTotals{}
	get := func(m *dto.Metric) (*metricsrc.FunctionTotals, string) {
		var ns, action, status string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "namespace":
				ns = l.GetValue()
			case "action":
				action = l.GetValue()
			case "status":
				status = l.GetValue()
			}
		}
		if action == "" || strings.Contains(action, "/") || (namespace != "" && namespace != "_" && ns != namespace) {
			return nil, ""
		}
		f := fns[action]
		if f == nil {
			f = &metricsrc.FunctionTotals{Name: action}
			fns[action] = f
		}
		return f, status
	}
	counter := func(mf *dto.MetricFamily, m *dto.Metric) float64 {
		if mf.GetType() == dto.MetricType_UNTYPED {
			return m.GetUntyped().GetValue()
		}
		return m.GetCounter().GetValue()
	}
	isCounter := func(mf *dto.MetricFamily) bool {
		return mf != nil && (mf.GetType() == dto.MetricType_COUNTER || mf.GetType() == dto.MetricType_UNTYPED)
	}
	if mf := fams["openwhisk_action_activations_total"]; isCounter(mf) {
		for _, m := range mf.GetMetric() {
			if f, _ := get(m); f != nil {
				f.Local = satAdd(f.Local, count(counter(mf, m)))
			}
		}
	}
	if mf := fams["openwhisk_action_status"]; isCounter(mf) {
		for _, m := range mf.GetMetric() {
			if f, status := get(m); f != nil && status != "success" {
				f.Failed = satAdd(f.Failed, count(counter(mf, m)))
			}
		}
	}
	if mf := fams["openwhisk_action_duration_seconds"]; mf != nil && mf.GetType() == dto.MetricType_HISTOGRAM {
		for _, m := range mf.GetMetric() {
			f, _ := get(m)
			if f == nil {
				continue
			}
			h := m.GetHistogram()
			if s := h.GetSampleSum(); s > 0 && !math.IsInf(s, 0) {
				f.LatencySeconds = min(f.LatencySeconds+s, math.MaxFloat64)
			}
			f.LatencyCount = satAdd(f.LatencyCount, h.GetSampleCount())
		}
	}
	t := metricsrc.Totals{}
	for _, f := range fns {
		t.Functions = append(t.Functions, *f)
	}
	slices.SortFunc(t.Functions, func(a, b metricsrc.FunctionTotals) int { return strings.Compare(a.Name, b.Name) })
	return t
}

// satAdd adds two counts, saturating instead of wrapping around.
func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}

// Interface guard.
var _ metricsrc.TotalsReader = (*OpenWhisk)(nil)
