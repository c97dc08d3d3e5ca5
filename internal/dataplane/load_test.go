package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestReadResponse(t *testing.T) {
	for _, c := range []struct {
		in     string
		code   int
		closed bool
		rest   string // what is left after the response
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokNEXT", 200, false, "NEXT"},
		{"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\nConnection: close\r\n\r\nNEXT", 429, true, "NEXT"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nNEXT", 200, false, "NEXT"},
		{"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nxNEXT", 200, true, "NEXT"},
		{"HTTP/1.1 200 OK\r\n\r\nto the end", 200, true, ""},
	} {
		br := bufio.NewReader(strings.NewReader(c.in))
		code, closed, err := readResponse(br)
		rest := new(bytes.Buffer)
		rest.ReadFrom(br)
		if err != nil || code != c.code || closed != c.closed || rest.String() != c.rest {
			t.Errorf("%q: %d %v %v, rest %q; want %d %v, rest %q", c.in, code, closed, err, rest, c.code, c.closed, c.rest)
		}
	}
	for _, bad := range []string{"", "HTTP/1.1 2x0 OK\r\n\r\n", "SIP/2.0 200 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok", "HTTP/1.1 200 OK\r\n" + strings.Repeat("A: b\r\n", maxHeaderLines+1)} {
		if _, _, err := readResponse(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%.60q accepted", bad)
		}
	}
}

// TestSchedule checks the paced schedule on the bubble's clock: each due
// time handed out when it falls due, or at once when the taker was busy
// (keeping its due time), none at or after the end.
func TestSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ms := time.Millisecond
		dues := make(chan time.Time)
		start := time.Now()
		go schedule(context.Background(), dues, start, start.Add(100*ms), 10*ms)
		var got, at []time.Duration
		for due := range dues {
			got, at = append(got, due.Sub(start)), append(at, time.Since(start))
			if len(got) == 1 {
				time.Sleep(35 * ms) // busy: the next three fall due meanwhile
			}
		}
		wantAt := []time.Duration{0, 35 * ms, 35 * ms, 35 * ms, 40 * ms, 50 * ms, 60 * ms, 70 * ms, 80 * ms, 90 * ms}
		if len(got) != 10 || !slices.Equal(at, wantAt) {
			t.Fatalf("handed out %v at %v; want 0, 10ms, ... 90ms at %v", got, at, wantAt)
		}
		for i, d := range got {
			if d != time.Duration(i)*10*ms {
				t.Errorf("due %d at %v, want %v", i, d, time.Duration(i)*10*ms)
			}
		}
		// Cut short: it closes dues.
		ctx, cancel := context.WithCancel(context.Background())
		dues = make(chan time.Time)
		go schedule(ctx, dues, time.Now(), time.Now().Add(time.Hour), ms)
		<-dues
		cancel()
		for range dues {
		}
	})
}

// FuzzReadResponse: any input gives a response or an error, never a panic.
func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		code, _, err := readResponse(bufio.NewReader(bytes.NewReader(b)))
		if err == nil && (code < 0 || code > 999) {
			t.Errorf("status %d", code)
		}
	})
}

// TestRunLoadChild runs the load generator role against a test server:
// two jobs, two reports; then refuses bad jobs.
func TestRunLoadChild(t *testing.T) {
	srv := httptest.NewServer(backend())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	job := func(j loadJob) string { b, _ := json.Marshal(j); return string(b) + "\n" }
	// Two jobs, run again twice as long while one of them got no request
	// through at all (a loaded machine can give a run of 200 ms no time
	// to dial and send: CI-like runs reported {Requests:0 Errors:2}; a
	// generator that sends nothing fails after five rounds).
	var reps [2]loadReport
	var paced time.Duration
	for d := 200 * time.Millisecond; ; d *= 2 {
		paced = 5 * d / 2
		in := job(loadJob{Addr: addr, Conns: 2, Duration: d}) + job(loadJob{Addr: addr, Conns: 2, Rate: 100, Duration: paced})
		var out bytes.Buffer
		if err := RunChild(context.Background(), roleLoad, nil, strings.NewReader(in), &out); err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(&out)
		for i := range reps {
			reps[i] = loadReport{}
			if err := dec.Decode(&reps[i]); err != nil {
				t.Fatalf("report %d: %v", i, err)
			}
		}
		if reps[0].Requests > 0 && reps[1].Requests > 0 || d >= 3200*time.Millisecond {
			break
		}
		t.Logf("no request through in %v: %+v; again for longer", d, reps)
	}
	for i, rep := range reps {
		if rep.Requests == 0 || rep.Errors != 0 || rep.Statuses[200] != rep.Requests || rep.Elapsed <= 0 || int64(len(rep.Latencies)) != rep.Requests {
			t.Errorf("report %d: %+v", i, rep)
		}
	}
	// Paced at 100 req/s: no more requests than were due in the run (how
	// many of them a loaded machine gets out is its own matter: TestLoad
	// checks the schedule on a fake clock).
	if due := 100 * paced.Seconds(); float64(reps[1].Requests) > due {
		t.Errorf("paced at 100 req/s for %v: %d requests, more than the %.0f due", paced, reps[1].Requests, due)
	}
	var out bytes.Buffer
	for _, bad := range []string{"{bad\n", job(loadJob{Conns: 1, Duration: time.Second}), job(loadJob{Addr: addr, Duration: time.Second}),
		job(loadJob{Addr: addr, Conns: 1, Rate: -1, Duration: time.Second}), job(loadJob{Addr: addr, Conns: 1}), strings.Repeat("x", maxJobLine+1) + "\n"} {
		if err := RunChild(context.Background(), roleLoad, nil, strings.NewReader(bad), &out); err == nil {
			t.Errorf("%.60q accepted", bad)
		}
	}
}

// FuzzLoadJob: any job line is run within bounds or refused, never a
// panic (the run itself is not started: only decoding and checking).
func FuzzLoadJob(f *testing.F) {
	f.Add([]byte(`{"addr":"127.0.0.1:1","conns":2,"rate":0,"duration":1000000}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var j loadJob
		if json.Unmarshal(b, &j) != nil || j.check() != nil {
			return
		}
		if j.Conns < 1 || j.Conns > 1<<16 || j.Duration <= 0 || j.Rate < 0 {
			t.Errorf("accepted %+v", j)
		}
	})
}

// TestBackend drives the trivial backend over one keep-alive connection:
// a POST with a body, a chunked one, a health check, then a request
// asking to close; and refuses a malformed request.
func TestBackend(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	lines := &lineWriter{lines: make(chan string, 1)}
	done := make(chan error, 1)
	go func() { done <- serveBackend(ctx, "127.0.0.1:0", lines) }()
	addr := strings.TrimPrefix(<-lines.lines, "addr ")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	for i, req := range []string{
		"POST /function/f HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"POST /function/f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: dfaas\r\n\r\n",
		"POST /function/f HTTP/1.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
	} {
		io.WriteString(c, req)
		code, closed, err := readResponse(br)
		if err != nil || code != 200 || closed {
			t.Fatalf("request %d: %d %v %v", i, code, closed, err)
		}
	}
	if n, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after Connection: close: %v %v, want the end of the connection", n, err)
	}
	for _, bad := range []string{"nonsense\r\n\r\n", "POST / HTTP/1.1\r\nContent-Length: -2\r\n\r\n", "POST / HTTP/1.1\r\nno colon\r\n\r\n"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, bad)
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Errorf("%q: answered %q, %v; want the connection closed", bad, b, err)
		}
		c.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serveBackend: %v", err)
	}
}
