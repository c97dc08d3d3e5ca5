package quic

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/dfaas-go/dfaas/peer"
)

// clientTLSFor returns the TLS settings of a hand-made client with key k.
func clientTLSFor(t testing.TB, k *Key) *tls.Config {
	der, err := selfSigned(k)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k.priv}},
		NextProtos:         []string{ALPN},
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS13,
	}
}

// connectOnce connects to addr, exchanges hellos and closes; it reports
// whether the hello exchange succeeded. With qt nil it uses a new socket.
func connectOnce(qt *quicgo.Transport, addr *net.UDPAddr, conf *tls.Config) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	qconf := &quicgo.Config{HandshakeIdleTimeout: 2 * time.Second}
	var qc *quicgo.Conn
	var err error
	if qt != nil {
		qc, err = qt.Dial(ctx, addr, conf, qconf)
	} else {
		qc, err = quicgo.DialAddr(ctx, addr.String(), conf, qconf)
	}
	if err != nil {
		return false
	}
	defer qc.CloseWithError(0, "")
	ctrl, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return false
	}
	if _, err := ctrl.Write(hello{Version: ProtocolVersion, MaxMessage: 1 << 16}.append(nil)); err != nil {
		return false
	}
	ctrl.SetReadDeadline(time.Now().Add(2 * time.Second))
	typ, _, err := readFrame(ctrl, maxControlFrame)
	return err == nil && typ == frameHello
}

// maxDamped bounds the connections of a peer that reconnects in a loop
// for d: two before the damping starts, one per backoff step up to
// MaxBackoff, then one per MaxBackoff (less its jitter).
func maxDamped(c Config, d time.Duration) int {
	steps := 1
	for b := c.MinBackoff; b < c.MaxBackoff; b *= 2 {
		steps++
	}
	return 2 + steps + int(d/(c.MaxBackoff*8/10)) + 1
}

// A member that reconnects in a loop (connect, hello, close, again) is
// held to the backoff: the node accepts a few of its connections, refuses
// the rest cheaply, and logs O(1) lines.
func TestReconnectLoopDamped(t *testing.T) {
	for _, sameSocket := range []bool{false, true} {
		name := "new socket each time"
		if sameSocket {
			name = "one socket"
		}
		t.Run(name, func(t *testing.T) {
			logs := newLogRecorder()
			c := fastConfig(t, mustKey(t))
			c.Logger = slog.New(logs)
			hub := listen(t, c)
			k := mustKey(t)
			conf := clientTLSFor(t, k)
			addr := hub.Addr().(*net.UDPAddr)
			var qt *quicgo.Transport
			if sameSocket {
				udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				qt = &quicgo.Transport{Conn: udp}
				t.Cleanup(func() { qt.Close(); udp.Close() })
			}
			// A fixed number of attempts (at most 20 s of them on a
			// loaded machine): the bound depends on the time they took.
			const want = 100
			cpu0, start := cpuTime(), time.Now()
			attempts, hellos := 0, 0
			for attempts < want && time.Since(start) < 20*time.Second {
				attempts++
				if connectOnce(qt, addr, conf) {
					hellos++
				}
			}
			elapsed, cpu := time.Since(start), cpuTime()-cpu0
			st := hub.Stats()
			_, lines := logs.count("")
			t.Logf("%d attempts in %v: %d hellos answered, %d connections registered, %d attempts refused (reconnect_rate); %d log records; process CPU %v (client and node)",
				attempts, elapsed.Round(time.Millisecond), hellos, st.Connects, st.Rejected[RejectReconnect], lines, cpu.Round(time.Millisecond))
			limit := maxDamped(c, elapsed)
			if int(st.Connects) > limit {
				t.Errorf("%d connections registered in %v, want at most %d", st.Connects, elapsed, limit)
			}
			if attempts > limit && st.Rejected[RejectReconnect] == 0 {
				t.Errorf("%d attempts, none refused: the loop was not damped", attempts)
			}
			// Per kind (peer up, peer down, refused, flapping, dial
			// failed) at most 5 lines in a window, plus the listening
			// line.
			if lines > 5*5+1 {
				t.Errorf("%d log records: %v", lines, logs.messages())
			}
			// The damping ends: after a quiet spell the peer connects.
			eventually(t, 10*c.MaxBackoff, "the peer accepted again after waiting", func() bool {
				return connectOnce(qt, addr, conf)
			})
		})
	}
}

