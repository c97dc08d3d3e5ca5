package bench

import (
	"slices"
	"strings"
	"testing"
)

// TestSetupNotes: the report names the FaaS API and the strategy's
// parameters when they are not the defaults, so that a run can be
// repeated from its report.
func TestSetupNotes(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string // substrings, one per note
	}{
		{"defaults", Options{FaaS: "openfaas"}, nil},
		{"openwhisk", Options{FaaS: "openwhisk"}, []string{"--faas openwhisk"}},
		{"params", Options{Params: `{"utilization": 0.8}`}, []string{`strategy parameters (--params, the agents' --strategy-params and the simulator's): {"utilization": 0.8}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := setupNotes(tt.o)
			if len(got) != len(tt.want) || !slices.EqualFunc(got, tt.want, strings.Contains) {
				t.Errorf("notes %q, want ones containing %q", got, tt.want)
			}
		})
	}
}
