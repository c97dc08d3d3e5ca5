package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/freeport"
	"github.com/dfaas-go/dfaas/internal/heavytest"
	"github.com/dfaas-go/dfaas/proxyctl"
)

// fedBinary builds the dfaas binary once per test run.
var fedBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "dfaas-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "dfaas")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/dfaas-go/dfaas/cmd/dfaas").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// fedPort returns a free port on 127.0.0.1 for the network ("tcp" or
// "udp"), from below the ephemeral range (see internal/freeport), never
// one handed out before in this test run.
func fedPort(t *testing.T, network string) string {
	t.Helper()
	pick := freeport.TCP
	if network == "udp" {
		pick = freeport.UDP
	}
	fedPortsMu.Lock()
	defer fedPortsMu.Unlock()
	addr, err := pick("127.0.0.1", func(a string) bool { return fedPorts[network+"/"+a] })
	if err != nil {
		t.Fatal(err)
	}
	fedPorts[network+"/"+addr] = true
	return addr
}

// fedPorts holds the ports fedPort has handed out in this test run.
var (
	fedPortsMu sync.Mutex
	fedPorts   = map[string]bool{}
)

// fedProcess starts the dfaas binary with args (inside network namespace
// netns if not empty) and stops it with SIGTERM at the end of the test.
func fedProcess(t *testing.T, netns string, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := fedBinary()
	if err != nil {
		t.Fatal(err)
	}
	name, argv := bin, args
	if netns != "" {
		name, argv = "ip", append([]string{"netns", "exec", netns, bin}, args...)
	}
	cmd := exec.Command(name, argv...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("output of %v:\n%s", args, logs.String())
		}
	})
	return cmd
}

// fedKey writes a new node key and returns its file and ID.
func fedKey(t *testing.T, dir, name string) (file, id string) {
	t.Helper()
	bin, err := fedBinary()
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, name+".pem")
	out, err := exec.Command(bin, "keygen", "--out", file).Output()
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	f := strings.Fields(string(out))
	return file, f[len(f)-1]
}

type fedStatus struct {
	ID    string `json:"id"`
	Peers []struct {
		ID        string  `json:"id"`
		RTTMs     float64 `json:"rtt_ms"`
		Up        bool    `json:"up"`
		Neighbour bool    `json:"neighbour"`
	} `json:"peers"`
}

func fedGetStatus(admin string) (fedStatus, error) {
	var st fedStatus
	resp, err := http.Get("http://" + admin + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// fedNeighbours returns the IDs of the peers an agent lists as up
// neighbours with a measured RTT.
func fedNeighbours(admin string) map[string]bool {
	st, err := fedGetStatus(admin)
	out := map[string]bool{}
	if err != nil {
		return out
	}
	for _, p := range st.Peers {
		if p.Up && p.Neighbour && p.RTTMs > 0 {
			out[p.ID] = true
		}
	}
	return out
}

// fedLoad sends n requests at rate r to url and counts the outcomes.
func fedLoad(ctx context.Context, url string, n int, r float64) (served, forwarded, other int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(time.Duration(float64(time.Second) / r))
	defer tick.Stop()
	for range n {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Go(func() {
			resp, err := client.Post(url, "text/plain", strings.NewReader("x"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				other++
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode != 200:
				other++
			case resp.Header.Get(proxyctl.HeaderForwardedTo) != "":
				served++
				forwarded++
			default:
				served++
			}
		})
	}
	wg.Wait()
	return
}

// TestFederationOfProcesses starts three agent processes on loopback, the
// second and third given only the first as bootstrap peer: each lists the
// two others with an RTT in /status within 10 s, and requests sent to the
// overloaded first one are served by the others.
func TestFederationOfProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	heavytest.Lock(t)
	dir := t.TempDir()
	type agent struct{ id, key, peer, proxy, admin string }
	agents := make([]agent, 3)
	for i := range agents {
		a := &agents[i]
		a.key, a.id = fedKey(t, dir, fmt.Sprint("n", i))
		a.peer, a.proxy, a.admin = fedPort(t, "udp"), fedPort(t, "tcp"), fedPort(t, "tcp")
	}
	start := time.Now()
	for i, a := range agents {
		capacity := 100
		if i == 0 {
			capacity = 20
		}
		args := []string{"agent", "--key", a.key, "--peer-listen", a.peer, "--proxy-listen", a.proxy, "--node-listen", "127.0.0.1:0", "--http", a.admin,
			"--period", "500ms", "--log-level", "warn", "--function", fmt.Sprintf("echo,capacity=%d,concurrency=4", capacity)}
		if i > 0 {
			args = append(args, "--bootstrap", fmt.Sprintf("quic://%s/%s", agents[0].peer, agents[0].id))
		}
		fedProcess(t, "", args...)
	}
	for _, a := range agents {
		for {
			nb := fedNeighbours(a.admin)
			if len(nb) == 2 {
				break
			}
			if time.Since(start) > 10*time.Second {
				st, _ := fedGetStatus(a.admin)
				t.Fatalf("agent %s lists %v after 10 s: %+v", a.id, nb, st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("federation formed in %v", time.Since(start).Round(time.Millisecond))

	// 60 req/s for 5 s at the first agent, three times its capacity.
	served, forwarded, other := fedLoad(context.Background(), "http://"+agents[0].proxy+"/function/echo", 300, 60)
	t.Logf("served %d (forwarded %d), other %d", served, forwarded, other)
	if forwarded < 60 {
		t.Errorf("only %d of 300 requests were served by the other agents", forwarded)
	}
	if served < 240 {
		t.Errorf("only %d of 300 requests were served", served)
	}
}