// A peer that accepts connections and closes them at once is not dialled
// in a loop: the dialling node backs off.
func TestDialLoopDamped(t *testing.T) {
	k := mustKey(t)
	conf := clientTLSFor(t, k)
	conf.ClientAuth = tls.RequireAnyClientCert
	ln, err := quicgo.ListenAddr("127.0.0.1:0", conf, &quicgo.Config{MaxIncomingStreams: 1})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	accepted := 0
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			qc, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			wg.Go(func() {
				defer qc.CloseWithError(0, "bye")
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				ctrl, err := qc.AcceptStream(ctx)
				if err != nil {
					return
				}
				if _, _, err := readFrame(ctrl, maxControlFrame); err != nil {
					return
				}
				ctrl.Write(hello{Version: ProtocolVersion, MaxMessage: 1 << 16}.append(nil))
				mu.Lock()
				accepted++
				mu.Unlock()
				time.Sleep(10 * time.Millisecond) // let the hello go out
			})
		}
	})
	c := fastConfig(t, mustKey(t))
	c.Bootstrap = []Addr{{HostPort: ln.Addr().String(), ID: k.ID()}}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return accepted
	}
	start := time.Now()
	tr := listen(t, c)
	// Watch for 3 s, or until the peer has seen 3 connections on a
	// loaded machine.
	eventually(t, 20*time.Second, "3 connections and 3 s", func() bool {
		return time.Since(start) >= 3*time.Second && count() >= 3
	})
	elapsed, n := time.Since(start), count()
	t.Logf("%v: %d dials, %d connections", elapsed.Round(time.Millisecond), tr.Stats().Dials, n)
	if limit := maxDamped(c, elapsed); n > limit {
		t.Errorf("%d connections to a peer that closes them at once in %v, want at most %d", n, elapsed, limit)
	}
}

// A flood of handshakes from non-members is refused entirely and logged
// in O(1) lines per LogInterval, summarised with counts.
//
// The limiter logs a burst again after a window with no refusal at all.
// One attempt can take up to 4 s (its time-outs) on a loaded machine, and
// with 1 s windows a slow attempt left one empty now and then: "7 lines
// and 4 summaries for 100 refusals in 6 windows" (1 in 3 under load). With
// 5 s windows the flood leaves none empty, and the test holds it to one
// burst.
func TestNonMemberFloodLogsBounded(t *testing.T) {
	logs := newLogRecorder()
	c := fastConfig(t, mustKey(t))
	c.Members = []peer.ID{mustKey(t).ID()}
	c.LogInterval = 5 * time.Second
	c.Logger = slog.New(logs)
	hub := listen(t, c)
	keys := []*Key{mustKey(t), mustKey(t), mustKey(t)}
	confs := make([]*tls.Config, len(keys))
	for i, k := range keys {
		confs[i] = clientTLSFor(t, k)
	}
	addr := hub.Addr().(*net.UDPAddr)
	const n = 100
	start := time.Now()
	for i := range n {
		if connectOnce(nil, addr, confs[i%len(confs)]) {
			t.Fatal("a non-member completed the hello exchange")
		}
	}
	// Every refusal is accounted for: logged, or counted in a summary.
	const msg = "peer refused: not a member"
	var refused int
	eventually(t, 10*c.LogInterval, "summary of the refusals", func() bool {
		refused = int(hub.Stats().Rejected[RejectNotMember])
		logged, _ := logs.count(msg)
		return refused > 0 && logged+logs.suppressed(msg) == refused
	})
	if refused < n/2 {
		t.Fatalf("%d of %d attempts refused", refused, n)
	}
	elapsed := time.Since(start)
	logged, total := logs.count(msg)
	summaries, _ := logs.count(msg + " (repeated)")
	t.Logf("%d attempts, %d refusals in %v: %d logged as they came, %d summary lines, %d records in all",
		n, refused, elapsed.Round(time.Millisecond), logged, summaries, total)
	windows := int(elapsed/c.LogInterval) + 1
	if logged > 5 || summaries > windows+1 {
		t.Fatalf("%d lines and %d summaries for %d refusals in %d windows", logged, summaries, n, windows)
	}
}
