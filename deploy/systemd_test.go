package deploy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// systemdPath is the PATH systemd gives system services.
const systemdPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// serviceUser is the user the units' processes run as when the test runs as
// root, as with DynamicUser=yes: nobody.
const serviceUser = 65534

// host is a bare host of the systemd tests: a directory standing for its
// file system, its address, and its settings.
type host struct {
	name, ip string
	root     string            // /etc/dfaas, the runtime and credentials directories are under it
	env      map[string]string // dfaas.env with the test's changes
	uid, gid int               // the units' user; -1: the test's
	id       string            // node ID
}

// newHost makes a host at ip: its /etc/dfaas with a node key and the
// gateway's password, as the guide installs them, and the environment
// file with the test's changes (loopback addresses, free ports).
func newHost(t *testing.T, name, ip string) *host {
	t.Helper()
	root, err := os.MkdirTemp("", "dfaas-host-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Registered first, so run last: after the services stopped,
		// no process of this host (HAProxy included) may be left.
		for pid, p := range processesUnder(root) {
			t.Errorf("process %d %q of host %s left running: killed", pid, p.argv, name)
			syscall.Kill(pid, syscall.SIGKILL)
		}
		os.RemoveAll(root)
	})
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	h := &host{name: name, ip: ip, root: root, uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		h.uid, h.gid = serviceUser, serviceUser
	}
	etc := filepath.Join(root, "etc", "dfaas")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(buildDfaas(t), "keygen", "--out", filepath.Join(etc, "node.pem")).Output()
	if err != nil {
		t.Fatalf("dfaas keygen: %v", err)
	}
	h.id = strings.TrimSpace(string(out))
	pw := make([]byte, 18)
	if _, err := io.ReadFull(randReader(), pw); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "faas-password"), []byte(base64.StdEncoding.EncodeToString(pw)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env = map[string]string{}
	for _, e := range readEnvFile(t) {
		h.env[e.Key] = e.Value
	}
	faas := freeAddr(t, "tcp", ip)
	_, faasPort, _ := net.SplitHostPort(faas)
	changes := map[string]string{
		"FAAS_LISTEN":         faas,
		"AGENT_OPENFAAS_HOST": ip,
		"AGENT_OPENFAAS_PORT": faasPort,
		"AGENT_PROXY_LISTEN":  freeAddr(t, "tcp", ip),
		"AGENT_NODE_LISTEN":   freeAddr(t, "tcp", ip),
		"AGENT_PEER_LISTEN":   freeAddr(t, "udp", ip),
		"AGENT_HTTP_LISTEN":   freeAddr(t, "tcp", ip),
		"AGENT_NODE_IP":       ip,
		// HAProxy's exporter is on a fixed loopback port by default,
		// which other tests of this machine may hold.
		"DFAAS_AGENT_FLAGS": "--haproxy-metrics " + freeAddr(t, "tcp", ip),
	}
	for k, v := range changes {
		if _, ok := h.env[k]; !ok {
			t.Fatalf("dfaas.env does not set %s, which the test changes", k)
		}
		h.env[k] = v
	}
	return h
}

// randReader returns a source of random bytes.
func randReader() io.Reader {
	f, err := os.Open("/dev/urandom")
	if err != nil {
		return strings.NewReader("not random, but the test only needs some bytes")
	}
	return f
}

// service is a unit's process, started from its ExecStart= line.
type service struct {
	unit string
	argv []string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error // set when done is closed
	stop time.Duration
	// stopped is set when the test stops the service.
	stopped bool
}

// syncBuffer is a bytes.Buffer safe for the process's writers and the
// test's readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// chown gives path to the host's service user, if it has one.
func (h *host) chown(t *testing.T, path string) {
	t.Helper()
	if h.uid >= 0 {
		if err := os.Chown(path, h.uid, h.gid); err != nil {
			t.Fatal(err)
		}
	}
}

