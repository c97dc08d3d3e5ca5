package dfaas

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/strategy"
)

// records is a slog handler that keeps "LEVEL message peer=… component=…"
// lines.
type records struct {
	mu    sync.Mutex
	lines []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "peer" || a.Key == "component" || a.Key == "from" {
			line += " " + a.Key + "=" + a.Value.String()
		}
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, line)
	r.mu.Unlock()
	return nil
}

func (r *records) has(prefix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// TestOperatorLogLines: what an operator reads in the node's log for each
// event that changes what the node accepts or does: a message dropped, an
// announcement not sent, a neighbour restarted, expired or left, a
// component failed, a platform function ignored, a neighbour's share
// capped.
func TestOperatorLogLines(t *testing.T) {
	tok := strings.Repeat("ab", 32)
	cases := []struct {
		name string
		run  func(t *testing.T, net *peer.MemNetwork, logs *records)
		want string
	}{
		{"dropped message", func(t *testing.T, net *peer.MemNetwork, logs *records) {
			n, _, _ := newRulesNode(t, net, nil, func(c *Config) { c.Logger = slog.New(logs) })
			n.handle(context.Background(), peer.Message{From: "b", Data: []byte("{")}, time.Unix(1, 0), false)
		}, "DEBUG dropped peer message from=b"},
		{"announcement not sent", func(t *testing.T, net *peer.MemNetwork, logs *records) {
			fail := func(tr *peer.MemTransport) peer.Transport {
				return failingSends{tr, map[peer.ID]error{"b": errors.New("lost")}}
			}
			n, _, _ := newRulesNode(t, net, fail, func(c *Config) { c.Logger = slog.New(logs) })
			_ = n.sendAll(context.Background(), []peer.ID{"b"}, []StateMessage{{Version: WireVersion, Type: "state", Incarnation: 1, Seq: 1, Proxy: "http://a:1"}})
		}, "DEBUG announcement not sent peer=b"},
		{"neighbour restarted", func(t *testing.T, net *peer.MemNetwork, logs *records) {
			n, _, _ := newRulesNode(t, net, nil, func(c *Config) { c.Logger = slog.New(logs) })
			for inc := uint64(1); inc <= 2; inc++ {
				n.handle(context.Background(), peer.Message{From: "b", Data: stateData(t, inc, 1, tok)}, time.Unix(1, 0), false)
			}
		}, "INFO neighbour restarted: its state is dropped and its credentials renewed peer=b"},
		{"neighbour left", func(t *testing.T, net *peer.MemNetwork, logs *records) {
			n, _, _ := newRulesNode(t, net, nil, func(c *Config) { c.Logger = slog.New(logs) })
			b, err := net.Join("b")
			if err != nil {
				t.Fatal(err)
			}
			n.handle(context.Background(), peer.Message{From: "b", Data: stateData(t, 1, 1, tok)}, time.Unix(1, 0), false)
			_, _ = n.Step(context.Background(), time.Unix(1, 0))
			b.Close()
			_, _ = n.Step(context.Background(), time.Unix(2, 0))
		}, "INFO neighbour expired or left; its credential is revoked peer=b"},
		{"component failed", func(t *testing.T, net *peer.MemNetwork, logs *records) {
			n, _, rec := newRulesNode(t, net, nil, func(c *Config) { c.Logger = slog.New(logs) })
			rec.SetErr(errors.New("proxy down"))
			_, _ = n.Step(context.Background(), time.Unix(1, 0))
		}, "WARN component failed component=proxy"},
		{"invalid function name", func(t *testing.T, net *peer.MemNetwork, logs *records) {
			n, _, _ := newRulesNode(t, net, nil, func(c *Config) {
				c.Logger = slog.New(logs)
				c.FaaS = faas.NewStatic(faas.Function{Name: "../x", AvailableReplicas: 1})
			})
			_, _ = n.Step(context.Background(), time.Unix(1, 0))
		}, "WARN ignoring function with an invalid name"},
		{"share capped", func(t *testing.T, net *peer.MemNetwork, logs *records) {
			flow, err := strategy.Builtin().New("flow", nil)
			if err != nil {
				t.Fatal(err)
			}
			n, _, _ := newRulesNode(t, net, nil, func(c *Config) {
				c.Logger = slog.New(logs)
				c.Strategy = flow
				c.FaaS = faas.NewStatic(faas.Function{Name: "figlet", AvailableReplicas: 1, Labels: map[string]string{faas.LabelMaxRate: "100"}})
				c.Metrics = metricsrc.NewStatic(metricsrc.Sample{Window: time.Second, Answers: true, Functions: []metricsrc.FunctionRates{{
					Name: "figlet", Offered: 400, Local: 100, Forwarded: 300,
					Neighbours: []metricsrc.NeighbourRates{{ID: "b", Forwarded: 300, Failed: 300}},
				}}})
			})
			if _, err := net.Join("b"); err != nil {
				t.Fatal(err)
			}
			for k := range 3 {
				m := StateMessage{Version: WireVersion, Type: "state", Incarnation: 1, Seq: uint64(k + 1), Proxy: "http://b:1", Token: tok,
					Announcement: strategy.Announcement{Functions: []strategy.FunctionState{{Name: "figlet", Deployed: true, Capacity: 1e6, Spare: 1e6}}}}
				data, err := EncodeMessage(m)
				if err != nil {
					t.Fatal(err)
				}
				now := time.Unix(int64(10+k), 0)
				n.handle(context.Background(), peer.Message{From: "b", Data: data}, now, false)
				_, _ = n.Step(context.Background(), now)
			}
		}, "WARN capped what a neighbour receives to what its answers support peer=b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			net := peer.NewMemNetwork(peer.MemNetworkOptions{})
			defer net.Close()
			logs := &records{}
			c.run(t, net, logs)
			if !logs.has(c.want) {
				t.Fatalf("no %q in the log:\n%s", c.want, strings.Join(logs.lines, "\n"))
			}
		})
	}
}
