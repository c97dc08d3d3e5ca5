package lograte_test

import (
	"log/slog"
	"os"
	"time"

	"github.com/dfaas-go/dfaas/internal/lograte"
)

func Example() {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{} // no time stamp, for a stable output
			}
			return a
		},
	})
	l := lograte.New(slog.New(h), lograte.Options{Interval: 10 * time.Second, Burst: 2, Now: clock})
	for i := range 8820 {
		l.Warn("not_member", "handshake refused: not a member", "peer", i)
		now = now.Add(time.Millisecond)
	}
	now = now.Add(2 * time.Second)
	l.Flush()
	// Output:
	// level=WARN msg="handshake refused: not a member" peer=0
	// level=WARN msg="handshake refused: not a member" peer=1
	// level=WARN msg="handshake refused: not a member (repeated)" suppressed=8818 logged=2 window=10.82s first.at=2025-01-01T00:00:00.002Z first.peer=2 last.at=2025-01-01T00:00:08.819Z last.peer=8819
}
