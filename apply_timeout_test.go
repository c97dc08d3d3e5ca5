package dfaas_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// slowProxy takes delay to apply a state, or gives up when its context
// ends, as HAProxy's controller does while it checks and reloads.
type slowProxy struct {
	proxyctl.Recorder
	delay time.Duration
}

func (p *slowProxy) Apply(ctx context.Context, s proxyctl.State) error {
	select {
	case <-time.After(p.delay):
		return p.Recorder.Apply(ctx, s)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestApplyTimeout: an Apply that takes longer than a short period still
// takes effect by default (the proxy gets DefaultApplyTimeout), and
// ApplyTimeout bounds it when set.
func TestApplyTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		wantErr error
	}{
		{"default", 0, nil},
		{"bounded", 20 * time.Millisecond, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := peer.NewMemNetwork(peer.MemNetworkOptions{})
			defer net.Close()
			tr, _ := net.Join("a")
			proxy := &slowProxy{delay: 300 * time.Millisecond}
			n, err := dfaas.New(dfaas.Config{
				Strategy: strategy.AllLocal{}, Proxy: proxy, FaaS: faas.NewStatic(figlet("100")),
				Metrics: metricsrc.NewStatic(offered("figlet", 10)), Peers: tr, ProxyURL: "http://a.example:30080",
				Period: 100 * time.Millisecond, ApplyTimeout: tc.timeout,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			_, err = n.Step(context.Background(), time.Unix(1000, 0))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("step: %v, want %v", err, tc.wantErr)
			}
			if applied := len(proxy.History()); (applied == 1) != (tc.wantErr == nil) {
				t.Errorf("%d states applied", applied)
			}
		})
	}
}
