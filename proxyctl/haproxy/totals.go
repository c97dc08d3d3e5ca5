package haproxy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/haproxytech/client-native/v6/models"

	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/strategy"
)

// accumulator turns HAProxy's counters, which restart from zero with every
// new worker process (reload or restart) and belong to neighbour slots
// rather than neighbours, into cumulative per-function and per-neighbour
// totals. Each read adds the increase of every counter since the previous
// read.
type accumulator struct {
	pid   int
	raw   map[string]uint64 // last raw value of each counter
	fns   map[string]*fnTotals
	known map[string]strategy.NodeID // node key → ID
}

type fnTotals struct {
	t   metricsrc.FunctionTotals // Neighbours unused
	nbs map[strategy.NodeID]*metricsrc.NeighbourTotals
}

func (a *accumulator) init() {
	a.raw = map[string]uint64{}
	a.fns = map[string]*fnTotals{}
	a.known = map[string]strategy.NodeID{}
}

// maxKnown bounds how many node IDs the accumulator remembers.
const maxKnown = 4096

// learn remembers the node keys of ids, so that stick-table entries keyed
// by them are attributed to the right neighbour.
func (a *accumulator) learn(ids []strategy.NodeID) {
	if len(a.known)+len(ids) > maxKnown {
		clear(a.known)
	}
	for _, id := range ids {
		a.known[nodeKey(id)] = id
	}
}

// delta records the raw value cur of counter key and returns its increase
// since the previous reading (all of cur if it went down: a new process).
func (a *accumulator) delta(key string, cur uint64) uint64 {
	old, ok := a.raw[key]
	a.raw[key] = cur
	if !ok || cur < old {
		return cur
	}
	return cur - old
}

func (a *accumulator) fn(name string) *fnTotals {
	f := a.fns[name]
	if f == nil {
		f = &fnTotals{t: metricsrc.FunctionTotals{Name: name}, nbs: map[strategy.NodeID]*metricsrc.NeighbourTotals{}}
		a.fns[name] = f
	}
	return f
}

func (f *fnTotals) nb(id strategy.NodeID) *metricsrc.NeighbourTotals {
	n := f.nbs[id]
	if n == nil {
		n = &metricsrc.NeighbourTotals{ID: string(id)}
		f.nbs[id] = n
	}
	return n
}

// read adds the counters HAProxy shows now. owners[i] is the neighbour in
// slot i.
func (a *accumulator) read(rt runtimeAPI, owners []strategy.NodeID) error {
	pid, err := workerPID(rt)
	if err != nil {
		return err
	}
	if pid != a.pid {
		clear(a.raw) // a new worker counts from zero
		a.pid = pid
	}
	stats := rt.GetStats()
	if stats.Error != "" {
		return fmt.Errorf("haproxy: runtime API: show stat: %s", stats.Error)
	}
	entries, err := rt.GetTableEntries("st_in", nil, "")
	if err != nil {
		return fmt.Errorf("haproxy: runtime API: show table st_in: %w", err)
	}
	a.add(stats.Stats, entries, owners)
	return nil
}

// add accumulates one reading (pure; see read).
func (a *accumulator) add(rows []*models.NativeStat, entries models.StickTableEntries, owners []strategy.NodeID) {
	for _, r := range rows {
		if r == nil || r.Stats == nil {
			continue
		}
		st := r.Stats
		switch r.Type {
		case models.NativeStatTypeBackend:
			kind, fn, ok := strings.Cut(r.Name, ".")
			if !ok || strategy.ValidName(fn) != nil {
				continue
			}
			key := "b/" + r.Name + "/"
			switch kind {
			case "fn":
				f := a.fn(fn)
				f.t.Offered += a.delta(key+"stot", u64(st.Stot))
				f.t.Failed += a.delta(key+"5xx", u64(st.Hrsp5xx))
			case "gw":
				a.fn(fn).t.Local += a.delta(key+"stot", u64(st.Stot))
			}
		case models.NativeStatTypeServer:
			kind, fn, ok := strings.Cut(r.BackendName, ".")
			if !ok || strategy.ValidName(fn) != nil || kind != "fn" && kind != "over" && kind != "gw" {
				continue
			}
			key := "s/" + r.BackendName + "/" + r.Name + "/"
			n := a.delta(key+"stot", u64(st.Stot))
			f := a.fn(fn)
			switch {
			case kind == "gw" && r.Name == "gw":
				f.t.LatencyCount += n
				f.t.LatencySeconds += float64(n) * float64(u64(st.Ttime)) / 1000
			case r.Name == "reject" || r.Name == "noroute":
				f.t.Rejected += n
			case len(r.Name) > 1 && r.Name[0] == 'n':
				i, err := strconv.Atoi(r.Name[1:])
				if err != nil || i < 1 {
					continue
				}
				f.t.Forwarded += n
				if i <= len(owners) && owners[i-1] != "" && n > 0 {
					f.nb(owners[i-1]).Forwarded += n
				}
			}
		}
	}
	for _, e := range entries {
		if e == nil {
			continue
		}
		fn, nk, ok := strings.Cut(e.Key, "/")
		if !ok || strategy.ValidName(fn) != nil {
			continue
		}
		key := "t/" + e.Key + "/"
		accepted := a.delta(key+"gpc0", u64(e.Gpc0))
		all := a.delta(key+"cnt", u64(e.HTTPReqCnt))
		f := a.fn(fn)
		f.t.FromNeighbours += accepted
		if all > accepted {
			f.t.Rejected += all - accepted
		}
		id, ok := a.known[nk]
		if !ok {
			id = strategy.NodeID("key:" + nk)
		}
		if accepted > 0 {
			f.nb(id).Received += accepted
		}
	}
}

// totals returns the accumulated totals, sorted.
func (a *accumulator) totals() metricsrc.Totals {
	t := metricsrc.Totals{Functions: make([]metricsrc.FunctionTotals, 0, len(a.fns))}
	for _, f := range a.fns {
		ft := f.t
		ft.Neighbours = make([]metricsrc.NeighbourTotals, 0, len(f.nbs))
		for _, n := range f.nbs {
			ft.Neighbours = append(ft.Neighbours, *n)
		}
		slices.SortFunc(ft.Neighbours, func(x, y metricsrc.NeighbourTotals) int { return strings.Compare(x.ID, y.ID) })
		t.Functions = append(t.Functions, ft)
	}
	slices.SortFunc(t.Functions, func(x, y metricsrc.FunctionTotals) int { return strings.Compare(x.Name, y.Name) })
	return t
}

// u64 reads an optional non-negative counter.
func u64(p *int64) uint64 {
	if p == nil || *p < 0 {
		return 0
	}
	return uint64(*p)
}

// errNoPID is returned when show info lacks the worker's PID.
var errNoPID = errors.New("haproxy: runtime API: show info has no Pid")
