package dfaas

import (
	"cmp"
	"slices"
	"time"

	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/strategy"
)

// Status is a node's state for operators (the agent serves it as JSON on
// /status).
type Status struct {
	ID     strategy.NodeID `json:"id"`
	Period time.Duration   `json:"period_ns"`
	// Health maps each component to "ok" or its last error.
	Health map[string]string `json:"health"`
	// Peers are the known peers: from the transport's directory and from
	// announcements.
	Peers []PeerStatus `json:"peers"`
	// Functions is the node's view of its functions in the last cycle.
	Functions []strategy.Function `json:"functions"`
	// Decision is the decision in force.
	Decision strategy.Decision `json:"decision"`
	// Cycles counts control cycles; Errors counts failures by component.
	Cycles uint64            `json:"cycles"`
	Errors map[string]uint64 `json:"errors"`
	// Messages counts peer messages accepted, sent, and dropped by reason.
	Received uint64            `json:"messages_received"`
	Sent     uint64            `json:"messages_sent"`
	Dropped  map[string]uint64 `json:"messages_dropped"`
	// Unknown aggregates the requests for names that are neither
	// deployed here nor run by a neighbour, over the last period.
	Unknown UnknownStatus `json:"unknown_functions"`
	// Announce counts the cycles whose announcement failed.
	Announce AnnounceStatus `json:"announce"`
	// Trust is what the node bounded of its neighbours' claims.
	Trust TrustStatus `json:"trust"`
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
	ID   peer.ID `json:"id"`
	Addr string  `json:"addr,omitempty"`
	// RTT is the measured round-trip time (0 unknown), also as
	// milliseconds for readers of the JSON.
	RTT   time.Duration `json:"rtt_ns"`
	RTTMs float64       `json:"rtt_ms"`
	Up    bool          `json:"up"`
	// Proxy is the proxy URL it announced; Age the age of its
	// announcement (absent if none is fresh).
	Proxy string         `json:"proxy,omitempty"`
	Age   *time.Duration `json:"age_ns,omitempty"`
	// Neighbour reports whether it is in this node's data network.
	Neighbour bool `json:"neighbour"`
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

// Status returns the node's state at time now (used for ages).
func (n *Node) Status(now time.Time) Status {
	var infos []peer.Info
	if dir, ok := n.cfg.Peers.(peer.Directory); ok {
		infos = dir.Peers()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	st := Status{
		ID:        n.id,
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
		ps.RTTMs = float64(ps.RTT) / float64(time.Millisecond)
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
