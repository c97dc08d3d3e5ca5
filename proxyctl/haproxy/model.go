package haproxy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// layout is the shape of a configuration: what only a reload can change.
type layout struct {
	// configured is false before the first Apply: every function request
	// then goes to the gateway.
	configured bool
	// self is this node's ID (written into the configuration).
	self strategy.NodeID
	// functions have a backend each; sorted.
	functions []string
	// slots is the number of neighbour slots.
	slots int
}

func (l layout) equal(o layout) bool {
	return l.configured == o.configured && l.self == o.self && l.slots == o.slots && slices.Equal(l.functions, o.functions)
}

// covers reports whether l has a backend for every function in fns.
func (l layout) covers(fns []string) bool {
	for _, f := range fns {
		if _, ok := slices.BinarySearch(l.functions, f); !ok {
			return false
		}
	}
	return true
}

// desired is the full run-time state of a configuration: everything the
// runtime API can change without a reload. Routing lives in maps (see
// routeTable); servers only hold the neighbours' addresses and states.
type desired struct {
	// slots[i] is the neighbour in slot i+1 (servers out.n<i+1>/nb and
	// once.n<i+1>/nb).
	slots []slotState
	// maxconn of each function's gateway server gw.<f>/gw, by function
	// (0: no limit).
	maxconn map[string]int
	// maps are the contents of the map files, by map name.
	maps map[string]string
	// cas are the contents of the CA files of the node-to-node TLS, by
	// name (see buildCAs); empty without a Certificate.
	cas map[string]string
}

// slotState is what occupies a neighbour slot.
type slotState struct {
	node strategy.NodeID // "" when free
	addr netip.AddrPort  // the neighbour's proxy (invalid when free)
}

// Names of the maps (files maps/<name>.map).
const (
	mapIDs      = "ids"      // slot name → URL-encoded node ID
	mapTokens   = "tokens"   // slot name → URL-encoded credential to present
	mapPeers    = "peers"    // node key → SHA-256 of the credential it presents
	mapPrev     = "prev"     // node key → SHA-256 of its previous credential, during its grace
	mapLocal    = "local"    // functions deployed locally → 1
	mapFns      = "fns"      // routable function → local limit (req/s, 0: none)
	mapRoute    = "route"    // bucket/function → target backend (see routeTable)
	mapFallback = "fallback" // function/slot → backend after that slot failed
	mapAdmit    = "admit"    // node key/function → admission limit (req/s)
	mapTimeouts = "timeouts" // function → time-out (ms)
	mapQueue    = "queue"    // function → its queue cap (proxyctl.Function.MaxQueue; none: no cap)
	mapSources  = "sources"  // neighbour address → 1 (no per-source cap)
	mapCaps     = "caps"     // out.n<i> → share (‰)/rate (req/s)/growth (tenths) of its forwarding cap; L/function → 1 (local share)
	// mapFlags holds run-time switches, never written to its file: "drain"
	// makes every response close its connection (before a reload).
	mapFlags = "flags"
)

// mapNames lists every map, in the order they are applied: identities
// and credentials before the routes that use them.
func mapNames() []string {
	return []string{mapIDs, mapTokens, mapPeers, mapPrev, mapLocal, mapSources, mapTimeouts, mapQueue, mapAdmit, mapCaps, mapFns, mapFallback, mapRoute}
}

// maxWeight is the weight of a whole share.
const maxWeight = 256

// slotName returns the server name of slot i (0-based).
func slotName(i int) string { return "n" + strconv.Itoa(i+1) }

// nodeKey is the key of a node in the maps and stick tables: the first 64
// bits of the SHA-256 of its ID, in upper-case hex, as HAProxy computes it
// with sha2(256),bytes(0,8),hex.
func nodeKey(id strategy.NodeID) string {
	sum := sha256.Sum256([]byte(id))
	return strings.ToUpper(hex.EncodeToString(sum[:8]))
}

// tokenHash is how the peers map stores a credential: its SHA-256 in
// upper-case hex, as HAProxy computes it with sha2(256),hex.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// urlEncode encodes s so that HAProxy's url_dec converter gives it back:
// every byte but letters, digits and "-._~" is percent-encoded (so the
// result holds no '+' or '?', which url_dec could treat specially).
func urlEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// Limits of identities and credentials: they travel in HTTP headers.
const (
	maxIDLen    = 256
	maxTokenLen = 1024
)

