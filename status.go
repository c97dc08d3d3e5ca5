package dfaas

import (
	"cmp"
	"encoding/json"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/strategy"
)

// Status is a node's state for operators. The agent serves it as JSON on
// /status; the JSON names are snake_case and every quantity with a unit
// says it in its name (durations as seconds or milliseconds, rates as
// requests per second):
//
//	{
//	  "id": "12D3KooW...",            node ID
//	  "strategy": "flow",             set by the agent (empty: absent)
//	  "proxy_url": "http://10.0.0.1:30080",
//	  "period_s": 5,                  control period
//	  "health": {"faas": "ok", "metrics": "ok", "proxy": "ok"},
//	  "peers": [{
//	    "id": "12D3KooW...", "addr": "10.0.0.2:31600", "up": true,
//	    "rtt_ms": 0.42,               round-trip time; absent while unknown
//	    "proxy": "http://10.0.0.2:30080",
//	    "age_ms": 1200,               age of its announcement; absent if none is fresh
//	    "neighbour": true             in this node's data network
//	  }],
//	  "functions": [{
//	    "name": "figlet", "deployed": true, "capacity_rps": 100,
//	    "concurrency": 10, "replicas": 1,
//	    "offered_rps": 170, "forecast_rps": 168.5, "local_rps": 99,
//	    "from_neighbours_rps": 0, "forwarded_rps": 70, "rejected_rps": 1,
//	    "failed_rps": 0, "latency_ms": 65.2,
//	    "cpu_cores": 0.8,             measured usage; absent while unknown
//	    "memory_bytes": 134217728
//	  }],
//	  "decision": {...},              strategy.Decision (shares; local_limit and admit rates in req/s)
//	  "cycles": 42, "errors": {}, "messages_received": 80,
//	  "messages_sent": 84, "messages_dropped": {},
//	  "unknown_functions": {          requests for names no one runs, one aggregate
//	    "names": 0, "offered_rps": 3.2, "rejected_rps": 3.2, "failed_rps": 0
//	  },
//	  "announce": {"trimmed": 0, "left_out": 0, "unbuildable": 0, "unsent": 0},
//	  "trust": {                      neighbours' claims bounded (control.Trust)
//	    "grants_bounded": 0, "shares_capped": 1, "by_neighbour": {"12D3KooW...": 1},
//	    "allowances": [{"id": "12D3KooW...", "allowance_rps": 56.7, "decided_rps": 60, "capped": true}]
//	  }
//	}
//
// Status implements json.Marshaler and json.Unmarshaler with this form; a
// struct that embeds Status takes these methods, so it is encoded as
// Status alone.
type Status struct {
	ID strategy.NodeID
	// Strategy names the node's strategy; the Node does not know its
	// name, the caller that does (the agent) sets it.
	Strategy string
	// ProxyURL is the URL the node announces for its proxy.
	ProxyURL string
	Period   time.Duration
	// Health maps each component to "ok" or its last error.
	Health map[string]string
	// Peers are the known peers: from the transport's directory and from
	// announcements.
	Peers []PeerStatus
	// Functions is the node's view of its functions in the last cycle.
	Functions []strategy.Function
	// Decision is the decision in force.
	Decision strategy.Decision
	// Cycles counts control cycles; Errors counts failures by component.
	Cycles uint64
	Errors map[string]uint64
	// Messages counts peer messages accepted, sent, and dropped by reason.
	Received uint64
	Sent     uint64
	Dropped  map[string]uint64
	// Unknown aggregates the requests for names that are neither
	// deployed here nor run by a neighbour, over the last period.
	Unknown UnknownStatus
	// Announce counts the cycles whose announcement failed.
	Announce AnnounceStatus
	// Trust is what the node bounded of its neighbours' claims.
	Trust TrustStatus
}

// UnknownStatus aggregates the requests for names neither deployed here nor
// run by a neighbour (names that exist nowhere, such as made-up ones): the
// node keeps no state per such name. Rates are req/s over the last period.
type UnknownStatus struct {
	Names       int     `json:"names"`
	OfferedRPS  float64 `json:"offered_rps"`
	RejectedRPS float64 `json:"rejected_rps"`
	FailedRPS   float64 `json:"failed_rps"`
}

// AnnounceStatus counts the cycles whose announcement failed (the announce
// component is unhealthy meanwhile).
type AnnounceStatus struct {
	// Trimmed: over the message limit, sent without some functions the
	// node does not run (LeftOut of them the last cycle).
	Trimmed uint64 `json:"trimmed"`
	LeftOut int    `json:"left_out"`
	// Unbuildable: too large even so; not sent.
	Unbuildable uint64 `json:"unbuildable"`
	// Unsent: reached no peer.
	Unsent uint64 `json:"unsent"`
}

// TrustStatus is what the node bounded of its neighbours' claims (see
// control.Trust).
type TrustStatus struct {
	// GrantsBounded counts grants (and spare rates) above the grantor's
	// announced capacity, clamped, or for functions it does not run,
	// dropped; SharesCapped the times a neighbour's share was capped.
	GrantsBounded uint64 `json:"grants_bounded"`
	SharesCapped  uint64 `json:"shares_capped"`
	// ByNeighbour counts both per current neighbour.
	ByNeighbour map[strategy.NodeID]uint64 `json:"by_neighbour,omitempty"`
	// Allowances are the last cycle's allowance of each neighbour
	// forwarded to.
	Allowances []AllowanceStatus `json:"allowances,omitempty"`
}

