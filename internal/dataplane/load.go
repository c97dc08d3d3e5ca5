package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"os"
	"os/exec"
	"slices"
	"strconv"
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
	// service are the latencies counted from when each request was sent
	// (paced runs only: in a closed loop they are the latencies): a
	// request due while the one before it on its connection is still
	// out waits, and that wait is in latencies but not here.
	service []time.Duration
	dials   int64 // connections opened
}

// request is a keep-alive HTTP/1.1 POST with a one-byte body.
func request(addr, path string) []byte {
	return fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx", path, addr)
}

// worker sends requests on one connection (reconnecting after an error)
// until ctx is done. Paced (dues not nil), it sends one request for each
// due time it takes from dues, whenever it is free, and counts the
// latency from that time (open loop); else it sends the next as soon as
// the previous is answered (closed loop).
//
// Every paced worker takes from one schedule: a request stalled on one
// connection delays none due after it while another connection is free.
// (With a schedule per connection, as before, one stall of 200 ms held
// back the 80 requests due behind it on that connection at 13k req/s
// over 32 connections, and those made the p99.)
type worker struct {
	addr string
	req  []byte
	dues <-chan time.Time
	res  loadResult
}

func (w *worker) run(ctx context.Context) {
	w.res.statuses = map[int]int64{}
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for ctx.Err() == nil {
		t0 := time.Now()
		if w.dues != nil {
			select {
			case <-ctx.Done():
				return
			case due, ok := <-w.dues:
				if !ok {
					return
				}
				t0 = due
			}
		}
		if conn == nil {
			var err error
			var d net.Dialer
			if conn, err = d.DialContext(ctx, "tcp", w.addr); err != nil {
				if ctx.Err() == nil { // a dial cut by the run's end is no error
					w.res.errors++
				}
				continue
			}
			br = bufio.NewReaderSize(conn, 4096)
			w.res.dials++
		}
		sent := time.Now()
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
			now := time.Now()
			w.res.latencies = append(w.res.latencies, now.Sub(t0))
			if w.dues != nil {
				w.res.service = append(w.res.service, now.Sub(sent))
			}
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
	return readResponse(br)
}

// maxHeaderLines bounds the header lines of a response.
const maxHeaderLines = 64

// readResponse reads one HTTP/1.1 response from br and discards its body
// (Content-Length or chunked), allocating nothing for a well-formed one:
// the load generator must cost as little as it can, so that it takes the
// same small share of the CPU from every proxy it drives.
func readResponse(br *bufio.Reader) (code int, closed bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("bad status line %.40q", line)
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, false, fmt.Errorf("bad status line %.40q", line)
		}
		code = code*10 + int(c-'0')
	}
	closed = line[7] == '0' // HTTP/1.0 closes unless told otherwise
	length, chunked := int64(-1), false
	for i := 0; ; i++ {
		if i == maxHeaderLines {
			return 0, false, fmt.Errorf("more than %d header lines", maxHeaderLines)
		}
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("bad header line %.40q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return 0, false, fmt.Errorf("bad Content-Length %.40q", value)
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closed = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		_, err = io.Copy(io.Discard, httputil.NewChunkedReader(br))
		if err == nil { // the trailer, up to its empty line
			for line, err = br.ReadSlice('\n'); err == nil && len(bytes.TrimSpace(line)) > 0; line, err = br.ReadSlice('\n') {
			}
		}
	case length >= 0:
		_, err = br.Discard(int(length))
	default: // the body runs to the end of the connection
		_, err = io.Copy(io.Discard, br)
		closed = true
	}
	return code, closed, err
}

// load drives addr with conns connections for d: a closed loop if rate is
// 0, else rate requests per second in all, paced.
func load(ctx context.Context, addr, path string, conns int, rate float64, d time.Duration) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	req := request(addr, path)
	ws := make([]*worker, conns)
	start := time.Now()
	var wg sync.WaitGroup
	var dues chan time.Time
	if rate > 0 {
		dues = make(chan time.Time)
		interval := time.Duration(float64(time.Second) / rate)
		wg.Go(func() { schedule(ctx, dues, start, start.Add(d), interval) })
	}
	for i := range ws {
		ws[i] = &worker{addr: addr, req: req, dues: dues}
		wg.Go(func() { ws[i].run(ctx) })
	}
	wg.Wait()
	res := loadResult{elapsed: time.Since(start), statuses: map[int]int64{}}
	for _, w := range ws {
		res.requests += w.res.requests
		res.errors += w.res.errors
		res.dials += w.res.dials
		res.service = append(res.service, w.res.service...)
		for k, v := range w.res.statuses {
			res.statuses[k] += v
		}
		res.latencies = append(res.latencies, w.res.latencies...)
	}
	return res
}

// schedule hands out the due times start, start+interval, ... before end
// to whichever worker is free, each not before it falls due (late ones at
// once, keeping their due time), until end or ctx is done; then it closes
// dues.
func schedule(ctx context.Context, dues chan<- time.Time, start, end time.Time, interval time.Duration) {
	defer close(dues)
	timer := time.NewTimer(time.Hour) // reset before each wait
	defer timer.Stop()
	for due := start; due.Before(end); due = due.Add(interval) {
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		select {
		case <-ctx.Done():
			return
		case dues <- due:
		}
	}
}