// start runs a unit as systemd would, without systemd: its credentials
// copied to its credentials directory, its runtime directory made, its
// ExecStart= line expanded with the environment file and the specifiers
// (%d, %t, %S under the host's root), /usr/local/bin/dfaas being the
// built binary, run as the service user from /.
func (h *host) start(t *testing.T, unit string) *service {
	t.Helper()
	u := readUnit(t, unit)
	spec := specifiers{
		'd': filepath.Join(h.root, "run", "credentials", unit),
		't': filepath.Join(h.root, "run"),
		'S': filepath.Join(h.root, "var", "lib"),
	}
	env := maps.Clone(h.env)
	env["PATH"] = systemdPath
	if creds := u.values("Service", "LoadCredential"); len(creds) > 0 {
		dir := spec['d']
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, c := range creds {
			id, src, ok := strings.Cut(c, ":")
			rel, under := strings.CutPrefix(src, "/etc/dfaas/")
			if !ok || !under {
				t.Fatalf("%s: LoadCredential=%s: the test knows only files of /etc/dfaas", unit, c)
			}
			data, err := os.ReadFile(filepath.Join(h.root, "etc", "dfaas", rel))
			if err != nil {
				t.Fatalf("%s: LoadCredential=%s: %v", unit, c, err)
			}
			p := filepath.Join(dir, id)
			if err := os.WriteFile(p, data, 0o400); err != nil {
				t.Fatal(err)
			}
			h.chown(t, p)
		}
		h.chown(t, dir)
		env["CREDENTIALS_DIRECTORY"] = dir
	}
	if rd := u.value("Service", "RuntimeDirectory"); rd != "" {
		dir := filepath.Join(spec['t'], rd)
		mode := uint64(0o755)
		if m := u.value("Service", "RuntimeDirectoryMode"); m != "" {
			var err error
			if mode, err = strconv.ParseUint(m, 8, 32); err != nil {
				t.Fatalf("%s: RuntimeDirectoryMode=%s: %v", unit, m, err)
			}
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, os.FileMode(mode)); err != nil {
			t.Fatal(err)
		}
		h.chown(t, dir)
		env["RUNTIME_DIRECTORY"] = dir
	}
	execStart := u.values("Service", "ExecStart")
	if len(execStart) != 1 {
		t.Fatalf("%s: %d ExecStart= lines", unit, len(execStart))
	}
	argv, err := commandLine(execStart[0], spec, env)
	if err != nil {
		t.Fatalf("%s: ExecStart: %v", unit, err)
	}
	if argv[0] != "/usr/local/bin/dfaas" {
		t.Fatalf("%s: ExecStart runs %s", unit, argv[0])
	}
	argv[0] = buildDfaas(t)
	s := &service{unit: unit, argv: argv, logs: &syncBuffer{}, done: make(chan struct{}), stop: 90 * time.Second}
	if v := u.value("Service", "TimeoutStopSec"); v != "" {
		if s.stop, err = time.ParseDuration(v); err != nil {
			t.Fatalf("%s: TimeoutStopSec=%s: %v", unit, v, err)
		}
	}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Dir = "/"
	s.cmd.Env = nil
	for _, k := range slices.Sorted(maps.Keys(env)) {
		s.cmd.Env = append(s.cmd.Env, k+"="+env[k])
	}
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if h.uid >= 0 {
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(h.uid), Gid: uint32(h.gid)}}
	}
	t.Logf("%s %s: %s", h.name, unit, strings.Join(argv[1:], " "))
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", unit, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		if !s.stopped {
			if err := s.terminate(); err != nil {
				t.Errorf("%s %s: %v", h.name, unit, err)
			}
		}
		if t.Failed() {
			t.Logf("%s %s output:\n%s", h.name, unit, s.logs.String())
		}
	})
	return s
}

