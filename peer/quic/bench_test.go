package quic

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/strategy"
)

var benchPeriod = flag.Duration("bench.period", 5*time.Second, "control period of BenchmarkFederation (the agent's default is 5s)")

// announcement returns a peer message of realistic size: the agent's wire
// format (dfaas.StateMessage, written out here so that this package's
// tests do not depend on the root package) for a node running 8 functions,
// with a grant per function to the recipient.
func announcement(b *testing.B, seq uint64, to peer.ID) []byte {
	ann := strategy.Announcement{Resources: strategy.Resources{CPU: 1.7, CPUCores: 4, Memory: 3.1e9, MemoryTotal: 8e9}}
	for i := range 8 {
		name := fmt.Sprintf("function-%d", i)
		ann.Functions = append(ann.Functions, strategy.FunctionState{
			Name: name, Deployed: true, Capacity: 123.4, Offered: 87.65, Load: 80.1, Spare: 35.75, Excess: 0,
		})
		ann.Grants = append(ann.Grants, strategy.Grant{To: strategy.NodeID(to), Function: name, Rate: 4.375})
	}
	data, err := json.Marshal(map[string]any{
		"v": 1, "type": "state", "seq": seq, "proxy": "http://10.0.0.1:8080",
		"token": hex.EncodeToString(make([]byte, 32)), "ann": ann,
	})
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFederation runs n transports in this process on loopback, with
// the default timers, each given only the first as bootstrap peer. It
// reports the time from the first Listen to a fully connected federation
// (connect-s), waits 3s, then runs b.N control periods of -bench.period in real
// time; in each, every node sends its announcement to every other one (as
// the agent does). Per node and period it reports the QUIC bytes sent
// (B/node/period: announcements, pings, gossip, acknowledgements) and the
// process CPU time (cpu-ms/node/period). The baseline, mem/n=N, runs the
// same periods over peer.MemNetwork (no network, no encryption) and reports
// its CPU time.
func BenchmarkFederation(b *testing.B) {
	for _, n := range []int{10, 50, 100} {
		b.Run(fmt.Sprintf("quic/n=%d", n), func(b *testing.B) { benchFederation(b, n, false) })
		b.Run(fmt.Sprintf("mem/n=%d", n), func(b *testing.B) { benchFederation(b, n, true) })
	}
}

func benchFederation(b *testing.B, n int, mem bool) {
	start := time.Now()
	var ts []peer.Transport
	var qs []*Transport
	if mem {
		net := peer.NewMemNetwork(peer.MemNetworkOptions{})
		defer net.Close()
		for range n {
			tr, err := net.Join(mustKey(b).ID())
			if err != nil {
				b.Fatal(err)
			}
			ts = append(ts, tr)
		}
	} else {
		for i := range n {
			c := Config{Listen: "127.0.0.1:0", Key: mustKey(b), Logger: testLogger(b)}
			if i > 0 {
				c.Bootstrap = []Addr{qs[0].Self()}
			}
			tr, err := Listen(c)
			if err != nil {
				b.Fatal(err)
			}
			qs = append(qs, tr)
			ts = append(ts, tr)
		}
	}
	var received atomic.Int64
	var drain sync.WaitGroup
	defer func() {
		for _, tr := range ts {
			tr.Close()
		}
		drain.Wait()
	}()
	for _, tr := range ts {
		drain.Go(func() {
			for range tr.Recv() {
				received.Add(1)
			}
		})
	}
	deadline := start.Add(2 * time.Minute)
	for !fullyConnected(qs) {
		if time.Now().After(deadline) {
			b.Fatalf("not fully connected after %v", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	connect := time.Since(start)
	// Let the traffic of new connections (path MTU probes, session
	// tickets, connection IDs) settle: the periods measure steady state.
	if !mem {
		time.Sleep(3 * time.Second)
	}

	bytesSent := func() (s uint64) {
		for _, tr := range qs {
			s += tr.Stats().BytesSent
		}
		return s
	}
	// Packets QUIC declared lost on the live connections (loopback drops
	// datagrams when a socket's receive buffer is full).
	packetsLost := func() (s uint64) {
		for _, tr := range qs {
			tr.mu.Lock()
			for _, m := range tr.members {
				if m.conn != nil {
					s += m.conn.qc.ConnectionStats().PacketsLost
				}
			}
			tr.mu.Unlock()
		}
		return s
	}
	msgs := make([][][]byte, n)
	for i := range ts {
		for j := range ts {
			msgs[i] = append(msgs[i], announcement(b, 1, ts[j].LocalID()))
		}
	}
	want := int64(b.N * n * (n - 1))
	received.Store(0)
	bytes0, lost0, cpu0 := bytesSent(), packetsLost(), cpuTime()
	b.ResetTimer()
	for range b.N {
		periodEnd := time.Now().Add(*benchPeriod)
		ctx, cancel := context.WithDeadline(context.Background(), periodEnd)
		var wg sync.WaitGroup
		for i, tr := range ts {
			wg.Go(func() {
				for j, to := range ts {
					if i != j {
						if err := tr.Send(ctx, to.LocalID(), msgs[i][j]); err != nil {
							b.Errorf("send: %v", err)
						}
					}
				}
			})
		}
		wg.Wait()
		cancel()
		time.Sleep(time.Until(periodEnd))
	}
	b.StopTimer()
	bytes1, lost1, cpu1 := bytesSent(), packetsLost(), cpuTime()
	per := float64(n * b.N)
	if !mem {
		b.ReportMetric(connect.Seconds(), "connect-s")
		b.ReportMetric(float64(bytes1-bytes0)/per, "B/node/period")
		b.ReportMetric(float64(lost1-lost0)/per, "lost-pkts/node/period")
	}
	b.ReportMetric(float64(cpu1-cpu0)/float64(time.Millisecond)/per, "cpu-ms/node/period")
	b.ReportMetric(float64(len(msgs[0][1])), "B/announcement")
	b.ReportMetric(float64(want-received.Load()), "lost")
}
