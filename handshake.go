package dfaas

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/strategy"
	"github.com/dfaas-go/dfaas/strategy/control"
)

// maxOutOfCycle bounds the proxy applies a peer's messages may cause
// between two cycles (see react): a member cannot make this node apply
// its proxy at the rate of its messages. Beyond it, the next cycle
// applies what changed.
const maxOutOfCycle = 4

// drain handles the messages already waiting, without blocking. It runs
// within Step.
func (n *Node) drain(ctx context.Context, now time.Time) {
	for {
		select {
		case msg, ok := <-n.cfg.Peers.Recv():
			if !ok {
				n.transportClosed()
				return
			}
			n.handle(ctx, msg, now, true)
		default:
			return
		}
	}
}

// handle decodes and stores one peer message. A bad message is dropped and
// counted; it never changes the node's state. A message that reveals a
// new peer or a new incarnation of one, or that hands this node a new
// credential, makes the node react at once (react), holding the step lock
// unless inStep says the caller (Step) holds it.
func (n *Node) handle(ctx context.Context, msg peer.Message, now time.Time, inStep bool) {
	r, err := n.accept(msg, now)
	if err == nil {
		n.m.received.Inc()
		if r.greet || r.reapply {
			if !inStep {
				n.stepMu.Lock()
				n.react(ctx, msg.From, r.greet)
				n.stepMu.Unlock()
			} else {
				n.react(ctx, msg.From, r.greet)
			}
		}
		if r.joins && !inStep {
			select {
			case n.kick <- struct{}{}:
			default: // a replan is pending already
			}
		}
		return
	}
	reason := DropMalformed
	var me *MessageError
	if errors.As(err, &me) {
		reason = me.Reason
	}
	n.mu.Lock()
	n.dropped[reason]++
	n.mu.Unlock()
	n.m.dropped.WithLabelValues(reason).Inc()
	n.log.Debug("dropped peer message", "from", string(msg.From), "reason", reason, "err", err)
}

// reaction is what a message accepted calls for.
type reaction struct {
	// greet: the sender is new, or a new incarnation; its credential was
	// renewed.
	greet bool
	// reapply: the sender handed this node another credential than the
	// proxy in force presents to it.
	reapply bool
	// joins: the sender starts accepting this node (it hands it a
	// credential for the first time in this incarnation) and is not in
	// the data network of the last cycle: a replan may forward to it at
	// once.
	joins bool
}

