package dataplane

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// maxSamples bounds the latencies a load run keeps per connection.
const maxSamples = 1 << 20

// loadResult is what one load run measured.
type loadResult struct {
	requests  int64
	errors    int64
	statuses  map[int]int64
	elapsed   time.Duration
	latencies []time.Duration
}

// request is a keep-alive HTTP/1.1 POST with a one-byte body.
func request(addr, path string) []byte {
	return fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx", path, addr)
}

// worker sends requests on one connection (reconnecting after an error)
// until ctx is done. With interval > 0 it paces them (open loop: each
// request is due interval after the previous one was due, and its latency
// counts from when it was due); else it sends the next as soon as the
// previous is answered (closed loop).
type worker struct {
	addr     string
	req      []byte
	interval time.Duration
	offset   time.Duration
	res      loadResult
}

func (w *worker) run(ctx context.Context, start time.Time) {
	w.res.statuses = map[int]int64{}
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	due := start.Add(w.offset)
	for ctx.Err() == nil {
		t0 := time.Now()
		if w.interval > 0 {
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
			t0 = due
			due = due.Add(w.interval)
		}
		if conn == nil {
			var err error
			var d net.Dialer
			if conn, err = d.DialContext(ctx, "tcp", w.addr); err != nil {
				w.res.errors++
				continue
			}
			br = bufio.NewReaderSize(conn, 4096)
		}
		code, closed, err := roundTrip(conn, br, w.req)
		if err != nil || closed {
			conn.Close()
			conn = nil
		}
		if err != nil {
			if ctx.Err() == nil {
				w.res.errors++
			}
			continue
		}
		w.res.requests++
		w.res.statuses[code]++
		if len(w.res.latencies) < maxSamples {
			w.res.latencies = append(w.res.latencies, time.Since(t0))
		}
	}
}

// roundTrip sends req on conn and reads the whole response; closed
// reports that the server closes the connection.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (code int, closed bool, err error) {
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(req); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Close, err
}

// load drives addr with conns connections for d: a closed loop if rate is
// 0, else rate requests per second in all, paced.
func load(ctx context.Context, addr, path string, conns int, rate float64, d time.Duration) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	req := request(addr, path)
	ws := make([]*worker, conns)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(conns) / rate * float64(time.Second))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range ws {
		ws[i] = &worker{addr: addr, req: req, interval: interval, offset: interval * time.Duration(i) / time.Duration(conns)}
		wg.Go(func() { ws[i].run(ctx, start) })
	}
	wg.Wait()
	res := loadResult{elapsed: time.Since(start), statuses: map[int]int64{}}
	for _, w := range ws {
		res.requests += w.res.requests
		res.errors += w.res.errors
		for k, v := range w.res.statuses {
			res.statuses[k] += v
		}
		res.latencies = append(res.latencies, w.res.latencies...)
	}
	return res
}

// add accumulates r into l.
func (l *loadResult) add(r loadResult) {
	l.requests += r.requests
	l.errors += r.errors
	l.elapsed += r.elapsed
	for k, v := range r.statuses {
		l.statuses[k] += v
	}
	l.latencies = append(l.latencies, r.latencies...)
}

// percentile returns the p-quantile (0 < p <= 1) of sorted durations, 0
// for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortDurations(d []time.Duration) { slices.Sort(d) }
