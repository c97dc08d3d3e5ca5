package sim

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const minimal = `{"name": "s", "duration": "10s", "nodes": [{"id": "a", "functions": [{"name": "f", "capacity": 10}]}], "load": [{"node": "a", "function": "f", "rates": [5]}]}`

func TestParseScenarioErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", ``, "empty input"},
		{"syntax", `{"name": }`, "syntax error at line 1, column 10"},
		{"syntax line", "{\n  \"name\": \"s\",\n  x\n}", "syntax error at line 3, column 3"},
		{"truncated", `{"name": "s"`, "unexpected end"},
		{"not an object", `[]`, "want a JSON object, got an array"},
		{"trailing", minimal + ` {}`, "trailing data"},
		{"unknown field", strings.Replace(minimal, `"name": "s"`, `"name": "s", "nmae": 1`, 1), `invalid scenario: unknown field "nmae"`},
		{"unknown field in an element", strings.Replace(minimal, `"rates": [5]`, `"rates": [5], "rate": 5`, 1), `load[0]: unknown field "rate"`},
		{"unknown field deep", strings.Replace(minimal, `"capacity": 10`, `"capacity": 10, "cpu": 1`, 1), `nodes[0].functions[0]: unknown field "cpu"`},
		{"type", strings.Replace(minimal, `"capacity": 10`, `"capacity": "10"`, 1), "nodes[0].functions[0].capacity: cannot use JSON string as float64"},
		{"type in a later element", strings.Replace(minimal, `"nodes": [`, `"nodes": [{"id": "b", "functions": [{"name": "g", "capacity": 1}, {"name": "h", "capacity": true}]}, `, 1), "nodes[0].functions[1].capacity: cannot use JSON bool as float64"},
		{"rate type", strings.Replace(minimal, `"rates": [5]`, `"rates": [5, "6"], "step": "1s"`, 1), "load[0].rates[1]: cannot use JSON string as float64"},
		{"step type", strings.Replace(minimal, `"rates": [5]`, `"rates": [5, 6], "step": 1`, 1), `load[0].step: duration must be a string`},
		{"array expected", strings.Replace(minimal, `"load": [`, `"links": {}, "load": [`, 1), "links: want a JSON array, got an object"},
		{"object expected", strings.Replace(minimal, `"nodes": [`, `"nodes": [7, `, 1), "nodes[0]: want a JSON object, got a number"},
		{"seed", strings.Replace(minimal, `"name": "s"`, `"name": "s", "seed": -1`, 1), "seed: cannot use JSON number -1 as uint64"},
		{"name", strings.Replace(minimal, `"name": "s"`, `"name": ""`, 1), "name: required"},
		{"duration string", strings.Replace(minimal, `"10s"`, `10`, 1), "duration must be a string"},
		{"duration", strings.Replace(minimal, `"10s"`, `"-1s"`, 1), "duration"},
		{"period", strings.Replace(minimal, `"duration": "10s"`, `"duration": "10s", "period": "1ms"`, 1), "period"},
		{"no nodes", `{"name": "s", "duration": "1s", "nodes": [], "load": []}`, "nodes: at least one node"},
		{"node id", strings.Replace(minimal, `"id": "a"`, `"id": "a b"`, 1), "nodes[0].id"},
		{"duplicate node", strings.Replace(minimal, `"nodes": [`, `"nodes": [{"id": "a", "functions": []}, `, 1), `nodes[1].id: "a" already used by nodes[0]`},
		{"function name", strings.Replace(minimal, `"name": "f", "capacity"`, `"name": "-f", "capacity"`, 1), "nodes[0].functions[0].name"},
		{"capacity", strings.Replace(minimal, `"capacity": 10`, `"capacity": 0`, 1), "nodes[0].functions[0].capacity"},
		{"concurrency", strings.Replace(minimal, `"capacity": 10`, `"capacity": 10, "concurrency": -1`, 1), "nodes[0].functions[0].concurrency"},
		{"timeout", strings.Replace(minimal, `"capacity": 10`, `"capacity": 10, "timeout": "2h"`, 1), "nodes[0].functions[0].timeout"},
		{"duplicate function", strings.Replace(minimal, `[{"name": "f", "capacity": 10}]`, `[{"name": "f", "capacity": 10}, {"name": "f", "capacity": 1}]`, 1), "nodes[0].functions[1].name"},
		{"link node", strings.Replace(minimal, `"load"`, `"links": [{"a": "a", "b": "z", "rtt": "1ms"}], "load"`, 1), `links[0].b: unknown node "z"`},
		{"self link", strings.Replace(minimal, `"load"`, `"links": [{"a": "a", "b": "a", "rtt": "1ms"}], "load"`, 1), "links[0].b"},
		{"link rtt", strings.Replace(minimal, `"load"`, `"links": [{"a": "a", "b": "a", "rtt": "-1ms"}], "load"`, 1), "links[0]"},
		{"load node", strings.Replace(minimal, `"node": "a"`, `"node": "b"`, 1), `load[0].node: unknown node "b"`},
		{"load function", strings.Replace(minimal, `"function": "f"`, `"function": ""`, 1), "load[0].function"},
		{"no rates", strings.Replace(minimal, `"rates": [5]`, `"rates": []`, 1), "load[0].rates"},
		{"negative rate", strings.Replace(minimal, `"rates": [5]`, `"rates": [5, -1], "step": "1s"`, 1), "load[0].rates[1]"},
		{"step needed", strings.Replace(minimal, `"rates": [5]`, `"rates": [5, 6]`, 1), "load[0].step: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidScenario) {
				t.Fatalf("%v does not wrap ErrInvalidScenario", err)
			}
		})
	}
}

