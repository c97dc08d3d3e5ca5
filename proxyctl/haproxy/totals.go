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
	other metricsrc.FunctionTotals   // requests for names not routed
	// capped counts the user requests a neighbour's forwarding cap turned
	// away (served locally or rejected instead).
	capped uint64
}

type fnTotals struct {
	t metricsrc.FunctionTotals // Neighbours unused
	// denied counts the requests gw.<f> refused (its queue cap): they
	// passed through the backend (t.Local counts them) but were not served.
	denied uint64
	// inDenied counts, by neighbour, its requests admitted (t.FromNeighbours
	// and its Received count them) and then refused by the queue cap.
	inDenied map[strategy.NodeID]uint64
	nbs      map[strategy.NodeID]*metricsrc.NeighbourTotals
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
		f = &fnTotals{t: metricsrc.FunctionTotals{Name: name}, inDenied: map[strategy.NodeID]uint64{}, nbs: map[strategy.NodeID]*metricsrc.NeighbourTotals{}}
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

// tables are the stick tables the accumulator reads.
var tables = []string{"st_fn", "st_out", "st_in", "st_other"}

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
	entries := map[string][]tableEntry{}
	for _, name := range tables {
		out, err := rt.ExecuteRaw("show table " + name)
		if err != nil {
			return fmt.Errorf("haproxy: runtime API: show table %s: %w", name, err)
		}
		if msg := answerError(out); msg != "" {
			return fmt.Errorf("haproxy: runtime API: show table %s: %s", name, msg)
		}
		entries[name] = parseTable(out)
	}
	a.add(stats.Stats, entries, owners)
	return nil
}

// tableEntry is one entry of "show table": its key and counters.
type tableEntry struct {
	key    string
	fields map[string]uint64
}

// parseTable parses the answer to "show table <name>":
//
//	# table: st_fn, type: string, size:10240, used:1
//	0x55d0c1b6b9f0: key=figlet use=0 exp=86399203 http_fail_cnt=0 gpc0=2 gpc1=2 gpc2=0 gpc0_rate(1000)=2
//
// Lines it cannot read are skipped.
func parseTable(out string) []tableEntry {
	var es []tableEntry
	for line := range strings.SplitSeq(out, "\n") {
		_, rest, ok := strings.Cut(line, ": key=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		e := tableEntry{key: f[0], fields: map[string]uint64{}}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				e.fields[k] = n
			}
		}
		es = append(es, e)
	}
	return es
}

// add accumulates one reading (pure; see read): the gateway backends'
// and servers' statistics, then the stick tables.
func (a *accumulator) add(rows []*models.NativeStat, tables map[string][]tableEntry, owners []strategy.NodeID) {
	rtime := a.addStats(rows)
	a.addTables(tables, owners, rtime)
}

// addStats accumulates the statistics rows of the gateway backends and
// servers, and returns each neighbour slot's mean response time (ms).
func (a *accumulator) addStats(rows []*models.NativeStat) map[int]uint64 {
	rtime := map[int]uint64{} // per slot, the neighbour's mean response time (ms)
	for _, r := range rows {
		if r != nil && r.Stats != nil && r.Type == models.NativeStatTypeServer && r.Name == "nb" {
			if kind, slot, ok := strings.Cut(r.BackendName, "."); ok && kind == "out" {
				if i, ok := slotIndex(slot); ok {
					rtime[i] = u64(r.Stats.Rtime)
				}
			}
		}
	}
	for _, r := range rows {
		if r == nil || r.Stats == nil {
			continue
		}
		st := r.Stats
		kind, fn, ok := strings.Cut(r.BackendName, ".")
		if r.Type == models.NativeStatTypeBackend {
			kind, fn, ok = strings.Cut(r.Name, ".")
		}
		if !ok || kind != "gw" || strategy.ValidName(fn) != nil {
			continue
		}
		switch {
		case r.Type == models.NativeStatTypeBackend:
			f := a.fn(fn)
			f.t.Local += a.delta("b/"+r.Name+"/stot", u64(st.Stot))
			f.denied += a.delta("b/"+r.Name+"/dreq", u64(st.Dreq))
		case r.Type == models.NativeStatTypeServer && r.Name == "gw":
			n := a.delta("s/"+r.BackendName+"/gw/stot", u64(st.Stot))
			f := a.fn(fn)
			f.t.LatencyCount += n
			f.t.LatencySeconds += float64(n) * float64(u64(st.Ttime)) / 1000
		}
	}
	return rtime
}

