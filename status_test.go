package dfaas

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/golden"
	"github.com/dfaas-go/dfaas/strategy"
)

// testStatus is a status with every field set.
func testStatus() Status {
	age := 1200 * time.Millisecond
	return Status{
		ID: "node-a", Strategy: "flow", ProxyURL: "http://10.0.0.1:30080", Period: 5 * time.Second,
		Health: map[string]string{"faas": "ok", "metrics": "ok", "proxy": "apply: connection refused"},
		Peers: []PeerStatus{
			{ID: "node-b", Addr: "10.0.0.2:31600", RTT: 420 * time.Microsecond, Up: true, Proxy: "http://10.0.0.2:30080", Age: &age, Neighbour: true},
			{ID: "node-c", Addr: "10.0.0.3:31600"},
		},
		Functions: []strategy.Function{{
			Name: "figlet", Deployed: true, Capacity: 100, Concurrency: 10, Replicas: 1,
			Offered: 170, Forecast: 168.5, Local: 99, FromNeighbours: 0, Forwarded: 70, Rejected: 1, Failed: 0.5,
			Latency: 65200 * time.Microsecond, CPU: 0.8, Memory: 64 << 20,
		}},
		Decision: strategy.Decision{Routes: []strategy.Route{{
			Function: "figlet", Local: 0.6, Reject: 0.1, Forward: []strategy.Share{{Node: "node-b", Share: 0.3}}, LocalLimit: 100,
		}}},
		Cycles: 42, Errors: map[string]uint64{"proxy": 1}, Received: 80, Sent: 84, Dropped: map[string]uint64{"stale": 2},
		Unknown:  UnknownStatus{Names: 3, OfferedRPS: 3.2, RejectedRPS: 3.2},
		Announce: AnnounceStatus{Trimmed: 1, LeftOut: 12},
		Trust: TrustStatus{GrantsBounded: 2, SharesCapped: 1, ByNeighbour: map[strategy.NodeID]uint64{"node-b": 3},
			Allowances: []AllowanceStatus{{ID: "node-b", AllowanceRPS: 56.7, DecidedRPS: 60, Capped: true}}},
	}
}

// TestStatusJSON pins the JSON form of /status (testdata/status.golden.json;
// go test -update rewrites it) and checks that it decodes back.
func TestStatusJSON(t *testing.T) {
	got, err := json.MarshalIndent(testStatus(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden.Check(t, filepath.Join("testdata", "status.golden.json"), got)
	var back Status
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, testStatus()) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, testStatus())
	}
	// Names are snake_case with units: no Go field name, no nanoseconds.
	for _, bad := range []string{`"Name"`, `"Deployed"`, `"Latency"`, `_ns"`} {
		if bytes.Contains(got, []byte(bad)) {
			t.Errorf("JSON has %s", bad)
		}
	}
}
