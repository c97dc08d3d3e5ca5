package dfaas_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// advisorFunc adapts a function to strategy.Advisor.
type advisorFunc func(ctx context.Context, s strategy.Snapshot) (json.RawMessage, error)

func (f advisorFunc) Advise(ctx context.Context, s strategy.Snapshot) (json.RawMessage, error) {
	return f(ctx, s)
}

// TestAdvisor: the node consults its advisor before each decision, within
// the advice time-out (half the period when unset); valid advice reaches
// the strategy as Snapshot.Advice, and a failing, slow or invalid advisor
// is counted and reported unhealthy, and the strategy decides without
// advice.
func TestAdvisor(t *testing.T) {
	const period = 2 * time.Second
	tests := []struct {
		name     string
		timeout  time.Duration
		advise   func(ctx context.Context, s strategy.Snapshot) (json.RawMessage, error)
		want     string // Snapshot.Advice seen by the strategy
		failure  string // in the advisor's health, "" if healthy
		deadline time.Duration
	}{
		{"advice reaches the strategy", 0, func(context.Context, strategy.Snapshot) (json.RawMessage, error) {
			return json.RawMessage(`{"shed":0.25}`), nil
		}, `{"shed":0.25}`, "", period / 2},
		{"explicit time-out", 300 * time.Millisecond, func(context.Context, strategy.Snapshot) (json.RawMessage, error) {
			return json.RawMessage(`[1]`), nil
		}, `[1]`, "", 300 * time.Millisecond},
		{"no advice", 0, func(context.Context, strategy.Snapshot) (json.RawMessage, error) { return nil, nil }, "", "", period / 2},
		{"failing advisor", 0, func(context.Context, strategy.Snapshot) (json.RawMessage, error) {
			return json.RawMessage(`{"x":1}`), errors.New("model server down")
		}, "", "model server down", period / 2},
		{"invalid JSON", 0, func(context.Context, strategy.Snapshot) (json.RawMessage, error) {
			return json.RawMessage(`{"shed":`), nil
		}, "", "not valid JSON", period / 2},
		{"advisor slower than the time-out", 20 * time.Millisecond, func(ctx context.Context, _ strategy.Snapshot) (json.RawMessage, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, "", "deadline exceeded", 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net := peer.NewMemNetwork(peer.MemNetworkOptions{})
			defer net.Close()
			tr, err := net.Join("a")
			if err != nil {
				t.Fatal(err)
			}
			var seen []string
			st := strategy.Func(func(s strategy.Snapshot) (strategy.Decision, error) {
				seen = append(seen, string(s.Advice))
				return strategy.AllLocal{}.Decide(s)
			})
			var left time.Duration
			var gotSnap strategy.Snapshot
			adv := advisorFunc(func(ctx context.Context, s strategy.Snapshot) (json.RawMessage, error) {
				d, ok := ctx.Deadline()
				if !ok {
					t.Error("advisor called without a deadline")
				}
				left = time.Until(d)
				gotSnap = s
				return tt.advise(ctx, s)
			})
			n, err := dfaas.New(dfaas.Config{
				Strategy: st, Advisor: adv, AdviceTimeout: tt.timeout, Proxy: proxyctl.NewRecorder(1),
				FaaS: faas.NewStatic(figlet("10")), Metrics: metricsrc.NewStatic(metricsrc.Sample{}), Peers: tr,
				ProxyURL: "http://a:1", Period: period,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if _, err := n.Step(context.Background(), time.Unix(1000, 0)); err != nil {
				t.Fatal(err)
			}
			if len(seen) != 1 || seen[0] != tt.want {
				t.Fatalf("strategy saw advice %q, want %q", seen, tt.want)
			}
			// (No lower bound on the short time-out: a loaded machine may
			// take a while to call the advisor.)
			if left > tt.deadline || left <= 0 || tt.deadline >= 300*time.Millisecond && left < tt.deadline/2 {
				t.Errorf("advisor had %v, want about %v", left, tt.deadline)
			}
			if _, ok := gotSnap.Function("figlet"); !ok || gotSnap.Self != "a" {
				t.Errorf("advisor got snapshot %+v", gotSnap)
			}
			stat := n.Status(time.Unix(1000, 0))
			health := stat.Health[dfaas.ComponentAdvisor]
			if tt.failure == "" && (health != "ok" || stat.Errors[dfaas.ComponentAdvisor] != 0) {
				t.Errorf("advisor health %q, errors %d: want ok", health, stat.Errors[dfaas.ComponentAdvisor])
			}
			if tt.failure != "" && (!strings.Contains(health, tt.failure) || stat.Errors[dfaas.ComponentAdvisor] != 1) {
				t.Errorf("advisor health %q, errors %d: want %q counted once", health, stat.Errors[dfaas.ComponentAdvisor], tt.failure)
			}
		})
	}
}
