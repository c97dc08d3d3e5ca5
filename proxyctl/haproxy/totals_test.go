package haproxy

import (
	"context"
	"math"
	"testing"

	"github.com/haproxytech/client-native/v6/models"

	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/strategy"
)

func i64(v int64) *int64 { return &v }

func backendRow(name string, stot, x5, dreq int64) *models.NativeStat {
	return &models.NativeStat{Name: name, Type: models.NativeStatTypeBackend, Stats: &models.NativeStatStats{Stot: i64(stot), Hrsp5xx: i64(x5), Dreq: i64(dreq)}}
}

func serverRow(be, name string, stot, ttime int64) *models.NativeStat {
	return &models.NativeStat{BackendName: be, Name: name, Type: models.NativeStatTypeServer, Stats: &models.NativeStatStats{Stot: i64(stot), Ttime: i64(ttime)}}
}

// reading is what HAProxy shows at one moment.
type reading struct {
	offered, failed, rejected, local, gwStot, ttime, n1 int64
	n1ok, n1retried, rtime                              int64 // answered successfully by slot 1's neighbour, sent elsewhere; its mean response time
	fromB, fromBAccepted, fromBDenied                   int64 // received from b, admitted, then refused by the queue cap
	capped                                              int64 // turned away by a forwarding cap
	denied                                              int64 // refused by gw.f's queue cap (in local too)
}

func (r reading) rows() ([]*models.NativeStat, map[string][]tableEntry) {
	rows := []*models.NativeStat{
		backendRow("gw.f", r.local, 0, r.denied),
		backendRow("gateway", 999, 999, 999), // not a function's
		serverRow("gw.f", "gw", r.gwStot, r.ttime),
		serverRow("gw.f", "retry", 3, 0),
		{BackendName: "out.n1", Name: "nb", Type: models.NativeStatTypeServer, Stats: &models.NativeStatStats{Stot: i64(12345), Rtime: i64(r.rtime)}}, // counted in st_out
		{Name: "public", Type: models.NativeStatTypeFrontend, Stats: &models.NativeStatStats{Stot: i64(5)}},
		nil,
		{Name: "gw.broken", Type: models.NativeStatTypeBackend},
	}
	u := func(v int64) uint64 { return uint64(v) }
	tables := map[string][]tableEntry{
		"st_fn": {
			{key: "f", fields: map[string]uint64{"gpc0": 99, "http_req_cnt": u(r.offered), "gpc1": u(r.rejected), "gpc2": u(r.capped), "http_fail_cnt": u(r.failed)}},
			{key: "bad!name", fields: map[string]uint64{"http_req_cnt": 10}},
		},
		"st_out": {
			{key: "f/n1", fields: map[string]uint64{"http_req_cnt": u(r.n1), "gpc0": u(r.n1ok), "gpc1": u(r.n1retried)}},
			{key: "f/x1", fields: map[string]uint64{"http_req_cnt": 7}},
		},
		"st_in": {
			{key: nodeKey("b") + "/f", fields: map[string]uint64{"http_req_cnt": u(r.fromB), "gpc0": u(r.fromBAccepted), "gpc1": u(r.fromBDenied)}},
			{key: "bad key", fields: map[string]uint64{"http_req_cnt": 10, "gpc0": 10}},
		},
	}
	return rows, tables
}

