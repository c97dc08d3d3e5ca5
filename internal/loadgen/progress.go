package loadgen

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Progress draws a generator's live counts on W while it runs: on a
// terminal, one line redrawn in place ("\r") twice a second; on anything
// else (a file, a pipe), one line per FileEvery, so that a log gets a
// readable line per update and not one long line of redraws.
type Progress struct {
	W      io.Writer
	Label  string        // before the bar
	Total  time.Duration // length of the run, for the bar
	Counts *Counts
	// FileEvery is the interval of lines when W is not a terminal; 0:
	// 5 s.
	FileEvery time.Duration
}

// Run draws from start until done is closed, then draws the final counts
// and ends the line. It does nothing if W is nil.
func (p Progress) Run(start time.Time, done <-chan struct{}) {
	if p.W == nil {
		return
	}
	term := IsTerminal(p.W)
	every := 500 * time.Millisecond
	if !term {
		every = p.FileEvery
		if every <= 0 {
			every = 5 * time.Second
		}
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-done:
			p.draw(time.Since(start), term)
			if term {
				fmt.Fprintln(p.W)
			}
			return
		case <-tick.C:
			p.draw(time.Since(start), term)
		}
	}
}

// draw writes the line for elapsed time el: in place on a terminal, else
// as a line of its own.
func (p Progress) draw(el time.Duration, term bool) {
	el = min(el, p.Total)
	const width = 30
	filled := min(width, int(float64(width)*el.Seconds()/max(p.Total.Seconds(), 1e-9)))
	line := fmt.Sprintf("%s [%s%s] %4.0fs/%.0fs  offered %d  served %d  forwarded %d  rejected %d  failed %d",
		p.Label, strings.Repeat("#", filled), strings.Repeat(".", width-filled), el.Seconds(), p.Total.Seconds(),
		p.Counts.Offered.Load(), p.Counts.Served.Load(), p.Counts.Forwarded.Load(), p.Counts.Rejected.Load(), p.Counts.Failed.Load())
	if term {
		fmt.Fprintf(p.W, "\r%s ", line)
	} else {
		fmt.Fprintln(p.W, line)
	}
}

// IsTerminal reports whether w is a character device (a terminal), where
// a line may be redrawn in place. A writer with an Unwrap() io.Writer
// method (such as one that serialises writes) is judged by what it wraps.
func IsTerminal(w io.Writer) bool {
	for {
		u, ok := w.(interface{ Unwrap() io.Writer })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
