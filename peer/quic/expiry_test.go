package quic

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// A member whose federation certificate expires while it is connected is
// reported down at the instant of expiry, disconnected within one
// maintenance round (100 ms) and refused when it reconnects; this holds
// whether the expiring member dialled or was dialled.
func TestCertificateExpiryOnLiveConnection(t *testing.T) {
	t.Parallel() // waits on timers (certificate validity, ExpireAfter) more than it works
	for _, expiringDials := range []bool{true, false} {
		name := "expiring member dials"
		if !expiringDials {
			name = "expiring member is dialled"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fed := newFederation(t)
			// DownAfter at 3 s: on a loaded machine (-race beside
			// other jobs) pings 600 ms apart were missed and b was
			// reported down, silent, before its certificate expired; the
			// expiry is told apart by a's count of expired peers below.
			loaded := func(c Config) Config { c.DownAfter = 3 * time.Second; return c }
			ca := loaded(fed.config(time.Now().Add(time.Hour)))
			// Certificates count whole seconds: this one ends 8 to 9 s
			// from now, time enough to connect on a loaded machine.
			notAfter := time.Now().Add(9 * time.Second).Truncate(time.Second)
			cb := loaded(fed.config(notAfter))
			var a, b *Transport
			if expiringDials {
				a = listen(t, ca)
				cb.Bootstrap = []Addr{a.Self()}
				b = listen(t, cb)
			} else {
				b = listen(t, cb)
				ca.Bootstrap = []Addr{b.Self()}
				a = listen(t, ca)
			}
			pair := []*Transport{a, b}
			eventually(t, time.Until(notAfter), "connected", func() bool { return fullyConnected(pair) })
			if err := b.Send(context.Background(), a.LocalID(), []byte("before")); err != nil {
				t.Fatal(err)
			}
			expectMessage(t, a, "before", 30*time.Second)

			// a disconnects b as soon as its certificate expires (counted
			// as expired, never before notAfter), reports it down and
			// closes the connection: b sees a down too.
			expired := func() uint64 { return a.Stats().Rejected[RejectExpired] }
			if n := expired(); n != 0 {
				t.Fatalf("%d expired peers before the expiry", n)
			}
			eventually(t, time.Until(notAfter)+30*time.Second, "b disconnected by a as expired", func() bool { return expired() > 0 })
			downAt := time.Now()
			if !downAt.After(notAfter) {
				t.Fatalf("b disconnected as expired at %v, before its certificate expired (%v)", downAt, notAfter)
			}
			eventually(t, 30*time.Second, "b reported down by a", func() bool { return !upPeers(a)[b.LocalID()] })
			eventually(t, 30*time.Second, "a's connection to b closed", func() bool { return !upPeers(b)[a.LocalID()] })
			// Closed by a, not found silent by b after DownAfter (3 s).
			if d := time.Since(notAfter); d > 2*time.Second {
				t.Errorf("connection closed %v after expiry", d)
			}
			t.Logf("disconnected %v after expiry; connection closed within %v", downAt.Sub(notAfter).Round(time.Millisecond), time.Since(notAfter).Round(time.Millisecond))
			if err := a.Send(context.Background(), b.LocalID(), []byte("after")); !errors.Is(err, peer.ErrUnknownPeer) {
				t.Fatalf("Send to the expired member: err = %v, want ErrUnknownPeer", err)
			}

			// Reconnections (b redials a, or a redials b, with backoff)
			// are refused: a counts them, and never lists b up again.
			before := a.Stats().Rejected[RejectExpired]
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) && a.Stats().Rejected[RejectExpired] < before+2 {
				if upPeers(a)[b.LocalID()] || upPeers(b)[a.LocalID()] {
					t.Fatal("the expired member is connected again")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := a.Stats().Rejected[RejectExpired]; got < before+2 {
				t.Fatalf("expired rejections %d -> %d, want reconnections refused", before, got)
			}
			select {
			case m := <-a.Recv():
				t.Fatalf("a received %q from the expired member", m.Data)
			default:
			}
		})
	}
}

// A node whose own federation certificate has expired (or is not valid
// yet) says so at warning level, once.
func TestOwnCertificateValidityLogged(t *testing.T) {
	fed := newFederation(t)
	for _, tt := range []struct {
		name     string
		from, to time.Duration
		msg      string
	}{
		{"expired", -2 * time.Hour, -time.Hour, "this node's federation certificate has expired: federation peers refuse it; issue a new one (dfaas keygen --issue)"},
		{"not yet valid", time.Hour, 2 * time.Hour, "this node's federation certificate is not valid yet: federation peers refuse it until then"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := newLogRecorder()
			k := mustKey(t)
			p, err := IssueCertificate(fed.key, k.ID(), time.Now().Add(tt.from), time.Now().Add(tt.to))
			if err != nil {
				t.Fatal(err)
			}
			der, err := ParseCertificate(p)
			if err != nil {
				t.Fatal(err)
			}
			c := fastConfig(t, k)
			c.Federation, c.Certificate, c.Logger = []peer.ID{fed.key.ID()}, der, slog.New(logs)
			tr := listen(t, c)
			time.Sleep(3 * maintainTick) // maintenance rounds must not repeat it
			tr.Close()
			if n, _ := logs.count(tt.msg); n != 1 {
				t.Fatalf("%d warnings %q; logs: %v", n, tt.msg, logs.messages())
			}
		})
	}
}