// AllowanceStatus is what one neighbour may receive (req/s) by what its
// answers support, what the strategy's decision would have sent it, and
// whether it was capped.
type AllowanceStatus struct {
	ID           strategy.NodeID `json:"id"`
	AllowanceRPS float64         `json:"allowance_rps"`
	DecidedRPS   float64         `json:"decided_rps"`
	Capped       bool            `json:"capped"`
}

// PeerStatus describes one known peer.
type PeerStatus struct {
	ID   peer.ID
	Addr string
	// RTT is the measured round-trip time (0 unknown).
	RTT time.Duration
	Up  bool
	// Proxy is the proxy URL it announced; Age the age of its
	// announcement (nil if none is fresh).
	Proxy string
	Age   *time.Duration
	// Neighbour reports whether it is in this node's data network.
	Neighbour bool
}

// statusJSON is the JSON form of Status.
type statusJSON struct {
	ID        strategy.NodeID   `json:"id"`
	Strategy  string            `json:"strategy,omitempty"`
	ProxyURL  string            `json:"proxy_url,omitempty"`
	PeriodS   float64           `json:"period_s"`
	Health    map[string]string `json:"health"`
	Peers     []peerJSON        `json:"peers"`
	Functions []functionJSON    `json:"functions"`
	Decision  strategy.Decision `json:"decision"`
	Cycles    uint64            `json:"cycles"`
	Errors    map[string]uint64 `json:"errors"`
	Received  uint64            `json:"messages_received"`
	Sent      uint64            `json:"messages_sent"`
	Dropped   map[string]uint64 `json:"messages_dropped"`
	Unknown   UnknownStatus     `json:"unknown_functions"`
	Announce  AnnounceStatus    `json:"announce"`
	Trust     TrustStatus       `json:"trust"`
}

type peerJSON struct {
	ID        peer.ID  `json:"id"`
	Addr      string   `json:"addr,omitempty"`
	Up        bool     `json:"up"`
	RTTMs     float64  `json:"rtt_ms,omitempty"`
	Proxy     string   `json:"proxy,omitempty"`
	AgeMs     *float64 `json:"age_ms,omitempty"`
	Neighbour bool     `json:"neighbour"`
}

type functionJSON struct {
	Name              string  `json:"name"`
	Deployed          bool    `json:"deployed"`
	CapacityRPS       float64 `json:"capacity_rps"`
	Concurrency       int     `json:"concurrency"`
	Replicas          int     `json:"replicas"`
	OfferedRPS        float64 `json:"offered_rps"`
	ForecastRPS       float64 `json:"forecast_rps"`
	LocalRPS          float64 `json:"local_rps"`
	FromNeighboursRPS float64 `json:"from_neighbours_rps"`
	ForwardedRPS      float64 `json:"forwarded_rps"`
	RejectedRPS       float64 `json:"rejected_rps"`
	FailedRPS         float64 `json:"failed_rps"`
	LatencyMs         float64 `json:"latency_ms"`
	CPUCores          float64 `json:"cpu_cores,omitempty"`
	MemoryBytes       float64 `json:"memory_bytes,omitempty"`
}

func seconds(d time.Duration) float64 { return d.Seconds() }
func millis(d time.Duration) float64  { return float64(d) / float64(time.Millisecond) }
func fromSeconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}
func fromMillis(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond))
}

