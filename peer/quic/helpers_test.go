package quic

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// testLogger logs to the test's output at debug level with -v and
// DFAAS_TEST_DEBUG=1, else discards.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("DFAAS_TEST_DEBUG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func mustKey(t testing.TB) *Key {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fastConfig returns a loopback config with short timers for tests.
func fastConfig(t testing.TB, k *Key) Config {
	return Config{
		Listen:           "127.0.0.1:0",
		Key:              k,
		PingInterval:     100 * time.Millisecond,
		DownAfter:        600 * time.Millisecond,
		ExpireAfter:      3 * time.Second,
		HandshakeTimeout: 2 * time.Second,
		MinBackoff:       50 * time.Millisecond,
		MaxBackoff:       500 * time.Millisecond,
		GossipInterval:   100 * time.Millisecond,
		Logger:           testLogger(t),
	}
}

func listen(t testing.TB, c Config) *Transport {
	t.Helper()
	tr, err := Listen(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// startNet starts n transports, the first with no bootstrap peer and the
// others given only the first; edit, if not nil, changes each config.
func startNet(t testing.TB, n int, edit func(i int, c *Config)) []*Transport {
	t.Helper()
	ts := make([]*Transport, n)
	for i := range ts {
		c := fastConfig(t, mustKey(t))
		if i > 0 {
			c.Bootstrap = []Addr{ts[0].Self()}
		}
		if edit != nil {
			edit(i, &c)
		}
		ts[i] = listen(t, c)
	}
	return ts
}

// upPeers returns the IDs tr lists as up.
func upPeers(tr *Transport) map[peer.ID]bool {
	up := map[peer.ID]bool{}
	for _, in := range tr.Peers() {
		if in.Up {
			up[in.ID] = true
		}
	}
	return up
}

// fullyConnected reports whether every transport lists every other one as
// up.
func fullyConnected(ts []*Transport) bool {
	for _, a := range ts {
		up := upPeers(a)
		for _, b := range ts {
			if a != b && !up[b.LocalID()] {
				return false
			}
		}
	}
	return true
}

// eventually polls cond every 10ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
