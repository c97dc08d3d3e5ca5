package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Options configure a Limiter. The zero value gives the defaults.
type Options struct {
	// Interval is the length of a counting window. If zero, 10s.
	Interval time.Duration
	// Burst is the number of records of a kind logged as they come in a
	// window that follows a quiet one. If zero, 5.
	Burst int
	// MaxKinds bounds the kinds tracked at once; records of further kinds
	// share one overflow kind. If zero, 1024.
	MaxKinds int
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// OverflowKind is the kind shared by records of kinds beyond MaxKinds.
const OverflowKind = "lograte overflow"

// Limiter limits repeated log records; see the package documentation. It
// is safe for concurrent use.
type Limiter struct {
	log *slog.Logger
	o   Options

	mu    sync.Mutex
	kinds map[string]*kind
}

// kind is the state of one kind of record in its current window.
type kind struct {
	level      slog.Level
	msg        string
	start      time.Time
	burst      int // records to log as they come in this window
	logged     int
	suppressed int
	first      []any // arguments of the first suppressed record
	firstAt    time.Time
	last       []any
	lastAt     time.Time
}

// New returns a Limiter that writes to log.
func New(log *slog.Logger, o Options) *Limiter {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Burst <= 0 {
		o.Burst = 5
	}
	if o.MaxKinds <= 0 {
		o.MaxKinds = 1024
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Limiter{log: log, o: o, kinds: map[string]*kind{}}
}

// Logger returns the logger the Limiter writes to.
func (l *Limiter) Logger() *slog.Logger { return l.log }

// Log logs msg with args (as slog.Logger.Log takes them) at level, or
// counts it if records of the same kind were already logged Burst times in
// the current window. The kind should come from a bounded set (a constant,
// or a constant and the ID of a known peer): it is what repeats.
func (l *Limiter) Log(ctx context.Context, level slog.Level, kindName, msg string, args ...any) {
	if !l.log.Enabled(ctx, level) {
		return
	}
	now := l.o.Now()
	l.mu.Lock()
	k, summary := l.kindAt(kindName, level, msg, now)
	logNow := k.logged < k.burst
	if logNow {
		k.logged++
	} else {
		if k.suppressed == 0 {
			k.first, k.firstAt = args, now
		}
		k.suppressed++
		k.last, k.lastAt = args, now
	}
	l.mu.Unlock()
	if summary != nil {
		summary.write(ctx, l.log)
	}
	if logNow {
		l.log.Log(ctx, level, msg, args...)
	}
}

// Warn logs at warning level; see Log.
func (l *Limiter) Warn(kindName, msg string, args ...any) {
	l.Log(context.Background(), slog.LevelWarn, kindName, msg, args...)
}

// Info logs at info level; see Log.
func (l *Limiter) Info(kindName, msg string, args ...any) {
	l.Log(context.Background(), slog.LevelInfo, kindName, msg, args...)
}

// Debug logs at debug level; see Log.
func (l *Limiter) Debug(kindName, msg string, args ...any) {
	l.Log(context.Background(), slog.LevelDebug, kindName, msg, args...)
}

// kindAt returns the state of a kind for a record at now, starting a new
// window if the last one ended; it returns the summary of that window, if
// records were left out of it. l.mu must be held.
func (l *Limiter) kindAt(name string, level slog.Level, msg string, now time.Time) (*kind, *summaryRecord) {
	k := l.kinds[name]
	if k == nil {
		if len(l.kinds) >= l.o.MaxKinds {
			name, msg = OverflowKind, "log records of further kinds"
			if k = l.kinds[name]; k != nil {
				return l.roll(k, now)
			}
		}
		k = &kind{level: level, msg: msg, start: now, burst: l.o.Burst}
		l.kinds[name] = k
		return k, nil
	}
	return l.roll(k, now)
}

// roll starts a new window for k if its window ended by now. A window
// that follows one with records left out logs none as they come (the
// repetition goes on: its summary says it all); the burst comes back after
// a window with nothing left out.
func (l *Limiter) roll(k *kind, now time.Time) (*kind, *summaryRecord) {
	if now.Sub(k.start) < l.o.Interval {
		return k, nil
	}
	s := k.summary(now)
	k.burst = l.o.Burst
	if s != nil {
		k.burst = 0
	}
	k.start, k.logged, k.suppressed = now, 0, 0
	k.first, k.last = nil, nil
	return k, s
}

// Flush writes the summaries of the windows that have ended and forgets
// the kinds that were quiet in them. Call it about once per Interval.
func (l *Limiter) Flush() {
	now := l.o.Now()
	var out []*summaryRecord
	l.mu.Lock()
	for name, k := range l.kinds {
		if now.Sub(k.start) < l.o.Interval {
			continue
		}
		if s := k.summary(now); s != nil {
			out = append(out, s)
			// Keep the kind with no burst: the next record after a flood
			// is counted, not logged, until a quiet window passes.
			k.start, k.logged, k.suppressed, k.burst = now, 0, 0, 0
			k.first, k.last = nil, nil
			continue
		}
		delete(l.kinds, name)
	}
	l.mu.Unlock()
	for _, s := range out {
		s.write(context.Background(), l.log)
	}
}

// summaryRecord is the record that summarises a window.
type summaryRecord struct {
	level slog.Level
	msg   string
	args  []any
}

// summary returns the summary of k's window, which ends at now, or nil if
// nothing was left out of it.
func (k *kind) summary(now time.Time) *summaryRecord {
	if k.suppressed == 0 {
		return nil
	}
	first := append([]any{slog.Time("at", k.firstAt)}, k.first...)
	last := append([]any{slog.Time("at", k.lastAt)}, k.last...)
	return &summaryRecord{
		level: k.level,
		msg:   k.msg + " (repeated)",
		args: []any{
			slog.Int("suppressed", k.suppressed),
			slog.Int("logged", k.logged),
			slog.Duration("window", now.Sub(k.start).Round(time.Millisecond)),
			slog.Group("first", first...),
			slog.Group("last", last...),
		},
	}
}

func (s *summaryRecord) write(ctx context.Context, log *slog.Logger) {
	log.Log(ctx, s.level, s.msg, s.args...)
}
