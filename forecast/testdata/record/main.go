// Command record drives changing load at a running "dfaas faas" and
// records, once a period, the rate of requests each function completed and
// the node's resource usage read from node_exporter (plus the CPU time and
// resident memory of the faas process itself, from /proc), as CSV. Its
// output is forecast/testdata/resource-run.csv; see the README there.
//
// It lives under testdata so that it is not part of the module's packages;
// run it with "go run ./forecast/testdata/record -h".
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type fn struct {
	name, path string
	levels     []float64 // req/s levels the schedule picks from
	done, fail atomic.Int64
}

func main() {
	gateway := flag.String("gateway", "http://127.0.0.1:18080", "base URL of dfaas faas")
	exporter := flag.String("node-exporter", "http://127.0.0.1:19101/metrics", "node_exporter metrics URL")
	pid := flag.Int("pid", 0, "PID of the dfaas faas process (0: do not read /proc)")
	duration := flag.Duration("duration", 30*time.Minute, "length of the run")
	period := flag.Duration("period", 5*time.Second, "sampling period")
	step := flag.Duration("step", time.Minute, "how long each load level lasts")
	seed := flag.Uint64("seed", 7, "seed of the schedule and the arrivals")
	out := flag.String("out", "", "output CSV (default stdout)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *gateway, *exporter, *pid, *duration, *period, *step, *seed, *out); err != nil {
		fmt.Fprintln(os.Stderr, "record:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, gateway, exporter string, pid int, duration, period, step time.Duration, seed uint64, out string) error {
	w := io.Writer(os.Stdout)
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	fns := []*fn{
		{name: "cpu", path: "/function/cpu?ms=10", levels: []float64{0, 5, 10, 20, 30, 40, 50}},
		{name: "mem", path: "/function/mem?mb=64&ms=300", levels: []float64{0, 1, 2, 4, 6, 8}},
		{name: "figlet", path: "/function/figlet", levels: []float64{0, 10, 30, 60}},
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	steps := int(duration / step)
	sched := make([][]float64, len(fns))
	for i, f := range fns {
		for range steps {
			sched[i] = append(sched[i], f.levels[rng.IntN(len(f.levels))])
		}
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(duration))
	defer cancel()
	var wg sync.WaitGroup
	for i, f := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			drive(ctx, hc, gateway, f, sched[i], step, start, rand.New(rand.NewPCG(seed, uint64(i)+2)), &wg)
		}()
	}
	fmt.Fprintln(w, "t,cpu_rate,mem_rate,figlet_rate,failed_rate,node_cpu_cores,node_mem_bytes,proc_cpu_cores,proc_rss_bytes")
	prevNode, err := nodeCPU(ctx, hc, exporter)
	if err != nil {
		return err
	}
	prevProc, _ := procCPU(pid)
	prevT := time.Now()
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil
			}
			return ctx.Err()
		case <-tick.C:
		}
		now := time.Now()
		dt := now.Sub(prevT).Seconds()
		var rates []string
		failed := 0.0
		for _, f := range fns {
			rates = append(rates, strconv.FormatFloat(float64(f.done.Swap(0))/dt, 'f', 3, 64))
			failed += float64(f.fail.Swap(0)) / dt
		}
		busy, err := nodeCPU(ctx, hc, exporter)
		if err != nil {
			return err
		}
		mem, err := nodeMem(ctx, hc, exporter)
		if err != nil {
			return err
		}
		pc, rss := procCPU(pid)
		fmt.Fprintf(w, "%.1f,%s,%.3f,%.4f,%.0f,%.4f,%.0f\n", now.Sub(start).Seconds(), strings.Join(rates, ","), failed,
			(busy-prevNode)/dt, mem, (pc-prevProc)/dt, rss)
		prevNode, prevProc, prevT = busy, pc, now
	}
}

// drive sends Poisson arrivals to f at the scheduled rates.
func drive(ctx context.Context, hc *http.Client, gateway string, f *fn, sched []float64, step time.Duration, start time.Time, rng *rand.Rand, wg *sync.WaitGroup) {
	next := time.Now()
	for ctx.Err() == nil {
		i := int(time.Since(start) / step)
		if i >= len(sched) {
			return
		}
		r := sched[i]
		if r == 0 {
			next = start.Add(time.Duration(i+1) * step)
		} else {
			next = next.Add(time.Duration(rng.ExpFloat64() / r * float64(time.Second)))
			if next.Before(time.Now().Add(-time.Second)) {
				next = time.Now()
			}
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if r == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, gateway+f.path, strings.NewReader("hello"))
			resp, err := hc.Do(req)
			if err != nil {
				f.fail.Add(1)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				f.done.Add(1)
			} else {
				f.fail.Add(1)
			}
		}()
	}
}

func scrape(ctx context.Context, hc *http.Client, url string, each func(name, labels string, v float64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		name, labels := line[:sp], ""
		if b := strings.IndexByte(name, '{'); b >= 0 {
			name, labels = name[:b], name[b:]
		}
		each(name, labels, v)
	}
	return sc.Err()
}

// nodeCPU returns the node's busy CPU seconds (all modes but idle), summed
// over cores.
func nodeCPU(ctx context.Context, hc *http.Client, url string) (float64, error) {
	busy := 0.0
	err := scrape(ctx, hc, url, func(name, labels string, v float64) {
		if name == "node_cpu_seconds_total" && !strings.Contains(labels, `mode="idle"`) {
			busy += v
		}
	})
	return busy, err
}

// nodeMem returns MemTotal - MemAvailable.
func nodeMem(ctx context.Context, hc *http.Client, url string) (float64, error) {
	total, avail := math.NaN(), math.NaN()
	err := scrape(ctx, hc, url, func(name, _ string, v float64) {
		switch name {
		case "node_memory_MemTotal_bytes":
			total = v
		case "node_memory_MemAvailable_bytes":
			avail = v
		}
	})
	if err == nil && (math.IsNaN(total) || math.IsNaN(avail)) {
		err = errors.New("node_exporter has no node_memory_MemTotal_bytes or MemAvailable_bytes")
	}
	return total - avail, err
}

// procCPU returns the CPU seconds (user+system) and resident bytes of pid
// from /proc; zeros if pid is 0 or unreadable.
func procCPU(pid int) (cpu, rss float64) {
	if pid == 0 {
		return 0, 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields after the command: state is [0], utime [11], stime [12],
	// rss (pages) [21].
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	pages, _ := strconv.ParseFloat(fields[21], 64)
	const clkTck, page = 100, 4096 // getconf CLK_TCK, PAGESIZE on linux/amd64
	return (ut + st) / clkTck, pages * page
}
