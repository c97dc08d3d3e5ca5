package goproxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/internal/netlimit"
	"github.com/dfaas-go/dfaas/proxyctl"
)

// helperEnv makes the test binary run as the node of TestFDExhaustion
// (see TestMain).
const helperEnv = "DFAAS_EDGE_HELPER_NODE"

// fdLimit is the helper node's file-descriptor limit.
const fdLimit = 256

type helperAddrs struct {
	Proxy, FaaS, Admin string
	PID                int
}

// TestMain runs the test binary as helperNode when helperEnv is set, else
// the tests.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		if err := helperNode(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperNode, run by TestFDExhaustion in a process of its own with a low
// file-descriptor limit, serves a node (embedded FaaS, embedded proxy, an
// admin server with /healthz) with the default limits, prints their
// addresses and serves until its stdin closes.
func helperNode() error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	rl.Cur = fdLimit
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	// Short header and idle time-outs so that the attack ends quickly
	// once stopped; connection caps from the fd limit (the defaults).
	lim := Limits{HeaderTimeout: time.Second, IdleTimeout: time.Second}
	fs, err := embedded.New(embedded.Config{Functions: []embedded.Function{{Name: "echo"}}, GenerateCredentials: true, Limits: lim})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 3)
	served := 0
	listen := func(serve func(context.Context, net.Listener) error) (string, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		served++
		go func() { errs <- serve(ctx, ln) }()
		return ln.Addr().String(), nil
	}
	// On an error, stop what was started and wait for it.
	stop := func(err error) error {
		cancel()
		for range served {
			err = errors.Join(err, <-errs)
		}
		return err
	}
	addrs := helperAddrs{PID: os.Getpid()}
	if addrs.FaaS, err = listen(fs.Serve); err != nil {
		return stop(err)
	}
	p, err := New(Config{FaaSURL: "http://" + addrs.FaaS, Limits: lim})
	if err != nil {
		return stop(err)
	}
	if err := p.Apply(ctx, proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "echo"}}}); err != nil {
		return stop(err)
	}
	if addrs.Proxy, err = listen(p.Serve); err != nil {
		return stop(err)
	}
	admin, err := netlimit.New("admin", lim, nil)
	if err != nil {
		return stop(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"status":"ok"}`) })
	if addrs.Admin, err = listen(func(ctx context.Context, ln net.Listener) error { return admin.Serve(ctx, ln, admin.Handler(mux)) }); err != nil {
		return stop(err)
	}
	json.NewEncoder(os.Stdout).Encode(addrs)
	io.Copy(io.Discard, os.Stdin)
	return stop(nil)
}

// TestFDExhaustion reproduces the connection-exhaustion attack against a
// node whose file-descriptor limit is 256: from 127.0.0.1 it opens more
// idle connections than that to each of the proxy, the FaaS and the admin
// server, and checks that while they are open a client from 127.0.0.2,
// /healthz, and a new client from 127.0.0.1 all get answers within 1 s,
// and that the node never holds more than its limit of descriptors.
func TestFDExhaustion(t *testing.T) {
	if testing.Short() {
		t.Skip("opens a thousand connections")
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("node process: %v", err)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Error("node process did not stop")
		}
	}()
	var addrs helperAddrs
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || json.Unmarshal([]byte(line), &addrs) != nil {
		t.Fatalf("node process said %q (%v)", line, err)
	}
	go io.Copy(io.Discard, stdout)

	var attackers []net.Conn
	defer func() {
		for _, c := range attackers {
			c.Close()
		}
	}()
	for _, target := range []string{addrs.Proxy, addrs.FaaS, addrs.Admin} {
		for range fdLimit + 100 {
			c, err := (&net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}).Dial("tcp", target)
			if err != nil {
				continue // refused or evicted: the node keeps up
			}
			attackers = append(attackers, c)
		}
	}
	if n := openFDs(t, addrs.PID); n >= fdLimit {
		t.Fatalf("the node holds %d descriptors, its limit is %d", n, fdLimit)
	}
	checks := []struct {
		name, from, url string
	}{
		{"a user from another address", "127.0.0.2", "http://" + addrs.Proxy + "/function/echo"},
		{"a new user from the attacking address", "127.0.0.1", "http://" + addrs.Proxy + "/function/echo"},
		{"/healthz from another address", "127.0.0.2", "http://" + addrs.Admin + "/healthz"},
		{"/healthz from the attacking address", "127.0.0.1", "http://" + addrs.Admin + "/healthz"},
	}
	for _, c := range checks {
		start := time.Now()
		code, err := getFrom(c.from, c.url)
		if err != nil || code != 200 {
			t.Errorf("%s: status %d, %v after %v", c.name, code, err, time.Since(start))
		}
		t.Logf("%s: %d after %v", c.name, code, time.Since(start).Round(time.Microsecond))
	}
	t.Logf("%d attacking connections still open; the node holds %d descriptors", len(attackers), openFDs(t, addrs.PID))
}

// getFrom sends one request from local address from, on a new connection,
// and waits for its answer for at most 1 s.
func getFrom(from, url string) (int, error) {
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Second}
	method := http.MethodGet
	var body io.Reader
	if strings.Contains(url, "/function/") {
		method, body = http.MethodPost, strings.NewReader("hello")
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, nil
}

// openFDs returns the number of descriptors process pid holds.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