// addTables accumulates the stick tables: other names, user requests by
// function, forwarded requests by function and slot (owners[i] is slot
// i's neighbour, rtime its response time), received ones by node key.
func (a *accumulator) addTables(tables map[string][]tableEntry, owners []strategy.NodeID, rtime map[int]uint64) {
	for _, e := range tables["st_other"] {
		if e.key == "other" {
			n := a.delta("other", e.fields["http_req_cnt"])
			a.other.Offered += n
			a.other.Rejected += n // answered 404 no-route
		}
	}
	for _, e := range tables["st_fn"] {
		if strategy.ValidName(e.key) != nil {
			continue
		}
		key := "fn/" + e.key + "/"
		f := a.fn(e.key)
		f.t.Offered += a.delta(key+"offered", e.fields["http_req_cnt"])
		f.t.Rejected += a.delta(key+"rejected", e.fields["gpc1"])
		f.t.Failed += a.delta(key+"failed", e.fields["http_fail_cnt"])
		a.capped += a.delta(key+"capped", e.fields["gpc2"])
	}
	for _, e := range tables["st_out"] {
		fn, slot, ok := strings.Cut(e.key, "/")
		i, sok := slotIndex(slot)
		if !ok || !sok || strategy.ValidName(fn) != nil {
			continue
		}
		n := a.delta("out/"+e.key, e.fields["http_req_cnt"])
		good := a.delta("out/"+e.key+"/ok", e.fields["gpc0"])
		retried := a.delta("out/"+e.key+"/retried", e.fields["gpc1"])
		f := a.fn(fn)
		f.t.Forwarded += n
		if i < len(owners) && owners[i] != "" && n+good > 0 {
			// The neighbour's answers: those it gave successfully, and the
			// others (requests sent minus those and minus those it did not
			// take, sent elsewhere; answers still in flight included).
			nb := f.nb(owners[i])
			nb.Forwarded += n
			nb.Succeeded += good
			nb.Failed += n - min(n, good+retried)
			nb.LatencyCount += good
			nb.LatencySeconds += float64(good) * float64(rtime[i]) / 1000
		}
	}
	for _, e := range tables["st_in"] {
		nk, fn, ok := strings.Cut(e.key, "/")
		if !ok || strategy.ValidName(fn) != nil {
			continue
		}
		key := "in/" + e.key + "/"
		accepted := a.delta(key+"gpc0", e.fields["gpc0"])
		denied := a.delta(key+"gpc1", e.fields["gpc1"])
		all := a.delta(key+"cnt", e.fields["http_req_cnt"])
		f := a.fn(fn)
		f.t.FromNeighbours += accepted
		f.t.Rejected += denied
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
		if denied > 0 {
			f.inDenied[id] += denied
		}
	}
}

// totals returns the accumulated totals, sorted.
func (a *accumulator) totals() metricsrc.Totals {
	t := metricsrc.Totals{Functions: make([]metricsrc.FunctionTotals, 0, len(a.fns)), Answers: true, Other: a.other}
	for _, f := range a.fns {
		ft := f.t
		ft.Local -= min(ft.Local, f.denied)
		ft.Neighbours = make([]metricsrc.NeighbourTotals, 0, len(f.nbs))
		for _, n := range f.nbs {
			nt := *n
			d := min(nt.Received, f.inDenied[strategy.NodeID(nt.ID)])
			nt.Received -= d
			ft.FromNeighbours -= min(ft.FromNeighbours, d)
			ft.Neighbours = append(ft.Neighbours, nt)
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
