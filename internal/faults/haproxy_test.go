package faults_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/metricsrc/promsrc"
	"github.com/dfaas-go/dfaas/proxyctl/haproxy"
)

// haproxyPlane is HAProxy driven by its controller: a restart is a new
// controller and a new HAProxy on the same address.
type haproxyPlane struct{ *haproxy.Controller }

// startHAProxy starts HAProxy on addr in front of faasURL, skipping the
// test when HAProxy is not installed (failing under DFAAS_INTEGRATION=1).
func startHAProxy(t *testing.T, addr, faasURL string) dataPlane {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		if os.Getenv("DFAAS_INTEGRATION") == "1" {
			t.Fatalf("DFAAS_INTEGRATION=1 but haproxy is not installed: %v", err)
		}
		t.Skip("haproxy not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := haproxy.New(ctx, haproxy.Config{
		Dir: t.TempDir(), ListenAddr: addr, MetricsAddr: haproxy.MetricsOff, GatewayURL: faasURL, Slots: 4,
		CheckInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return haproxyPlane{c}
}

func (h haproxyPlane) counters() metricsrc.TotalsReader { return h.Controller }
func (h haproxyPlane) collector() prometheus.Collector  { return promsrc.NewCollector(h.Controller, 0) }
func (h haproxyPlane) stop()                            { h.Close() }

// gatewayUp asks HAProxy's runtime API whether its gateway server (the
// local FaaS, health-checked) is up.
func (h haproxyPlane) gatewayUp() (bool, error) {
	conn, err := net.Dial("unix", filepath.Join(h.Dir(), "runtime.sock"))
	if err != nil {
		return false, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(conn, "show servers state gateway\n"); err != nil {
		return false, err
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return false, err
	}
	// be_id be_name srv_id srv_name srv_addr srv_op_state ...; 2 is running.
	for l := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[1] == "gateway" && f[3] == "gw" {
			return f[5] == "2", nil
		}
	}
	return false, fmt.Errorf("no gateway server in %q", b)
}

// TestIntegrationUnknownNamesAttackHAProxy is TestUnknownNamesAttack with
// HAProxy as the data plane.
func TestIntegrationUnknownNamesAttackHAProxy(t *testing.T) {
	testUnknownNames(t, startHAProxy, time.Second)
}

// TestIntegrationCapturedCredentialHAProxy is TestCapturedCredential with
// HAProxy as the data plane: the credentials rotate through its runtime
// API, and a restarted node's new HAProxy knows none of the old ones.
func TestIntegrationCapturedCredentialHAProxy(t *testing.T) {
	testCapturedCredential(t, startHAProxy, time.Second)
}

// TestIntegrationNeighbourRestartHAProxy is TestNeighbourRestart with
// HAProxy as the data plane of both nodes. HAProxy's tests use longer
// periods: a proxy state must be applied well within one, on a loaded
// machine too.
func TestIntegrationNeighbourRestartHAProxy(t *testing.T) {
	testNeighbourRestart(t, startHAProxy, time.Second)
}

// TestIntegrationColdStartHAProxy is TestColdStart with HAProxy as the
// data plane of both nodes.
func TestIntegrationColdStartHAProxy(t *testing.T) { testColdStart(t, startHAProxy, 5*time.Second) }

// TestIntegrationLyingMemberHAProxy is TestLyingMember with HAProxy as the
// data plane (the neighbours' answers counted in its stick tables).
func TestIntegrationLyingMemberHAProxy(t *testing.T) { testLyingMember(t, startHAProxy, time.Second) }
