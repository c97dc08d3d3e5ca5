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
