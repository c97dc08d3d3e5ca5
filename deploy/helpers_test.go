package deploy

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// scratch is a directory for the binaries the tests build, removed when
// they end.
var scratch string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "dfaas-deploy-")
	if err == nil {
		// Readable by the unprivileged user the systemd tests run as.
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// helmModule is the Helm release the tests (and the guide) run.
const helmModule = "helm.sh/helm/v3/cmd/helm@v3.22.0"

// repoRoot is the repository's root, relative to this package.
const repoRoot = ".."

// dfaasBinary builds the dfaas binary from the parent module once per test
// run.
var dfaasBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(scratch, "dfaas")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/dfaas")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dfaas: %v\n%s", err, out)
	}
	return bin, nil
})

// buildDfaas returns the path of the dfaas binary, or fails t.
func buildDfaas(t *testing.T) string {
	t.Helper()
	bin, err := dfaasBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// helmBinary installs Helm v3.22.0 from the Go module proxy into a
// temporary directory once per test run (the same program as
// "go run helm.sh/helm/v3/cmd/helm@v3.22.0").
var helmBinary = sync.OnceValues(func() (string, error) {
	cmd := exec.Command("go", "install", helmModule)
	cmd.Env = append(os.Environ(), "GOBIN="+scratch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %v\n%s", helmModule, err, out)
	}
	return filepath.Join(scratch, "helm"), nil
})

// helmResult is what one Helm command did.
type helmResult struct {
	stdout, stderr []byte
	err            error
}

// runHelm runs Helm with args in the repository's root, isolated from the
// user's Helm configuration and from any cluster.
func runHelm(t *testing.T, args ...string) helmResult {
	t.Helper()
	bin, err := helmBinary()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return helmResult{stdout: out.Bytes(), stderr: errb.Bytes(), err: err}
}

// mustHelm runs Helm and fails t if it fails.
func mustHelm(t *testing.T, args ...string) []byte {
	t.Helper()
	r := runHelm(t, args...)
	if r.err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run go test -update and review the diff):\n%s", path, firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first line where a and b differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, x, y)
		}
	}
	return "(no difference in lines)"
}

// integration reports whether missing binaries must fail integration tests.
func integration() bool { return os.Getenv("DFAAS_INTEGRATION") == "1" }

// needBinary returns the path of an executable, or skips t (fails it with
// DFAAS_INTEGRATION=1) when it is not installed.
func needBinary(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if integration() {
			t.Fatalf("%s is not installed (DFAAS_INTEGRATION=1 requires it): %v", name, err)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// freeAddr returns host:port with a port that was free on host for the
// network ("tcp" or "udp").
func freeAddr(t *testing.T, network, host string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startPrometheus runs the Prometheus binary bin in dir with the scrape
// jobs given (a global interval of 1 m) until the test ends, and returns
// its address, and exited, which reports (without waiting) whether it has
// stopped, with its log; a failed test gets its log and configuration.
func startPrometheus(t *testing.T, bin, dir string, jobs []any) (addr string, exited func() error) {
	t.Helper()
	cfg, err := yaml.Marshal(map[string]any{"global": map[string]any{"scrape_interval": "1m"}, "scrape_configs": jobs})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	addr = freeAddr(t, "tcp", "127.0.0.1")
	cmd := exec.Command(bin, "--config.file="+path, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus:\n%s\nconfiguration:\n%s", logs.String(), cfg)
		}
	})
	return addr, func() error {
		select {
		case err := <-done:
			done <- err // for the cleanup
			return fmt.Errorf("prometheus exited: %v\n%s", err, logs.String())
		default:
			return nil
		}
	}
}