func TestAccumulator(t *testing.T) {
	var a accumulator
	a.init()
	a.learn([]strategy.NodeID{"b"})
	owners := []strategy.NodeID{"b"}
	rows, entries := reading{offered: 10, failed: 1, rejected: 3, local: 6, gwStot: 6, ttime: 20, n1: 3, n1ok: 2, rtime: 50, fromB: 3, fromBAccepted: 2, capped: 2}.rows()
	a.add(rows, entries, owners)
	want := metricsrc.FunctionTotals{Name: "f", Offered: 10, Failed: 1, Local: 6, LatencyCount: 6, LatencySeconds: 0.12, Rejected: 3 + 1, Forwarded: 3, FromNeighbours: 2,
		Neighbours: []metricsrc.NeighbourTotals{{ID: "b", Forwarded: 3, Received: 2, Succeeded: 2, Failed: 1, LatencyCount: 2, LatencySeconds: 0.1}}}
	wantCapped := uint64(2)
	check := func(step string) {
		t.Helper()
		if a.capped != wantCapped {
			t.Errorf("%s: capped %d, want %d", step, a.capped, wantCapped)
		}
		tot := a.totals()
		if len(tot.Functions) != 1 {
			t.Fatalf("%s: functions %+v", step, tot.Functions)
		}
		got := tot.Functions[0]
		if math.Abs(got.LatencySeconds-want.LatencySeconds) > 1e-9 {
			t.Errorf("%s: latency %v, want %v", step, got.LatencySeconds, want.LatencySeconds)
		}
		got.LatencySeconds = want.LatencySeconds
		if got.Name != want.Name || got.Offered != want.Offered || got.Failed != want.Failed || got.Local != want.Local || got.LatencyCount != want.LatencyCount ||
			got.Rejected != want.Rejected || got.Forwarded != want.Forwarded || got.FromNeighbours != want.FromNeighbours || len(got.Neighbours) != len(want.Neighbours) {
			t.Fatalf("%s:\n got %+v\nwant %+v", step, got, want)
		}
		for i := range want.Neighbours {
			if got.Neighbours[i] != want.Neighbours[i] {
				t.Errorf("%s: neighbour %d: %+v, want %+v", step, i, got.Neighbours[i], want.Neighbours[i])
			}
		}
	}
	check("first reading")

	// Counters grow; slot 1 now belongs to c: its increase is c's.
	owners = []strategy.NodeID{"c"}
	// Two of the requests gw.f took it refused (its queue cap): not local;
	// one of them b's, admitted: rejected, not received.
	rows, entries = reading{offered: 15, failed: 1, rejected: 3, local: 10, denied: 2, gwStot: 8, ttime: 10, n1: 6, n1ok: 4, n1retried: 1, rtime: 20, fromB: 5, fromBAccepted: 4, fromBDenied: 1, capped: 5}.rows()
	a.add(rows, entries, owners)
	want.Offered, want.Local, want.LatencyCount, want.LatencySeconds, want.Forwarded = 15, 8, 8, 0.12+0.02, 6
	want.Rejected, want.FromNeighbours = 5, 3
	wantCapped = 5
	want.Neighbours = []metricsrc.NeighbourTotals{
		{ID: "b", Forwarded: 3, Received: 3, Succeeded: 2, Failed: 1, LatencyCount: 2, LatencySeconds: 0.1},
		{ID: "c", Forwarded: 3, Succeeded: 2, Failed: 0, LatencyCount: 2, LatencySeconds: 0.04},
	}
	check("second reading")

	// A new worker (reload, restart) counts from zero: all of it adds.
	a.pid = 1
	clear(a.raw)
	rows, entries = reading{offered: 4, local: 1, gwStot: 1, fromB: 2, fromBAccepted: 2, capped: 1}.rows()
	a.add(rows, entries, owners)
	want.Offered, want.Local, want.LatencyCount, want.FromNeighbours = 19, 9, 9, 5
	wantCapped = 6
	want.Neighbours[0].Received = 5
	check("after a restart")

	// A counter that went down without a new worker (a stick-table entry
	// that expired and came back) also counts from zero.
	rows, entries = reading{offered: 4, local: 1, gwStot: 1, fromB: 1, fromBAccepted: 1}.rows()
	a.add(rows, entries, owners)
	want.FromNeighbours, want.Neighbours[0].Received = 6, 6
	check("expired entry")
}

func TestTotalsThroughRuntime(t *testing.T) {
	c, rt := newFakeController(t, []string{"f"}, 1)
	rt.stats, rt.tables = reading{offered: 7}.rows()
	tot, err := c.Totals(context.Background())
	if err != nil || len(tot.Functions) != 1 || tot.Functions[0].Offered != 7 {
		t.Fatalf("%+v %v", tot, err)
	}
	rt.down = true
	if _, err := c.Totals(context.Background()); err == nil {
		t.Error("no error with HAProxy down")
	}
	rt.down = false
	rt.pid = 5 // restarted: counts from zero, added
	rt.stats, rt.tables = reading{offered: 2}.rows()
	tot, err = c.Totals(context.Background())
	if err != nil || tot.Functions[0].Offered != 9 {
		t.Fatalf("after a restart: %+v %v", tot, err)
	}
}
