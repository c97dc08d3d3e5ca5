package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/internal/report"
	"github.com/dfaas-go/dfaas/strategy"
)

var errUnhealthy = errors.New("unhealthy")

// waitHTTP waits until url answers 200 (or, for an answer that is not
// 200, returns errUnhealthy after timeout), failing early if proc exits.
func waitHTTP(ctx context.Context, c *http.Client, url string, proc *Proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if proc.Exited() {
			return proc.ExitError()
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			last = fmt.Errorf("%w: %s: status %d", errUnhealthy, url, resp.StatusCode)
		} else {
			last = err
		}
		cancel()
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %w", proc.name, timeout, last)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// deleteFunctions deletes every function of the FaaS at base.
func deleteFunctions(ctx context.Context, c *http.Client, base string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/system/functions", nil)
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("list functions: %w", err)
	}
	var fns []struct {
		Name string `json:"name"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&fns)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("list functions: %w", err)
	}
	for _, f := range fns {
		body, _ := json.Marshal(map[string]string{"functionName": f.Name})
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/system/functions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("delete function %s: %w", f.Name, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("delete function %s: status %d", f.Name, resp.StatusCode)
		}
	}
	return nil
}

// agentStatus is the part of an agent's /status (dfaas.Status) the
// cluster reads.
type agentStatus struct {
	Peers []struct {
		ID        string `json:"id"`
		Neighbour bool   `json:"neighbour"`
	} `json:"peers"`
	Decision strategy.Decision `json:"decision"`
	Cycles   uint64            `json:"cycles"`
}

func (n *Node) status(ctx context.Context) (agentStatus, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, n.adminURL()+"/status", nil)
	resp, err := n.Client.Do(req)
	if err != nil {
		return agentStatus{}, err
	}
	defer resp.Body.Close()
	var st agentStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&st); err != nil {
		return agentStatus{}, fmt.Errorf("node %s /status: %w", n.ID, err)
	}
	return st, nil
}

// WaitFederation waits until every node has all the nodes it is linked to
// as neighbours, or until deadline; the error then says which lack
// neighbours. It fails at once, wrapping ErrProcExited, if an agent
// exits.
func (c *Cluster) WaitFederation(ctx context.Context, deadline time.Time) error {
	for {
		var missing []string
		for i, n := range c.nodes {
			if n.agent.Exited() {
				return n.agent.ExitError()
			}
			want := len(c.cfg.Links[i])
			st, err := n.status(ctx)
			if err != nil {
				missing = append(missing, fmt.Sprintf("%s: %v", n.ID, err))
				continue
			}
			got := 0
			for _, p := range st.Peers {
				if p.Neighbour {
					got++
				}
			}
			if got < want {
				missing = append(missing, fmt.Sprintf("%s sees %d of %d neighbours", n.ID, got, want))
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New(strings.Join(missing, "; "))
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// PollDecisions polls every node's decision each second until done is
// closed (or ctx is), and returns each route change, timed from start.
func (c *Cluster) PollDecisions(ctx context.Context, start time.Time, done <-chan struct{}) []report.Decision {
	var out []report.Decision
	last := map[[2]string]strategy.Route{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for _, n := range c.nodes {
			st, err := n.status(ctx)
			if err != nil {
				continue
			}
			at := max(0, time.Since(start))
			for _, r := range st.Decision.Routes {
				k := [2]string{n.ID, r.Function}
				if prev, ok := last[k]; ok && prev.Equal(r) {
					continue
				}
				last[k] = r
				d := report.Decision{At: at, Node: n.ID, Function: r.Function, Local: r.Local, Reject: r.Reject, LocalLimit: r.LocalLimit}
				for _, s := range r.Forward {
					d.Forward = append(d.Forward, report.Share{Node: c.Name(string(s.Node)), Share: s.Share})
				}
				out = append(out, d)
			}
		}
		select {
		case <-ctx.Done():
			return out
		case <-done:
			return out
		case <-tick.C:
		}
	}
}

// Watch cancels ctx with an error wrapping ErrProcExited if a node's
// process exits before done is closed.
func (c *Cluster) Watch(ctx context.Context, cancel context.CancelCauseFunc, done <-chan struct{}) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, n := range c.nodes {
			for _, p := range []*Proc{n.faas, n.agent} {
				if p.Exited() {
					cancel(fmt.Errorf("during the load: %w", p.ExitError()))
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-tick.C:
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