func (n *Node) accept(msg peer.Message, now time.Time) (reaction, error) {
	if strategy.NodeID(msg.From) == n.id || msg.From == "" {
		return reaction{}, &MessageError{DropSelf, fmt.Errorf("sender %q", msg.From)}
	}
	m, err := DecodeMessage(msg.Data, n.cfg.MaxMessageSize)
	if err != nil {
		return reaction{}, err
	}
	if err := n.checkDataCert(msg.From, m); err != nil {
		return reaction{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	heard, err := n.core.Receive(strategy.NodeID(msg.From), control.Message{
		Incarnation: m.Incarnation, Seq: m.Seq, Accepts: m.Token != "", Announcement: m.Announcement,
	}, now)
	switch {
	case errors.Is(err, control.ErrStale):
		return reaction{}, &MessageError{DropStale, err}
	case errors.Is(err, control.ErrSelf):
		return reaction{}, &MessageError{DropSelf, err}
	case err != nil:
		return reaction{}, &MessageError{DropInvalid, err}
	}
	m.Announcement = strategy.Announcement{} // the core keeps it
	var r reaction
	if heard.Greets() {
		// Whatever this node handed the sender before is void: it is new,
		// or restarted and cannot know it.
		n.renew(msg.From, now)
		r.greet = true
		if heard == control.HeardRestart {
			n.m.restarts.Inc()
			// A member can claim a new incarnation in every message:
			// one line a minute per peer, then a summary.
			n.warn.Info("restart:"+string(msg.From), "neighbour restarted: its state is dropped and its credentials renewed", "peer", string(msg.From))
		}
	}
	if nb, ok := n.applied.Neighbour(strategy.NodeID(msg.From)); ok && nb.TokenOut != m.Token {
		r.reapply = true
	}
	// It accepts this node from now on (it did not, or it is new):
	// bounded by the out-of-cycle budget as reactions are.
	prev := n.neighbours[msg.From]
	if _, in := n.snapshot.Neighbour(strategy.NodeID(msg.From)); !in && m.Token != "" &&
		(prev == nil || prev.msg.Token == "" || heard.Greets()) && n.outOfCycle[msg.From] < maxOutOfCycle {
		r.joins = true
		n.outOfCycle[msg.From]++
	}
	n.neighbours[msg.From] = &neighbourState{msg: m, received: now}
	n.received++
	return r, nil
}

// react applies at once, out of cycle, the proxy state in force with the
// neighbours' credentials as they are now: peer id accepted with its new
// credential, or forwarded to with the one it just handed this node. If
// greet, it then greets id (control.Core.Greet): the message that hands it
// its credential goes now rather than at the next cycle, so that two nodes
// that meet, or a node and a neighbour that restarted, accept each other
// within a round trip. The caller holds the step lock. Nothing happens
// before the first decision is in force (the first cycle does it), nor
// beyond maxOutOfCycle reactions to id in a cycle.
func (n *Node) react(ctx context.Context, id peer.ID, greet bool) {
	n.mu.Lock()
	if n.closed || !n.core.Committed() || n.outOfCycle[id] >= maxOutOfCycle {
		n.mu.Unlock()
		n.m.outOfCycle.WithLabelValues("deferred").Inc()
		return
	}
	n.outOfCycle[id]++
	st := n.applied.Clone()
	forward := map[strategy.NodeID]bool{}
	for _, nb := range st.Neighbours {
		forward[nb.ID] = nb.Forward
	}
	st.Neighbours = n.neighbourStates(n.lastStep, false, func(id strategy.NodeID) bool { return forward[id] })
	n.mu.Unlock()
	if err := st.Validate(); err != nil {
		n.log.Warn("out-of-cycle proxy state invalid; the next cycle applies", "peer", string(id), "err", err)
		return
	}
	// An out-of-cycle apply changes credentials and forwarding targets
	// (runtime updates, no reload): it gets one period, not the cycle's
	// apply time-out, since it holds the step lock and the receive loop.
	// One cut short is redone by the next cycle.
	actx, cancel := context.WithTimeout(ctx, n.period)
	err := n.cfg.Proxy.Apply(actx, st)
	cancel()
	if err != nil {
		n.fail(ComponentProxy, fmt.Errorf("out-of-cycle apply for peer %s: %w", id, err))
		return
	}
	kind := "reapply"
	if greet {
		kind = "greet"
	}
	n.m.outOfCycle.WithLabelValues(kind).Inc()
	n.mu.Lock()
	n.applied = st
	var out control.Outgoing
	var ok bool
	var msg StateMessage
	if greet {
		if out, ok = n.core.Greet(strategy.NodeID(id)); ok {
			msg = n.stateMessage(out)
		}
	}
	n.mu.Unlock()
	if ok {
		n.sendAll(ctx, []peer.ID{id}, []StateMessage{msg})
	}
}

// hailLoop announces at once to the members the transport reports up
// that this node has not heard from, so that a peer that connects greets
// this node within a round trip rather than after a cycle. It polls the
// directory ten times a period until ctx is done.
func (n *Node) hailLoop(ctx context.Context) {
	dir, ok := n.cfg.Peers.(peer.Directory)
	if !ok {
		return
	}
	t := time.NewTicker(max(n.period/10, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.hail(ctx, dir.Peers())
		}
	}
}

// hail sends the announcement in force to the members up in infos that
// this node has neither heard from nor hailed since they came up.
func (n *Node) hail(ctx context.Context, infos []peer.Info) {
	var ids []peer.ID
	var msgs []StateMessage
	n.mu.Lock()
	up := make(map[peer.ID]bool, len(infos))
	for _, p := range infos {
		if !p.Up || p.ID == "" || strategy.NodeID(p.ID) == n.id {
			continue
		}
		up[p.ID] = true
		if n.hailed[p.ID] {
			continue
		}
		n.hailed[p.ID] = true
		if _, heard := n.core.Neighbour(strategy.NodeID(p.ID)); heard || n.closed {
			continue
		}
		ids = append(ids, p.ID)
		msgs = append(msgs, n.stateMessage(n.core.Hail(strategy.NodeID(p.ID))))
	}
	for id := range n.hailed {
		if !up[id] {
			delete(n.hailed, id) // down or gone: hail it again when it is up
		}
	}
	n.mu.Unlock()
	if len(ids) > 0 {
		n.sendAll(ctx, ids, msgs)
	}
}
