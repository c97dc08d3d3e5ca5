package promsrc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
)

// Series names the FaaS platform whose per-function series the query reads
// from the gateway's target.
type Series string

// The platforms whose series the Source reads.
const (
	// SeriesOpenFaaS (the default): the OpenFaaS gateway's
	// gateway_function_invocation_total and gateway_functions_seconds.
	SeriesOpenFaaS Series = "openfaas"
	// SeriesOpenWhisk: the per-action series of OpenWhisk's user-events
	// service: openwhisk_action_activations_total (Local),
	// openwhisk_action_status (success and errors) and
	// openwhisk_action_duration_seconds (latency of all activations).
	SeriesOpenWhisk Series = "openwhisk"
)

// The dfaas_q tags of the OpenWhisk parts (the latency parts reuse the
// gateway's tags).
const (
	qOwActivations = "ow_activations"
	qOwStatus      = "ow_status"
)

// DefaultOpenWhiskSelectors select the user-events service's target when
// the Series is SeriesOpenWhisk and Config.Gateway is nil.
func DefaultOpenWhiskSelectors() Selectors { return Selectors{"job": "openwhisk-user-events"} }

// validSeries checks s.
func validSeries(s Series) error {
	switch s {
	case "", SeriesOpenFaaS, SeriesOpenWhisk:
		return nil
	}
	return fmt.Errorf("series %q: want %s or %s", s, SeriesOpenFaaS, SeriesOpenWhisk)
}

// gatewayParts returns the parts of the query that read the FaaS
// platform's per-function series; rate is Parts's rate helper.
func gatewayParts(c QueryConfig, rate func(by, metric, sel string) string) []Part {
	if c.Series != SeriesOpenWhisk {
		g := c.Gateway.matchers()
		success := c.Gateway.matchers(`code=~"2.."`)
		return []Part{
			{qGwInvoked, rate("function_name, code", "gateway_function_invocation_total", g)},
			{qGwSecs, rate("function_name", "gateway_functions_seconds_sum", success)},
			{qGwCount, rate("function_name", "gateway_functions_seconds_count", success)},
		}
	}
	var extra []string
	if ns := c.Namespace; ns != "" && ns != "_" {
		extra = append(extra, "namespace="+strconv.Quote(ns))
	}
	// Actions in packages ("pkg/action") are not functions.
	g := c.Gateway.matchers(append(extra, `action!~".*/.*"`)...)
	return []Part{
		{qOwActivations, rate("action", "openwhisk_action_activations_total", g)},
		{qOwStatus, rate("action, status", "openwhisk_action_status", g)},
		{qGwSecs, rate("action", "openwhisk_action_duration_seconds_sum", g)},
		{qGwCount, rate("action", "openwhisk_action_duration_seconds_count", g)},
	}
}

// actionName is the function an OpenWhisk series is about: its action
// label, unless the action is in a package.
func actionName(m model.Metric) string {
	a := string(m["action"])
	if strings.Contains(a, "/") {
		return ""
	}
	return a
}