// checkHeaderValue checks that v can travel as an HTTP header value.
func checkHeaderValue(what string, v string, maxLen int) error {
	if len(v) > maxLen {
		return fmt.Errorf("%s %.20q... is longer than %d bytes", what, v, maxLen)
	}
	if v != strings.TrimSpace(v) {
		return fmt.Errorf("%s %q has leading or trailing white space", what, v)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' || c > '~' {
			return fmt.Errorf("%s %q has byte %#x at %d, not a visible ASCII character or a space", what, v, c, i)
		}
	}
	return nil
}

// checkState checks what HAProxy needs of s beyond s.Validate: identities
// and credentials fit in HTTP headers.
func checkState(s proxyctl.State) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := checkHeaderValue("node ID", string(s.Self), maxIDLen); err != nil {
		return fmt.Errorf("self: %w", err)
	}
	for _, n := range s.Neighbours {
		if err := checkHeaderValue("node ID", string(n.ID), maxIDLen); err != nil {
			return fmt.Errorf("neighbour %q: %w", n.ID, err)
		}
		if err := checkHeaderValue("TokenOut", n.TokenOut, maxTokenLen); err != nil {
			return fmt.Errorf("neighbour %q: %w", n.ID, err)
		}
		if err := checkHeaderValue("TokenIn", n.TokenIn, maxTokenLen); err != nil {
			return fmt.Errorf("neighbour %q: %w", n.ID, err)
		}
	}
	return nil
}