func TestParseScenarioDefaults(t *testing.T) {
	s, err := ParseScenario([]byte(strings.Replace(minimal, `"nodes": [`, `"nodes": [{"id": "b", "functions": []}, `, 1)))
	if err != nil {
		t.Fatal(err)
	}
	f := s.Nodes[1].Functions[0]
	if s.Period.D() != DefaultPeriod || f.Concurrency != DefaultConcurrency || f.Timeout.D() != DefaultTimeout {
		t.Fatalf("defaults not filled: %+v %+v", s, f)
	}
	if len(s.Links) != 1 || s.Links[0].RTT.D() != DefaultRTT {
		t.Fatalf("links %+v, want one link of %v", s.Links, DefaultRTT)
	}
}

func TestSharedScenariosRoundTrip(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*.json")
	if len(paths) < 4 {
		t.Fatalf("testdata has %d scenarios", len(paths))
	}
	for _, p := range paths {
		s, err := LoadScenario(p)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := s.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		s2, err := ParseScenario(buf.Bytes())
		if err != nil {
			t.Fatalf("%s re-encoded: %v", p, err)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("%s: round trip changed the scenario", p)
		}
	}
}

func TestOfferedRequests(t *testing.T) {
	s, err := LoadScenario("testdata/testbed-3-three-loaded.json")
	if err != nil {
		t.Fatal(err)
	}
	// light 350 for 900 s, mid 100 for 600 s and 500 for 300 s, heavy
	// 100 for 600 s.
	want := 350*900.0 + 100*600 + 500*300 + 100*600
	if got := s.OfferedRequests(); got != want {
		t.Fatalf("OfferedRequests = %v, want %v", got, want)
	}
	l := s.Load[2]
	if l.RateAt(0) != 0 || l.RateAt(599*time.Second) != 0 || l.RateAt(600*time.Second) != 500 || l.RateAt(time.Hour) != 500 {
		t.Fatal("RateAt")
	}
}

// FuzzParseScenario checks that the parser never panics, that what it
// accepts validates, and that it survives an encoding round trip.
func FuzzParseScenario(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.json")
	for _, p := range paths {
		s, err := LoadScenario(p)
		if err != nil {
			f.Fatal(err)
		}
		var buf bytes.Buffer
		s.Encode(&buf)
		f.Add(buf.Bytes())
	}
	f.Add([]byte(minimal))
	f.Add([]byte(`{"name":"x","duration":"1s","nodes":[{"id":"a","functions":[]}],"load":[{"node":"a","function":"f","rates":[1e7,0],"step":"1ms"}]}`))
	f.Add([]byte(`{"name":"x","duration":"1s","nodes":[{"id":"a","functions":[{"name":"f","capacity":"1"}]}],"load":[]}`))
	f.Add([]byte(`{"nodes":[{"functions":[{"x":1}]}]}`))
	f.Add([]byte(`{"load":[{"step":5}],"NAME":"y"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseScenario(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidScenario) {
				t.Fatalf("error %v does not wrap ErrInvalidScenario", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted an invalid scenario: %v", err)
		}
		var buf bytes.Buffer
		if err := s.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		s2, err := ParseScenario(buf.Bytes())
		if err != nil {
			t.Fatalf("re-encoded scenario rejected: %v\n%s", err, buf.Bytes())
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatal("round trip changed the scenario")
		}
	})
}
