package testbed

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"

	"github.com/dfaas-go/dfaas/faas/openwhisk"
)

// openWhisk reports whether the nodes' FaaS serves OpenWhisk's API.
func (c *Cluster) openWhisk() bool { return c.cfg.FaaS == "openwhisk" }

// keyFile is the file of node i's OpenWhisk API key, in the run's
// directory (written by faasArgs).
func (c *Cluster) keyFile(i int) string {
	return filepath.Join(c.cfg.Dir, "openwhisk"+strconv.Itoa(i)+".key")
}

// faasArgs returns the dfaas faas flags of node i's API: none for
// OpenFaaS's; for OpenWhisk's, the flags and a new key file.
func (c *Cluster) faasArgs(i int) []string {
	if !c.openWhisk() {
		return nil
	}
	return []string{"--api", "openwhisk", "--auth-file", c.keyFile(i)}
}

// writeKeys writes every node's OpenWhisk API key, if the nodes serve
// OpenWhisk's API.
func (c *Cluster) writeKeys() error {
	if !c.openWhisk() {
		return nil
	}
	for i := range c.cfg.Scenario.Nodes {
		k, err := openwhisk.GenerateKey()
		if err != nil {
			return err
		}
		if err := openwhisk.WriteKeyFile(c.keyFile(i), k); err != nil {
			return err
		}
	}
	return nil
}

// faasHealthPath is the path that answers 200 once the FaaS serves.
func (c *Cluster) faasHealthPath() string {
	if c.openWhisk() {
		return "/ping"
	}
	return "/healthz"
}

// agentFaaSArgs returns the agent flags that point node i's agent at its
// FaaS: the OpenFaaS gateway API, or the OpenWhisk API with the node's key
// and the user-events series of its /metrics.
func (c *Cluster) agentFaaSArgs(i int) []string {
	base := fmt.Sprintf("http://127.0.0.1:%d", c.cfg.Net.Ports(i).FaaS)
	if !c.openWhisk() {
		return []string{"--faas", "openfaas", "--openfaas-url", base}
	}
	return []string{"--faas", "openwhisk", "--openwhisk-url", base, "--openwhisk-auth-file", c.keyFile(i),
		"--faas-metrics-url", base + "/metrics"}
}

// deleteFunctions deletes every function of node i's FaaS at base, through
// the API the node's agent uses.
func (c *Cluster) deleteFunctions(ctx context.Context, i int, base string) error {
	n := c.nodes[i]
	if !c.openWhisk() {
		return deleteFunctions(ctx, n.Client, base)
	}
	key, err := openwhisk.ReadKeyFile(c.keyFile(i))
	if err != nil {
		return err
	}
	ow, err := openwhisk.New(openwhisk.Config{URL: base, Key: key, Transport: n.Client.Transport})
	if err != nil {
		return err
	}
	defer ow.Close()
	acts, err := ow.Actions(ctx)
	if err != nil {
		return fmt.Errorf("list actions: %w", err)
	}
	for _, a := range acts {
		u := base + "/api/v1/namespaces/_/actions/" + url.PathEscape(a.Name)
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
		req.SetBasicAuth(key.UUID, key.Secret)
		resp, err := n.Client.Do(req)
		if err != nil {
			return fmt.Errorf("delete action %s: %w", a.Name, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("delete action %s: status %d", a.Name, resp.StatusCode)
		}
	}
	return nil
}
