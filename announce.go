package dfaas

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// Reasons of dfaas_agent_announce_failures_total.
const (
	announceTrimmed     = "trimmed"
	announceUnbuildable = "unbuildable"
	announceUnsent      = "unsent"
)

// announce sends the announcement in force to every peer this node knows
// (the core's outbox: the transport's directory, the neighbours heard
// from, the bootstrap list). A peer gets its credential only once the proxy
// in force accepts it, so it never forwards a request that would be
// refused as coming from an unknown node. An announcement never fails
// silently: one that had to be trimmed, could not be built or reached no
// peer turns the announce component unhealthy, is counted and logged.
func (n *Node) announce(ctx context.Context) {
	var members []strategy.NodeID
	if dir, ok := n.cfg.Peers.(peer.Directory); ok {
		for _, p := range dir.Peers() {
			members = append(members, strategy.NodeID(p.ID))
		}
	}
	n.mu.Lock()
	outs := n.core.Outbox(members)
	ids := make([]peer.ID, len(outs))
	msgs := make([]StateMessage, len(outs))
	for i, out := range outs {
		ids[i] = peer.ID(out.To)
		msgs[i] = n.stateMessage(out)
	}
	n.mu.Unlock()
	r := n.sendAll(ctx, ids, msgs)
	n.report(r, len(msgs))
}

// stateMessage returns the wire message of out, with the credential the
// proxy in force accepts from its recipient if it accepts it. n.mu must be
// held.
func (n *Node) stateMessage(out control.Outgoing) StateMessage {
	var token string
	if nb, ok := n.applied.Neighbour(out.To); ok && out.Accepted {
		token = nb.TokenIn
	}
	return StateMessage{
		Version: WireVersion, Type: "state", Incarnation: out.Incarnation, Seq: out.Seq,
		Proxy: n.cfg.ProxyURL, Token: token, Announcement: out.Announcement, Cert: n.cfg.DataCert,
	}
}

// sendResult is what sendAll did.
type sendResult struct {
	sent, failed int
	leftOut      int   // functions left out of the largest message trimmed
	buildErr     error // the last message that could not be built
	sendErr      error // the last send that failed
}

// sendAll encodes and sends msgs[i] to ids[i], counting what it sent.
func (n *Node) sendAll(ctx context.Context, ids []peer.ID, msgs []StateMessage) sendResult {
	var r sendResult
	for i, id := range ids {
		data, left, err := n.encode(msgs[i])
		r.leftOut = max(r.leftOut, left)
		if err != nil {
			r.failed++
			r.buildErr = err
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, n.period/2)
		err = n.cfg.Peers.Send(sctx, id, data)
		cancel()
		if err != nil {
			r.failed++
			r.sendErr = err
			n.log.Debug("announcement not sent", "peer", string(id), "err", err)
			continue
		}
		r.sent++
	}
	n.m.sent.Add(float64(r.sent))
	if r.failed > 0 {
		n.m.sendErrors.Add(float64(r.failed))
	}
	n.mu.Lock()
	n.sent += uint64(r.sent)
	n.mu.Unlock()
	return r
}

// report turns what a cycle's announcement did into health, metrics and
// (rate-limited) warnings.
func (n *Node) report(r sendResult, peers int) {
	if errors.Is(r.sendErr, peer.ErrClosed) {
		n.setHealth(ComponentPeers, r.sendErr)
	} else {
		n.setHealth(ComponentPeers, nil)
	}
	limit := n.cfg.maxMessageSize()
	var err error
	var reason string
	switch {
	case r.buildErr != nil:
		reason = announceUnbuildable
		err = fmt.Errorf("announcement cannot be built within the %d-byte message limit, even without the functions this node does not run: %w", limit, r.buildErr)
	case r.leftOut > 0:
		reason = announceTrimmed
		err = fmt.Errorf("announcement over the %d-byte message limit: sent without %d functions this node does not run (least loaded first)", limit, r.leftOut)
	case r.sent == 0 && peers > 0:
		reason = announceUnsent
		err = fmt.Errorf("announcement reached none of %d peers: %w", peers, r.sendErr)
	}
	n.mu.Lock()
	switch reason {
	case announceUnbuildable:
		n.ann.Unbuildable++
	case announceTrimmed:
		n.ann.Trimmed++
	case announceUnsent:
		n.ann.Unsent++
	}
	n.ann.LeftOut = r.leftOut
	n.mu.Unlock()
	n.setHealth(ComponentAnnounce, err)
	if err == nil {
		return
	}
	n.m.announceFail.WithLabelValues(reason).Inc()
	if reason == announceUnsent && n.sentTotal() == 0 {
		// Not one announcement out yet: the peers are still being
		// dialled at start-up. Health and the metric say so; a warning
		// would alarm on every start.
		n.log.Info("announcement not sent yet: no peer connected", "peers", peers, "err", err)
		return
	}
	n.warn.Warn("announce:"+reason, "announcement failed", "reason", reason, "err", err)
}

// sentTotal returns how many announcements this node has sent.
func (n *Node) sentTotal() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent
}

// encode encodes m within the message limit. A message that does not fit
// (in bytes, or in the wire's count limits) is sent without some of the
// functions this node announces but does not run, least loaded (offered
// rate) first, as few as make it fit; every function it runs and every
// grant stay. It returns how many functions it left out, and an error if
// even that does not fit.
func (n *Node) encode(m StateMessage) ([]byte, int, error) {
	limit := n.cfg.maxMessageSize()
	fits := func(m StateMessage) ([]byte, error) {
		data, err := EncodeMessage(m)
		if err == nil && len(data) > limit {
			err = fmt.Errorf("%d bytes", len(data))
		}
		return data, err
	}
	data, err := fits(m)
	if err == nil {
		return data, 0, nil
	}
	fns := m.Announcement.Functions
	var spare []int // the functions it may leave out, least loaded first
	for i, f := range fns {
		if !f.Deployed {
			spare = append(spare, i)
		}
	}
	slices.SortStableFunc(spare, func(a, b int) int { return cmp.Compare(fns[a].Offered, fns[b].Offered) })
	without := func(k int) StateMessage {
		drop := make(map[int]bool, k)
		for _, i := range spare[:k] {
			drop[i] = true
		}
		t := m
		t.Announcement.Functions = make([]strategy.FunctionState, 0, len(fns)-k)
		for i, f := range fns {
			if !drop[i] {
				t.Announcement.Functions = append(t.Announcement.Functions, f)
			}
		}
		return t
	}
	if _, err := fits(without(len(spare))); err != nil {
		return nil, len(spare), err
	}
	lo, hi := 1, len(spare) // the smallest k that fits is in [lo, hi]
	for lo < hi {
		mid := (lo + hi) / 2
		if _, err := fits(without(mid)); err == nil {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	data, err = fits(without(lo))
	return data, lo, err
}