// add accumulates r into l.
func (l *loadResult) add(r loadResult) {
	l.requests += r.requests
	l.errors += r.errors
	l.dials += r.dials
	l.service = append(l.service, r.service...)
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

// loadJob is one run the load generator child is asked for (a line of
// JSON on its standard input): conns connections to Addr, a closed loop if
// Rate is 0, else Rate requests per second, for Duration.
type loadJob struct {
	Addr     string        `json:"addr"`
	Conns    int           `json:"conns"`
	Rate     float64       `json:"rate"`
	Duration time.Duration `json:"duration"`
}

// check bounds a job.
func (j loadJob) check() error {
	switch {
	case j.Addr == "":
		return errors.New("no address")
	case j.Conns < 1 || j.Conns > 1<<16:
		return fmt.Errorf("connections %d: want 1 to 65536", j.Conns)
	case !(j.Rate >= 0 && j.Rate <= 1e9):
		return fmt.Errorf("rate %v: want 0 to 1e9", j.Rate)
	case j.Duration <= 0 || j.Duration > 24*time.Hour:
		return fmt.Errorf("duration %v: want a positive duration up to 24h", j.Duration)
	}
	return nil
}

// loadReport is what the load generator child answers to a job (a line
// of JSON): its loadResult and its own CPU time during the job.
type loadReport struct {
	Requests  int64           `json:"requests"`
	Errors    int64           `json:"errors"`
	Statuses  map[int]int64   `json:"statuses"`
	Elapsed   time.Duration   `json:"elapsed"`
	Latencies []time.Duration `json:"latencies"`
	Service   []time.Duration `json:"service,omitempty"`
	Dials     int64           `json:"dials"`
	CPU       time.Duration   `json:"cpu"`
}

// maxJobLine bounds a job line.
const maxJobLine = 4096

// runLoadChild runs the load generator (role load): one job per line of
// stdin, one report per line of stdout, until the end of stdin. Its
// process is started with GOMAXPROCS=1 (startLoader), so that it runs on
// one OS thread at a time as wrk -t1 does: with every core it would take
// CPU from the proxies unequally (most from those that themselves run on
// several threads, such as the embedded proxy's Go runtime). It stays up
// for a whole measurement, so that no process start falls in a round.
func runLoadChild(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 512), maxJobLine)
	enc := json.NewEncoder(stdout)
	for sc.Scan() {
		var j loadJob
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			return fmt.Errorf("dataplane: child %s: job: %w", roleLoad, err)
		}
		if err := j.check(); err != nil {
			return fmt.Errorf("dataplane: child %s: job: %w", roleLoad, err)
		}
		cpu0, err := treeCPU(os.Getpid())
		if err != nil {
			return err
		}
		r := load(ctx, j.Addr, "/function/f", j.Conns, j.Rate, j.Duration)
		cpu1, err := treeCPU(os.Getpid())
		if err != nil {
			return err
		}
		if err := enc.Encode(loadReport{Requests: r.requests, Errors: r.errors, Statuses: r.statuses,
			Elapsed: r.elapsed, Latencies: r.latencies, Service: r.service, Dials: r.dials, CPU: cpu1 - cpu0}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("dataplane: child %s: %w", roleLoad, err)
	}
	return nil
}

// loader is the running load generator child.
type loader struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startLoader starts the load generator child (GOMAXPROCS=1).
func startLoader(mk ChildFunc) (*loader, error) {
	cmd := mk(roleLoad)
	cmd.Env = append(cmd.Environ(), "GOMAXPROCS=1")
	in, out, err := startPiped(cmd, roleLoad)
	if err != nil {
		return nil, err
	}
	return &loader{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

// drive has the loader run one job: conns connections to addr, a closed
// loop if rate is 0, else rate requests per second, for d. It returns
// what the child measured and the CPU time the child used. If ctx ends
// first, the child is killed (and every later job fails).
func (l *loader) drive(ctx context.Context, addr string, conns int, rate float64, d time.Duration) (loadResult, time.Duration, error) {
	js, err := json.Marshal(loadJob{Addr: addr, Conns: conns, Rate: rate, Duration: d})
	if err != nil {
		return loadResult{}, 0, err
	}
	stop := context.AfterFunc(ctx, func() { l.cmd.Process.Kill() })
	defer stop()
	if _, err := l.in.Write(append(js, '\n')); err != nil {
		return loadResult{}, 0, fmt.Errorf("dataplane: %s: %w", roleLoad, err)
	}
	line, err := l.out.ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			return loadResult{}, 0, ctx.Err()
		}
		return loadResult{}, 0, fmt.Errorf("dataplane: %s: no report: %w", roleLoad, err)
	}
	var rep loadReport
	if err := json.Unmarshal(line, &rep); err != nil {
		return loadResult{}, 0, fmt.Errorf("dataplane: %s: its report: %w", roleLoad, err)
	}
	if rep.Statuses == nil {
		rep.Statuses = map[int]int64{}
	}
	return loadResult{requests: rep.Requests, errors: rep.Errors, statuses: rep.Statuses, elapsed: rep.Elapsed, latencies: rep.Latencies,
		service: rep.Service, dials: rep.Dials}, rep.CPU, nil
}

// close ends the child's standard input (it exits) and waits for it.
func (l *loader) close() error {
	l.in.Close()
	return l.cmd.Wait()
}
