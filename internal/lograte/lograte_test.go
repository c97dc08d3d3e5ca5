package lograte

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// recorder is a slog.Handler that keeps the records it gets.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) take() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.recs
	r.recs = nil
	return out
}

// attrs flattens a record's attributes to "group.key" -> value.
func attrs(rec slog.Record) map[string]slog.Value {
	out := map[string]slog.Value{}
	var walk func(prefix string, a slog.Attr)
	walk = func(prefix string, a slog.Attr) {
		if a.Value.Kind() == slog.KindGroup {
			for _, g := range a.Value.Group() {
				walk(prefix+a.Key+".", g)
			}
			return
		}
		out[prefix+a.Key] = a.Value
	}
	rec.Attrs(func(a slog.Attr) bool { walk("", a); return true })
	return out
}

// clock is a manual clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Unix(1_700_000_000, 0)} }
func newLimiter(c *clock, r *recorder, burst int) *Limiter {
	return New(slog.New(r), Options{Interval: 10 * time.Second, Burst: burst, MaxKinds: 4, Now: c.now})
}

func TestBurstThenSummary(t *testing.T) {
	c, r := newClock(), &recorder{}
	l := newLimiter(c, r, 3)
	for i := range 1000 {
		l.Warn("refused", "handshake refused", "peer", i)
		c.advance(time.Millisecond) // 1000 records in 1s
	}
	recs := r.take()
	if len(recs) != 3 {
		t.Fatalf("%d records logged during the burst, want 3", len(recs))
	}
	for i, rec := range recs {
		if rec.Message != "handshake refused" || attrs(rec)["peer"].Int64() != int64(i) {
			t.Fatalf("record %d: %q %v", i, rec.Message, attrs(rec))
		}
	}
	c.advance(9 * time.Second) // the window has ended
	l.Flush()
	recs = r.take()
	if len(recs) != 1 {
		t.Fatalf("%d records at flush, want one summary", len(recs))
	}
	s, a := recs[0], attrs(recs[0])
	if s.Message != "handshake refused (repeated)" || s.Level != slog.LevelWarn {
		t.Fatalf("summary %v %q", s.Level, s.Message)
	}
	for key, want := range map[string]int64{"suppressed": 997, "logged": 3, "first.peer": 3, "last.peer": 999} {
		if got := a[key].Int64(); got != want {
			t.Errorf("%s = %d, want %d", key, got, want)
		}
	}
	if got := a["window"].Duration(); got != 10*time.Second {
		t.Errorf("window %v, want 10s", got)
	}
	if got := a["last.at"].Time().Sub(a["first.at"].Time()); got != 996*time.Millisecond {
		t.Errorf("first to last %v", got)
	}
}

// A flood that goes on gives one summary line per interval, and the burst
// comes back after a quiet interval.
func TestSustainedFloodOneLinePerInterval(t *testing.T) {
	c, r := newClock(), &recorder{}
	l := newLimiter(c, r, 5)
	const intervals = 10
	for range intervals {
		for range 500 {
			l.Warn("refused", "handshake refused")
			c.advance(20 * time.Millisecond)
		}
		l.Flush()
	}
	recs := r.take()
	// 5 at the start, then one summary per interval.
	if want := 5 + intervals; len(recs) != want {
		t.Fatalf("%d records for %d intervals of flood, want %d", len(recs), intervals, want)
	}
	total := 5
	for _, rec := range recs[5:] {
		total += int(attrs(rec)["suppressed"].Int64())
	}
	if total != intervals*500 {
		t.Fatalf("%d records accounted for, want %d", total, intervals*500)
	}
	c.advance(20 * time.Second) // quiet
	l.Flush()
	l.Flush()
	if recs := r.take(); len(recs) != 0 {
		t.Fatalf("records in a quiet interval: %v", recs)
	}
	for range 10 {
		l.Warn("refused", "handshake refused")
	}
	if recs := r.take(); len(recs) != 5 {
		t.Fatalf("%d records after a quiet interval, want the burst of 5", len(recs))
	}
}

// The summary is also written by the next record of its kind, without
// Flush.
func TestSummaryOnNextRecord(t *testing.T) {
	c, r := newClock(), &recorder{}
	l := newLimiter(c, r, 1)
	l.Info("up", "peer up", "n", 1)
	l.Info("up", "peer up", "n", 2)
	c.advance(15 * time.Second)
	l.Info("up", "peer up", "n", 3)
	recs := r.take()
	if len(recs) != 2 || recs[1].Message != "peer up (repeated)" {
		t.Fatalf("records %v", recs)
	}
	if a := attrs(recs[1]); a["suppressed"].Int64() != 1 || a["first.n"].Int64() != 2 || a["window"].Duration() != 15*time.Second {
		t.Fatalf("summary %v", a)
	}
	// The window after a summary logs nothing as it comes.
	c.advance(15 * time.Second)
	l.Info("up", "peer up", "n", 4)
	if recs := r.take(); len(recs) != 1 || attrs(recs[0])["first.n"].Int64() != 3 {
		t.Fatalf("records %v", recs)
	}
}

func TestKindsAreSeparate(t *testing.T) {
	c, r := newClock(), &recorder{}
	l := newLimiter(c, r, 2)
	for range 10 {
		l.Info("a", "a")
		l.Info("b", "b")
	}
	if recs := r.take(); len(recs) != 4 {
		t.Fatalf("%d records, want 2 per kind", len(recs))
	}
}

// Kinds beyond MaxKinds share one; the map stays bounded.
func TestMaxKinds(t *testing.T) {
	c, r := newClock(), &recorder{}
	l := newLimiter(c, r, 1)
	for i := range 1000 {
		l.Info(string(rune('a'+i%26))+string(rune(i)), "event", "i", i)
	}
	if n := len(l.kinds); n > 5 {
		t.Fatalf("%d kinds tracked, MaxKinds 4 (+ overflow)", n)
	}
	if recs := r.take(); len(recs) != 5 {
		t.Fatalf("%d records, want 4 kinds + 1 overflow", len(recs))
	}
	c.advance(10 * time.Second)
	l.Flush()
	recs := r.take()
	if len(recs) != 1 || recs[0].Message != "log records of further kinds (repeated)" || attrs(recs[0])["suppressed"].Int64() != 995 {
		t.Fatalf("overflow summary %v", recs)
	}
	// Quiet kinds are forgotten.
	c.advance(10 * time.Second)
	l.Flush()
	if n := len(l.kinds); n != 0 {
		t.Fatalf("%d kinds kept after a quiet interval", n)
	}
}

func TestDisabledLevelCostsNothing(t *testing.T) {
	c := newClock()
	l := New(slog.New(slog.NewTextHandler(nil, &slog.HandlerOptions{Level: slog.LevelWarn})), Options{Now: c.now})
	for range 100 {
		l.Debug("d", "debug")
	}
	if len(l.kinds) != 0 {
		t.Fatal("disabled records tracked")
	}
}

func TestConcurrent(t *testing.T) {
	r := &recorder{}
	l := New(slog.New(r), Options{Interval: time.Hour, Burst: 3})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 1000 {
				l.Warn("k", "flood", "g", g)
			}
		})
	}
	wg.Wait()
	if recs := r.take(); len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	if k := l.kinds["k"]; k.suppressed != 8000-3 {
		t.Fatalf("suppressed %d", k.suppressed)
	}
}