// terminate stops the service as systemd does with KillMode=mixed: SIGTERM
// to the main process, SIGKILL after TimeoutStopSec. It reports an error if
// it had to kill, or if the process failed.
func (s *service) terminate() error {
	s.stopped = true
	select {
	case <-s.done:
		return fmt.Errorf("exited before it was stopped: %v", s.err)
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if s.err != nil {
			return fmt.Errorf("stopped with %v", s.err)
		}
		return nil
	case <-time.After(s.stop):
		s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("did not stop within TimeoutStopSec (%v): killed", s.stop)
	}
}

// running fails t if the service has exited.
func (s *service) running(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		t.Fatalf("%s exited: %v\n%s", s.unit, s.err, s.logs.String())
	default:
	}
}

// waitFor polls cond until it holds or the time is up; the service must
// keep running meanwhile.
func waitFor(t *testing.T, what string, timeout time.Duration, s *service, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if s != nil {
			s.running(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// process is a process found in /proc.
type process struct {
	uid  int
	argv []string
}

// processesUnder returns, by PID, the processes whose command line names a
// path under dir.
func processesUnder(dir string) map[int]process {
	out := map[int]process{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cl, []byte(dir+"/")) {
			continue
		}
		uid := -1
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status")); err == nil {
			if m := regexp.MustCompile(`(?m)^Uid:\s+(\d+)`).FindSubmatch(st); m != nil {
				uid, _ = strconv.Atoi(string(m[1]))
			}
		}
		out[pid] = process{uid: uid, argv: strings.Split(strings.TrimSuffix(string(cl), "\x00"), "\x00")}
	}
	return out
}

// haproxyOf returns the HAProxy processes the host's agent started: those
// whose command line names the host's runtime directory.
func (h *host) haproxyOf() map[int]process {
	out := map[int]process{}
	for pid, p := range processesUnder(filepath.Join(h.root, "run")) {
		if filepath.Base(p.argv[0]) == "haproxy" {
			out[pid] = p
		}
	}
	return out
}

// agentStatus is the part of the agent's /status the tests read.
type agentStatus struct {
	ID    string `json:"id"`
	Peers []struct {
		ID    string `json:"id"`
		Up    bool   `json:"up"`
		Proxy string `json:"proxy"`
	} `json:"peers"`
	ProxyURL string `json:"proxy_url"`
}

// status reads the agent's /status.
func (h *host) status() (agentStatus, error) {
	var st agentStatus
	resp, err := http.Get("http://" + h.env["AGENT_HTTP_LISTEN"] + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// invoke sends a request for a function to the host's public port.
func (h *host) invoke(fn, body string) (int, string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post("http://"+h.env["AGENT_PROXY_LISTEN"]+"/function/"+fn, "text/plain", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// invocations reads how many requests for fn dfaas faas answered, from its
// gateway metrics.
func (h *host) invocations(fn string) (float64, error) {
	resp, err := http.Get("http://" + h.env["FAAS_LISTEN"] + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	total := 0.0
	re := regexp.MustCompile(`(?m)^gateway_function_invocation_total\{[^}]*function_name="` + regexp.QuoteMeta(fn) + `(\.[^"]*)?"[^}]*\} (\S+)$`)
	for _, m := range re.FindAllSubmatch(b, -1) {
		v, err := strconv.ParseFloat(string(m[2]), 64)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}

// startNode starts the host's two units as the guide enables them:
// dfaas-faas, then dfaas-agent, and waits until the agent serves /status.
func (h *host) startNode(t *testing.T) (faas, agent *service) {
	t.Helper()
	faas = h.start(t, "dfaas-faas.service")
	waitFor(t, h.name+": dfaas faas listening", 15*time.Second, faas, func() error {
		c, err := net.Dial("tcp", h.env["FAAS_LISTEN"])
		if err == nil {
			c.Close()
		}
		return err
	})
	agent = h.start(t, "dfaas-agent.service")
	waitFor(t, h.name+": the agent's /status", 60*time.Second, agent, func() error {
		_, err := h.status()
		return err
	})
	return faas, agent
}

// TestIntegrationSystemdNode runs the units' command lines without systemd
// and checks that the node serves requests: dfaas faas, then the agent,
// which starts HAProxy; a request to the public port reaches dfaas faas
// through HAProxy; stopping the agent stops HAProxy.
func TestIntegrationSystemdNode(t *testing.T) {
	needBinary(t, "haproxy")
	h := newHost(t, "host", "127.0.0.1")
	faas, agent := h.startNode(t)

	procs := h.haproxyOf()
	if len(procs) == 0 {
		t.Fatalf("no HAProxy process runs from the agent's runtime directory\n%s", agent.logs.String())
	}
	for pid, p := range procs {
		if h.uid >= 0 && p.uid != h.uid {
			t.Errorf("HAProxy process %d runs as user %d, want the service user %d", pid, p.uid, h.uid)
		}
	}
	before, err := h.invocations("figlet")
	if err != nil {
		t.Fatal(err)
	}
	code, body, err := h.invoke("figlet", "dfaas")
	if err != nil || code != http.StatusOK || strings.TrimSpace(body) == "" {
		t.Fatalf("POST /function/figlet on the public port: %d %q %v", code, body, err)
	}
	after, err := h.invocations("figlet")
	if err != nil {
		t.Fatal(err)
	}
	if after != before+1 {
		t.Errorf("dfaas faas counted %v invocations of figlet for one request (before %v, after %v)", after-before, before, after)
	}
	t.Logf("figlet through HAProxy and dfaas faas:\n%s", body)
	// The management API is not on the public port.
	resp, err := http.Get("http://" + h.env["AGENT_PROXY_LISTEN"] + "/system/functions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /system/functions on the public port: %s, want 403", resp.Status)
	}
	st, err := h.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != h.id {
		t.Errorf("the agent's ID is %s, its key's %s", st.ID, h.id)
	}
	_, port, _ := net.SplitHostPort(h.env["AGENT_NODE_LISTEN"])
	if want := "https://" + net.JoinHostPort(h.ip, port); st.ProxyURL != want {
		t.Errorf("the agent announces %s, want %s (AGENT_NODE_IP and the node port)", st.ProxyURL, want)
	}

	// Every component works: the gateway with its password, the metric
	// source (HAProxy's counters, dfaas faas's /metrics, /proc), the
	// peer network, the strategy.
	waitFor(t, "the agent's /healthz", 30*time.Second, agent, func() error {
		resp, err := http.Get("http://" + h.env["AGENT_HTTP_LISTEN"] + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s", resp.Status, b)
		}
		return nil
	})

	// The paths the chart's probes may use are served.
	for _, path := range adminPaths {
		resp, err := http.Get("http://" + h.env["AGENT_HTTP_LISTEN"] + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s on the admin server: %s", path, resp.Status)
		}
	}

	// systemctl stop: the agent stops HAProxy.
	if err := agent.terminate(); err != nil {
		t.Errorf("stopping the agent: %v", err)
	}
	waitFor(t, "HAProxy stopped with the agent", 10*time.Second, nil, func() error {
		if left := h.haproxyOf(); len(left) > 0 {
			return fmt.Errorf("processes %v still run", slices.Sorted(maps.Keys(left)))
		}
		return nil
	})
	if err := faas.terminate(); err != nil {
		t.Errorf("stopping dfaas faas: %v", err)
	}
}

// TestIntegrationSystemdFederation follows the guide's "Three hosts": three
// hosts (127.0.0.1, 127.0.0.2, 127.0.0.3) set up with the units, each with
// its own key, AGENT_NODE_IP, and the same AGENT_BOOTSTRAP_NODES_LIST and
// AGENT_MEMBERS. Each agent lists the two others as up peers announcing
// their proxy URLs, and every host serves requests. Host A's figlet has a
// capacity of 10 req/s (DFAAS_FAAS_FLAGS); 40 req/s sent to A are partly
// forwarded to B and C, which serve them.
func TestIntegrationSystemdFederation(t *testing.T) {
	needBinary(t, "haproxy")
	hosts := []*host{
		newHost(t, "A", "127.0.0.1"),
		newHost(t, "B", "127.0.0.2"),
		newHost(t, "C", "127.0.0.3"),
	}
	var boot, members []string
	for _, h := range hosts {
		boot = append(boot, "quic://"+h.env["AGENT_PEER_LISTEN"]+"/"+h.id)
		members = append(members, h.id)
	}
	for _, h := range hosts {
		for k, v := range map[string]string{
			"AGENT_BOOTSTRAP_NODES_LIST": strings.Join(boot, ","),
			"AGENT_MEMBERS":              strings.Join(members, ","),
		} {
			if _, ok := h.env[k]; !ok {
				t.Fatalf("dfaas.env does not set %s, which the guide tells to set", k)
			}
			h.env[k] = v
		}
	}
	hosts[0].env["DFAAS_FAAS_FLAGS"] = "--function figlet,capacity=10"
	agents := map[string]*service{}
	for _, h := range hosts {
		_, agents[h.name] = h.startNode(t)
	}
	proxyURL := func(h *host) string {
		_, port, _ := net.SplitHostPort(h.env["AGENT_NODE_LISTEN"])
		return "https://" + net.JoinHostPort(h.ip, port)
	}
	for _, h := range hosts {
		want := map[string]string{}
		for _, o := range hosts {
			if o != h {
				want[o.id] = proxyURL(o)
			}
		}
		waitFor(t, h.name+" lists the other hosts as up peers with their proxies", 60*time.Second, agents[h.name], func() error {
			st, err := h.status()
			if err != nil {
				return err
			}
			got := map[string]string{}
			for _, p := range st.Peers {
				if p.Up {
					got[p.ID] = p.Proxy
				}
			}
			if !maps.Equal(got, want) {
				return fmt.Errorf("up peers and their proxies %v, want %v", got, want)
			}
			return nil
		})
	}
	for _, h := range hosts {
		code, body, err := h.invoke("figlet", h.name)
		if err != nil || code != http.StatusOK || strings.TrimSpace(body) == "" {
			t.Errorf("%s: POST /function/figlet: %d %q %v", h.name, code, body, err)
		}
	}

	// Overload A: 40 req/s for up to 30 s, until A has forwarded 100
	// requests. (B and C greet A with its credential as soon as they
	// hear it; a 403 would be retried by A's HAProxy.)
	a := hosts[0]
	served := func() float64 {
		n := 0.0
		for _, h := range hosts[1:] {
			v, err := h.invocations("figlet")
			if err != nil {
				t.Fatal(err)
			}
			n += v
		}
		return n
	}
	before := served()
	var mu sync.Mutex
	outcomes := map[string]int{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(30 * time.Second)
	forwarded := func() int {
		mu.Lock()
		defer mu.Unlock()
		return outcomes["forwarded"]
	}
	for time.Now().Before(deadline) && forwarded() < 100 {
		<-tick.C
		wg.Go(func() {
			resp, err := client.Post("http://"+a.env["AGENT_PROXY_LISTEN"]+"/function/figlet", "text/plain", strings.NewReader("x"))
			outcome := "error"
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusOK && resp.Header.Get("DFaaS-Forwarded-To") != "":
					outcome = "forwarded"
				case resp.StatusCode == http.StatusOK:
					outcome = "local"
				default:
					outcome = strconv.Itoa(resp.StatusCode)
				}
			}
			mu.Lock()
			outcomes[outcome]++
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("40 req/s to A (figlet capacity 10 req/s): %v", outcomes)
	if outcomes["forwarded"] == 0 {
		t.Fatalf("A forwarded no request to B or C: %v", outcomes)
	}
	if got := served() - before; got < float64(outcomes["forwarded"]) {
		t.Errorf("A forwarded %d requests, B and C's dfaas faas served %v", outcomes["forwarded"], got)
	}
}
