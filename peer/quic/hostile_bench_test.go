package quic

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/dfaas-go/dfaas/peer"
)

// The hub of BenchmarkHostileLoops runs in a child process (this test
// binary, run with DFAAS_QUIC_BENCH_HUB set to a member's ID) so that its
// CPU time is measured apart from the attacker's: it listens with that
// member as the only one, prints its address, logs at info level to
// stdout, and exits when its stdin closes.
func TestMain(m *testing.M) {
	if member := os.Getenv("DFAAS_QUIC_BENCH_HUB"); member != "" {
		os.Exit(benchHub(peer.ID(member)))
	}
	os.Exit(m.Run())
}

func benchHub(member peer.ID) int {
	k, err := GenerateKey()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tr, err := Listen(Config{
		Listen: "127.0.0.1:0", Key: k, Members: []peer.ID{member},
		Logger: slog.New(slog.NewTextHandler(os.Stdout, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "addr %s\n", tr.Addr())
	io.Copy(io.Discard, os.Stdin)
	st := tr.Stats()
	tr.Close()
	fmt.Fprintf(os.Stderr, "stats %+v\n", st)
	return 0
}

// BenchmarkHostileLoops measures what a loop of connection attempts costs
// a node (in a child process) for 10 s: non-members handshaking (the
// baseline: refused at the handshake), and a member connecting, saying
// hello and closing, with a new socket each time or from one socket. It
// reports the attempts per second, the node's CPU (cores), its log lines
// per second and the connections it registered per second. One run per
// case: use -benchtime 1x.
func BenchmarkHostileLoops(b *testing.B) {
	for _, tc := range []struct {
		name               string
		member, sameSocket bool
	}{
		{"non-member", false, false},
		{"member-new-socket", true, false},
		{"member-one-socket", true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				hostileLoop(b, tc.member, tc.sameSocket, 10*time.Second)
			}
		})
	}
}

func hostileLoop(b *testing.B, member, sameSocket bool, d time.Duration) {
	mk, other := mustKey(b), mustKey(b)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DFAAS_QUIC_BENCH_HUB="+string(mk.ID()))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	type counts struct{ lines, ups int }
	lines := make(chan counts)
	go func() {
		var c counts
		for sc := bufio.NewScanner(stdout); sc.Scan(); c.lines++ {
			if strings.Contains(sc.Text(), `msg="peer up"`) {
				c.ups++
			}
		}
		lines <- c
	}()
	errs := bufio.NewScanner(stderr)
	var addr *net.UDPAddr
	if errs.Scan() {
		if a, ok := strings.CutPrefix(errs.Text(), "addr "); ok {
			addr, err = net.ResolveUDPAddr("udp", a)
		}
	}
	if addr == nil {
		cmd.Process.Kill()
		b.Fatalf("hub: %q %v", errs.Text(), err)
	}
	conf := clientTLSFor(b, other)
	if member {
		conf = clientTLSFor(b, mk)
	}
	var qt *quicgo.Transport
	if sameSocket {
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		qt = &quicgo.Transport{Conn: udp}
		defer func() { qt.Close(); udp.Close() }()
	}
	start := time.Now()
	attempts := 0
	for time.Since(start) < d {
		attempts++
		connectOnce(qt, addr, conf)
	}
	elapsed := time.Since(start)
	stdin.Close()
	var rest []string
	for errs.Scan() {
		rest = append(rest, errs.Text())
	}
	n := <-lines
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	// Connections registered: the counter, or (for a transport that has
	// none) its "peer up" lines.
	connects := n.ups
	for _, l := range rest {
		if m := regexp.MustCompile(`Connects:(\d+)`).FindStringSubmatch(l); m != nil {
			connects, _ = strconv.Atoi(m[1])
		}
	}
	s := elapsed.Seconds()
	b.ReportMetric(float64(attempts)/s, "attempts/s")
	b.ReportMetric(cpu.Seconds()/s, "node-cores")
	b.ReportMetric(float64(n.lines)/s, "log-lines/s")
	b.ReportMetric(float64(connects)/s, "connections/s")
	b.Logf("%d attempts in %v; node: %v CPU, %d log lines, %d connections; %s",
		attempts, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond), n.lines, connects, strings.Join(rest, "; "))
}