// MarshalJSON implements json.Marshaler with the form documented on
// Status.
func (s Status) MarshalJSON() ([]byte, error) {
	j := statusJSON{
		ID: s.ID, Strategy: s.Strategy, ProxyURL: s.ProxyURL, PeriodS: seconds(s.Period), Health: s.Health,
		Peers: []peerJSON{}, Functions: []functionJSON{}, Decision: s.Decision,
		Cycles: s.Cycles, Errors: s.Errors, Received: s.Received, Sent: s.Sent, Dropped: s.Dropped,
		Unknown: s.Unknown, Announce: s.Announce, Trust: s.Trust,
	}
	for _, p := range s.Peers {
		pj := peerJSON{ID: p.ID, Addr: p.Addr, Up: p.Up, RTTMs: millis(p.RTT), Proxy: p.Proxy, Neighbour: p.Neighbour}
		if p.Age != nil {
			age := millis(*p.Age)
			pj.AgeMs = &age
		}
		j.Peers = append(j.Peers, pj)
	}
	for _, f := range s.Functions {
		j.Functions = append(j.Functions, functionJSON{
			Name: f.Name, Deployed: f.Deployed, CapacityRPS: f.Capacity, Concurrency: f.Concurrency, Replicas: f.Replicas,
			OfferedRPS: f.Offered, ForecastRPS: f.Forecast, LocalRPS: f.Local, FromNeighboursRPS: f.FromNeighbours,
			ForwardedRPS: f.Forwarded, RejectedRPS: f.Rejected, FailedRPS: f.Failed, LatencyMs: millis(f.Latency),
			CPUCores: f.CPU, MemoryBytes: f.Memory,
		})
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler with the form documented on
// Status (durations are rounded to the nanosecond).
func (s *Status) UnmarshalJSON(b []byte) error {
	var j statusJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Status{
		ID: j.ID, Strategy: j.Strategy, ProxyURL: j.ProxyURL, Period: fromSeconds(j.PeriodS), Health: j.Health,
		Decision: j.Decision, Cycles: j.Cycles, Errors: j.Errors, Received: j.Received, Sent: j.Sent, Dropped: j.Dropped,
		Unknown: j.Unknown, Announce: j.Announce, Trust: j.Trust,
	}
	for _, p := range j.Peers {
		ps := PeerStatus{ID: p.ID, Addr: p.Addr, Up: p.Up, RTT: fromMillis(p.RTTMs), Proxy: p.Proxy, Neighbour: p.Neighbour}
		if p.AgeMs != nil {
			age := fromMillis(*p.AgeMs)
			ps.Age = &age
		}
		s.Peers = append(s.Peers, ps)
	}
	for _, f := range j.Functions {
		s.Functions = append(s.Functions, strategy.Function{
			Name: f.Name, Deployed: f.Deployed, Capacity: f.CapacityRPS, Concurrency: f.Concurrency, Replicas: f.Replicas,
			Offered: f.OfferedRPS, Forecast: f.ForecastRPS, Local: f.LocalRPS, FromNeighbours: f.FromNeighboursRPS,
			Forwarded: f.ForwardedRPS, Rejected: f.RejectedRPS, Failed: f.FailedRPS, Latency: fromMillis(f.LatencyMs),
			CPU: f.CPUCores, Memory: f.MemoryBytes,
		})
	}
	return nil
}

// Healthy reports whether every component worked in the last cycle, and the
// failing ones otherwise.
func (n *Node) Healthy() (bool, map[string]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	failing := map[string]string{}
	for c, err := range n.health {
		if err != nil {
			failing[c] = err.Error()
		}
	}
	return len(failing) == 0, failing
}

// Status returns the node's state at time now (used for ages). Its
// Strategy is empty: the caller that knows the strategy's name sets it.
func (n *Node) Status(now time.Time) Status {
	var infos []peer.Info
	if dir, ok := n.cfg.Peers.(peer.Directory); ok {
		infos = dir.Peers()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	st := Status{
		ID:        n.id,
		ProxyURL:  n.cfg.ProxyURL,
		Period:    n.period,
		Health:    map[string]string{},
		Functions: slices.Clone(n.snapshot.Functions),
		Decision:  n.applied.Decision.Clone(),
		Cycles:    n.cycle,
		Errors:    map[string]uint64{},
		Received:  n.received,
		Sent:      n.sent,
		Dropped:   map[string]uint64{},
	}
	for c, err := range n.health {
		st.Health[c] = "ok"
		if err != nil {
			st.Health[c] = err.Error()
		}
	}
	for k, v := range n.errs {
		st.Errors[k] = v
	}
	for k, v := range n.dropped {
		st.Dropped[k] = v
	}
	n.hardeningStatus(&st)
	byID := map[peer.ID]*PeerStatus{}
	for _, p := range infos {
		byID[p.ID] = &PeerStatus{ID: p.ID, Addr: p.Addr, RTT: p.RTT, Up: p.Up}
	}
	for id, ns := range n.neighbours {
		ps := byID[id]
		if ps == nil {
			ps = &PeerStatus{ID: id, Up: true}
			byID[id] = ps
		}
		age := max(0, now.Sub(ns.received))
		ps.Proxy, ps.Age = ns.msg.Proxy, &age
	}
	for _, nb := range n.snapshot.Neighbours {
		if ps := byID[peer.ID(nb.ID)]; ps != nil {
			ps.Neighbour = true
		}
	}
	for _, ps := range byID {
		st.Peers = append(st.Peers, *ps)
	}
	slices.SortFunc(st.Peers, func(a, b PeerStatus) int { return cmp.Compare(a.ID, b.ID) })
	return st
}

// hardeningStatus fills what st says of unknown names, announcements and
// neighbours' claims. n.mu must be held.
func (n *Node) hardeningStatus(st *Status) {
	u := n.unknown
	st.Unknown = UnknownStatus{Names: u.Names, OfferedRPS: u.Offered, RejectedRPS: u.Rejected, FailedRPS: u.Failed}
	st.Announce = n.ann
	an := n.core.Anomalies()
	st.Trust = TrustStatus{GrantsBounded: an.GrantsBounded, SharesCapped: an.SharesCapped}
	if len(an.ByNeighbour) > 0 {
		st.Trust.ByNeighbour = an.ByNeighbour
	}
	for _, c := range n.caps {
		st.Trust.Allowances = append(st.Trust.Allowances, AllowanceStatus{ID: c.ID, AllowanceRPS: c.Allowance, DecidedRPS: c.Estimate, Capped: c.Capped})
	}
}
