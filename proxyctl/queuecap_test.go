package proxyctl_test

import (
	"math"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/proxyctl"
)

func TestQueueCap(t *testing.T) {
	for _, tc := range []struct {
		depth       float64
		concurrency int
		want        int
	}{
		{0, 10, 0},
		{-1, 10, 0},
		{math.NaN(), 10, 0},
		{4, 0, 0},
		{4, 10, 40},
		{0.25, 10, 3},
		{0.01, 1, 1},
		{1.5, 3, 5},
		{math.Inf(1), 10, math.MaxInt32},
		{1e12, 1_000_000, math.MaxInt32},
	} {
		if got := proxyctl.QueueCap(tc.depth, tc.concurrency); got != tc.want {
			t.Errorf("QueueCap(%v, %d) = %d, want %d", tc.depth, tc.concurrency, got, tc.want)
		}
	}
}

func TestEffectiveDepth(t *testing.T) {
	for d, want := range map[float64]float64{0: proxyctl.DefaultQueueDepth, -1: 0, 2.5: 2.5} {
		if got := proxyctl.EffectiveDepth(d); got != want {
			t.Errorf("EffectiveDepth(%v) = %v, want %v", d, got, want)
		}
	}
}

func TestValidateNegativeMaxQueue(t *testing.T) {
	s := proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "f", MaxQueue: -1}}}
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), "queue cap") {
		t.Fatalf("Validate = %v, want an error naming the queue cap", err)
	}
	s.Functions[0].MaxQueue = 3
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate with MaxQueue 3 = %v", err)
	}
}
