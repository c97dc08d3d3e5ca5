package quic

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
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

// expectMessage fails t unless tr receives a message with data want
// within d.
func expectMessage(t testing.TB, tr *Transport, want string, d time.Duration) {
	t.Helper()
	select {
	case m := <-tr.Recv():
		if string(m.Data) != want {
			t.Fatalf("received %q, want %q", m.Data, want)
		}
	case <-time.After(d):
		t.Fatalf("no message %q within %v", want, d)
	}
}

// holds checks cond every 10ms for d and fails at the first time it does
// not hold: an observation window for what must not happen (no event can
// say it did not).
func holds(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !cond() {
			t.Fatalf("%s: broken within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logRecorder is a slog.Handler that counts the records it gets, by
// message, and keeps the summaries (records of internal/lograte).
type logRecorder struct {
	mu        sync.Mutex
	total     int
	byMsg     map[string]int
	summaries []slog.Record
}

func newLogRecorder() *logRecorder { return &logRecorder{byMsg: map[string]int{}} }

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	r.byMsg[rec.Message]++
	if strings.HasSuffix(rec.Message, " (repeated)") {
		r.summaries = append(r.summaries, rec.Clone())
	}
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// count returns the records with message msg, and all records.
func (r *logRecorder) count(msg string) (n, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byMsg[msg], r.total
}

// messages returns the number of records by message.
func (r *logRecorder) messages() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.byMsg)
}

// suppressed sums the "suppressed" counts of the summaries of msg.
func (r *logRecorder) suppressed(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.summaries {
		if rec.Message != msg+" (repeated)" {
			continue
		}
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "suppressed" {
				n += int(a.Value.Int64())
			}
			return true
		})
	}
	return n
}

// federation is a federation key that issues certificates in tests.
type federation struct {
	t   testing.TB
	key *Key
}

func newFederation(t testing.TB) *federation { return &federation{t: t, key: mustKey(t)} }

// cert returns a DER certificate for k valid from an hour ago to notAfter.
func (f *federation) cert(k *Key, notAfter time.Time) []byte {
	f.t.Helper()
	p, err := IssueCertificate(f.key, k.ID(), time.Now().Add(-time.Hour), notAfter)
	if err != nil {
		f.t.Fatal(err)
	}
	der, err := ParseCertificate(p)
	if err != nil {
		f.t.Fatal(err)
	}
	return der
}

// config returns fastConfig for a new member key holding a certificate
// valid until notAfter.
func (f *federation) config(notAfter time.Time) Config {
	k := mustKey(f.t)
	c := fastConfig(f.t, k)
	c.Federation = []peer.ID{f.key.ID()}
	c.Certificate = f.cert(k, notAfter)
	return c
}