// neededFunctions returns the functions that need a backend for s: those
// deployed here, those a neighbour this node forwards to runs, and those
// with a route; sorted.
func neededFunctions(s proxyctl.State) []string {
	set := map[string]bool{}
	for _, f := range s.Functions {
		set[f.Name] = true
	}
	for _, n := range s.Neighbours {
		if n.Forward {
			for _, f := range n.Functions {
				if strategy.ValidName(f) == nil {
					set[f] = true
				}
			}
		}
	}
	for _, r := range s.Decision.Routes {
		set[r.Function] = true
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// slotUsers returns the neighbours that need a slot: those this node may
// forward to.
func slotUsers(s proxyctl.State) []proxyctl.Neighbour {
	var out []proxyctl.Neighbour
	for _, n := range s.Neighbours {
		if n.Forward {
			out = append(out, n)
		}
	}
	return out
}

// route returns the route of function fn in s: the decision's, or the
// default one (local service if deployed here, else an even split among
// the neighbours this node forwards to that run it). ok is false when the
// function is available nowhere.
func route(s proxyctl.State, fn string) (r strategy.Route, ok bool) {
	if r, ok := s.Decision.Route(fn); ok {
		return r, true
	}
	if _, ok := s.Function(fn); ok {
		return strategy.Route{Function: fn, Local: 1}, true
	}
	fwd := map[strategy.NodeID]float64{}
	for _, n := range s.Neighbours {
		if n.Forward && slices.Contains(n.Functions, fn) {
			fwd[n.ID] = 1
		}
	}
	if len(fwd) == 0 {
		return strategy.Route{Function: fn}, false
	}
	return strategy.NewRoute(fn, 0, 0, fwd), true
}

// scaleWeights turns non-negative shares into integer weights summing to
// maxWeight (largest remainder; ties go to the earlier share). All-zero
// shares give all-zero weights.
func scaleWeights(shares []float64) []int {
	w := make([]int, len(shares))
	var total float64
	for _, s := range shares {
		if s > 0 && !math.IsInf(s, 0) {
			total += s
		}
	}
	if total <= 0 {
		return w
	}
	type rem struct {
		i int
		r float64
	}
	rems := make([]rem, 0, len(shares))
	sum := 0
	for i, s := range shares {
		if !(s > 0) || math.IsInf(s, 0) {
			continue
		}
		exact := s / total * maxWeight
		w[i] = int(math.Floor(exact))
		sum += w[i]
		rems = append(rems, rem{i, exact - float64(w[i])})
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return cmp.Compare(b.r, a.r) })
	for k := 0; sum < maxWeight && k < len(rems); k++ {
		w[rems[k].i]++
		sum++
	}
	return w
}

// rateLimit turns a rate cap (req/s) into the whole number HAProxy
// compares with a one-second rate: rounded, and at least 1 for a positive
// cap.
func rateLimit(r float64) int {
	if r <= 0 || math.IsNaN(r) {
		return 0
	}
	if r > math.MaxInt32 {
		return math.MaxInt32
	}
	return max(1, int(math.Round(r)))
}

// maxConn derives the concurrency limit of a function's gateway server:
// its stated concurrency; else its capacity times one second (as many
// requests in flight as it serves in a second), at least 1; else none (0).
func maxConn(f proxyctl.Function) int {
	switch {
	case f.Concurrency > 0:
		return f.Concurrency
	case f.Capacity > 0:
		return int(min(math.Ceil(f.Capacity), 1<<20))
	}
	return 0
}

// queueCap returns the queue cap of a function's gateway server
// (proxyctl.Function.MaxQueue): none (0) without a stated concurrency,
// whatever maxConn derives from its capacity.
func queueCap(f proxyctl.Function) int {
	if f.Concurrency <= 0 || f.MaxQueue <= 0 {
		return 0
	}
	return min(f.MaxQueue, math.MaxInt32)
}

// build computes the full run-time state for s in layout lay, with the
// neighbours in the slots and at the addresses given.
func build(s proxyctl.State, lay layout, slots []slotState, own []byte) desired {
	d := desired{slots: slices.Clone(slots), maxconn: map[string]int{}, maps: map[string]string{}, cas: buildCAs(own, s, slots, lay.slots)}
	m := mapSet{}
	slotOf := buildIdentities(m, s, slots)
	for _, f := range s.Functions {
		m.add(mapLocal, f.Name, "1")
		if f.Timeout > 0 {
			m.add(mapTimeouts, f.Name, strconv.FormatInt(max(1, f.Timeout.Milliseconds()), 10))
		}
		if q := queueCap(f); q > 0 {
			m.add(mapQueue, f.Name, strconv.Itoa(q))
		}
	}
	for _, fn := range lay.functions {
		d.maxconn[fn] = 0
		if f, ok := s.Function(fn); ok {
			d.maxconn[fn] = maxConn(f)
		}
		buildRoute(m, s, fn, slotOf, lay.slots)
	}
	buildCaps(m, s, slots, lay.functions)
	for _, name := range mapNames() {
		d.maps[name] = m.content(name)
	}
	return d
}

// CA files of the node-to-node TLS (files tls/<name>.pem): "members" holds
// the certificates the node port accepts (every neighbour's, and this
// node's own so that it is never empty); "n<i>" the one certificate slot i
// accepts from its server (this node's own while the slot is free, which
// no neighbour can present). Without own (no Certificate) there are none.
const caMembers = "members"

func buildCAs(own []byte, s proxyctl.State, slots []slotState, nslots int) map[string]string {
	cas := map[string]string{}
	if own == nil {
		return cas
	}
	var b strings.Builder
	b.Write(nodetls.CertPEM(own))
	for _, n := range s.Neighbours { // sorted by ID
		if len(n.Cert) > 0 {
			b.Write(nodetls.CertPEM(n.Cert))
		}
	}
	cas[caMembers] = b.String()
	for i := 0; i < nslots; i++ {
		cert := own
		if i < len(slots) && slots[i].node != "" {
			if n, ok := s.Neighbour(slots[i].node); ok && len(n.Cert) > 0 {
				cert = n.Cert
			}
		}
		cas[slotName(i)] = string(nodetls.CertPEM(cert))
	}
	return cas
}

// caNames returns the names of the CA files in cas, sorted, "members"
// last (after the slots, whose neighbours are reached only once their
// files are in place).
func caNames(cas map[string]string) []string {
	names := make([]string, 0, len(cas))
	for n := range cas {
		if n != caMembers {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if _, ok := cas[caMembers]; ok {
		names = append(names, caMembers)
	}
	return names
}

// checkSchemes checks that the neighbours this node forwards to are
// reached as the node-to-node path requires: https with a Certificate,
// http without.
func checkSchemes(o *settings, s proxyctl.State) error {
	want := "http"
	if o.cert != nil {
		want = "https"
	}
	for _, n := range slotUsers(s) {
		if scheme, _, _ := strings.Cut(n.URL, ":"); !strings.EqualFold(scheme, want) {
			if o.cert != nil {
				return fmt.Errorf("neighbour %q: URL %q: this node forwards over TLS only (https URLs)", n.ID, n.URL)
			}
			return fmt.Errorf("neighbour %q: URL %q: https neighbours need Config.Certificate", n.ID, n.URL)
		}
	}
	return nil
}

// mapSet collects the entries of the maps.
type mapSet map[string][][2]string

func (m mapSet) add(name, k, v string) { m[name] = append(m[name], [2]string{k, v}) }

// content returns a map file: its entries sorted by key (numerically
// after a "/": figlet/2 before figlet/10), one "key value" a line.
func (m mapSet) content(name string) string {
	entries := m[name]
	slices.SortFunc(entries, func(a, b [2]string) int { return compareKeys(a[0], b[0]) })
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e[0])
		b.WriteByte(' ')
		b.WriteString(e[1])
		b.WriteByte('\n')
	}
	return b.String()
}

// compareKeys orders map keys: a key "<number>/<rest>" (a route bucket)
// by rest, then numerically by number; others as strings.
func compareKeys(a, b string) int {
	an, ar, aok := bucketKey(a)
	bn, br, bok := bucketKey(b)
	if aok && bok {
		return cmp.Or(strings.Compare(ar, br), cmp.Compare(an, bn))
	}
	return strings.Compare(a, b)
}

func bucketKey(k string) (int, string, bool) {
	num, rest, ok := strings.Cut(k, "/")
	n, err := strconv.Atoi(num)
	return n, rest, ok && err == nil
}

// buildIdentities adds who is in each slot, the credentials to present to
// them and to expect from every neighbour, and the neighbours' addresses
// (exempt from the per-source connection cap). It returns the slot of
// each neighbour that has one.
func buildIdentities(m mapSet, s proxyctl.State, slots []slotState) map[strategy.NodeID]int {
	slotOf := map[strategy.NodeID]int{}
	srcs := map[netip.Addr]bool{}
	// Every value is non-empty: a map line is "key value".
	for i, sl := range slots {
		if sl.node == "" {
			continue
		}
		slotOf[sl.node] = i
		m.add(mapIDs, slotName(i), urlEncode(string(sl.node)))
		if n, ok := s.Neighbour(sl.node); ok && n.TokenOut != "" {
			m.add(mapTokens, slotName(i), urlEncode(n.TokenOut))
		}
		if sl.addr.IsValid() {
			srcs[sl.addr.Addr()] = true
		}
	}
	for _, n := range s.Neighbours {
		if n.TokenIn != "" {
			m.add(mapPeers, nodeKey(n.ID), tokenHash(n.TokenIn))
		}
		if n.TokenIn != "" && n.TokenInPrev != "" {
			m.add(mapPrev, nodeKey(n.ID), tokenHash(n.TokenInPrev))
		}
		if ap, err := literalAddr(n.URL); err == nil {
			srcs[ap.Addr()] = true
		}
	}
	for a := range srcs {
		m.add(mapSources, a.String(), "1")
	}
	return slotOf
}

// buildRoute adds function fn's routing: its local limit, its route table,
// the fallback of each neighbour slot it forwards to, and the admission
// limits of its route.
func buildRoute(m mapSet, s proxyctl.State, fn string, slotOf map[strategy.NodeID]int, nslots int) {
	r, ok := route(s, fn)
	limit := rateLimit(r.LocalLimit)
	m.add(mapFns, fn, strconv.Itoa(limit))
	// Shares: local, reject, then one per slot.
	shares := make([]float64, 2+nslots)
	if ok {
		shares[0], shares[1] = r.Local, r.Reject
		for _, sh := range r.Forward {
			if i, ok := slotOf[sh.Node]; ok && i < nslots {
				shares[2+i] = sh.Share
			}
		}
	}
	for b, t := range routeTable(fn, limit > 0, shares) {
		m.add(mapRoute, strconv.Itoa(b)+"/"+fn, t)
	}
	for i, t := range fallbacks(shares[2:]) {
		m.add(mapFallback, fn+"/"+slotName(i), t)
	}
	for _, a := range r.Admit {
		m.add(mapAdmit, nodeKey(a.Node)+"/"+fn, strconv.Itoa(rateLimit(a.Rate)))
	}
}

// buildCaps adds the forwarding caps (proxyctl.ForwardCap) of the
// neighbours in the slots, and which of functions have a local share
// (where a request beyond a cap may be served).
func buildCaps(m mapSet, s proxyctl.State, slots []slotState, functions []string) {
	for i, sl := range slots {
		if n, ok := s.Neighbour(sl.node); ok && sl.node != "" && n.Cap.On {
			m.add(mapCaps, slotTarget(i), capValue(n.Cap))
		}
	}
	for _, fn := range functions {
		if r, ok := route(s, fn); ok && r.Local > 0 {
			m.add(mapCaps, targetLimited+"/"+fn, "1")
		}
	}
}

// capValue is a cap as the caps map holds it: its share in thousandths,
// its rate in whole req/s, its growth in tenths (each rounded down),
// separated by "/".
func capValue(c proxyctl.ForwardCap) string {
	rate := math.Floor(min(c.Rate, math.MaxInt32))
	growth := math.Floor(min(c.Growth*10, math.MaxInt32))
	return strconv.Itoa(int(c.Share*1000)) + "/" + strconv.Itoa(int(rate)) + "/" + strconv.Itoa(int(growth))
}

func sumInts(v []int) int {
	t := 0
	for _, x := range v {
		t += x
	}
	return t
}

// timeoutMS formats d in whole milliseconds for HAProxy.
func timeoutMS(d time.Duration) string {
	return strconv.FormatInt(max(1, d.Milliseconds()), 10) + "ms"
}
