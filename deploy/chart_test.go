package deploy

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// chartPath is the chart, relative to the repository's root.
const chartPath = "deploy/helm/dfaas"

// The addresses the downward API gives the agent in the tests.
const (
	samplePodIP  = "10.42.0.7"
	sampleHostIP = "192.0.2.10"
)

// managedFlags are the agent flags the chart sets itself rather than from
// agent.flags, and why.
var managedFlags = map[string]string{
	"http":                   "the admin server listens on the pod's addresses, on agent.adminPort",
	"node-ip":                "the value nodeIP, else the Kubernetes node's IP",
	"key":                    "the identity Secret",
	"cert":                   "the identity Secret",
	"haproxy-dir":            "a volume of the pod (the root file system is read-only)",
	"haproxy-attach":         "the agent starts HAProxy itself in its container",
	"haproxy-master-socket":  "in --haproxy-dir",
	"haproxy-runtime-socket": "in --haproxy-dir",
	"openfaas-password-file": "the Secret openfaas.passwordSecret",
	"openwhisk-auth-file":    "the Secret openwhisk.authSecret",
	"openwhisk-ca":           "the Secret openwhisk.caSecret",
}

// chartDefaults are the agent.flags defaults that differ from the binary's,
// and why.
var chartDefaults = map[string]string{
	"proxy": "haproxy", // the chart runs HAProxy (issue 9); the binary's default is the embedded proxy
}

// adminPaths are the paths the agent's admin server serves.
var adminPaths = []string{"/healthz", "/status", "/metrics"}

// loadValues reads a values file.
func loadValues(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v := map[string]any{}
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// mergeValues merges src into dst as Helm merges values files: maps merge
// key by key, anything else replaces, and null deletes.
func mergeValues(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// chartValues returns the chart's values with the files (relative to the
// repository's root) merged in.
func chartValues(t *testing.T, files ...string) map[string]any {
	t.Helper()
	v, err := loadValues(filepath.Join(repoRoot, chartPath, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		fv, err := loadValues(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		mergeValues(v, fv)
	}
	return v
}

// lookup returns the value at a dotted path of values, or nil.
func lookup(values map[string]any, path string) any {
	var cur any = values
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// str returns the value at path as a string ("" when absent).
func str(values map[string]any, path string) string {
	v := lookup(values, path)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// flagValues turns a value of agent.flags into the flag values it stands
// for: none for an empty string, one per item of a list.
func flagValues(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	case float64:
		return []string{strconv.FormatInt(int64(x), 10)}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	default:
		return []string{fmt.Sprint(x)}
	}
}

// containerfileUser is the user of the agent image's final stage.
func containerfileUser(t *testing.T) int64 {
	t.Helper()
	cf := readContainerfile(t)
	stage := cf.stages[len(cf.stages)-1]
	uid, _, err := stage.user()
	if err != nil {
		t.Fatalf("Containerfile stage %s: %v", stage.name, err)
	}
	return uid
}

// checkNode checks the wiring of a rendered node against the values it was
// rendered with and the binary's flags. It returns the agent's parsed
// arguments.
func checkNode(t *testing.T, n node, values map[string]any, flags []flagInfo, release string) parsedArgs {
	t.Helper()
	d := n.Deployment
	pod := d.Spec.Template.Spec
	errorf := func(format string, a ...any) {
		t.Helper()
		t.Errorf("release %s: %s", release, fmt.Sprintf(format, a...))
	}

	// Names and labels are valid Kubernetes names.
	for _, name := range []string{d.Name, n.Admin.Name, n.Public.Name} {
		if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
			errorf("name %q: %v", name, errs)
		}
	}
	for _, labels := range []map[string]string{d.Labels, d.Spec.Template.Labels, n.Public.Labels, n.Admin.Labels} {
		for k, v := range labels {
			if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(errs) > 0 {
				errorf("label %s=%s: %v", k, v, errs)
			}
		}
	}

	// One agent, replaced rather than rolled (two would hold one key).
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		errorf("strategy %q, want Recreate", d.Spec.Strategy.Type)
	}
	if d.Spec.Selector == nil || !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) || len(d.Spec.Selector.MatchLabels) == 0 {
		errorf("selector %v does not select the pod's labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	if len(pod.Containers) != 1 || pod.Containers[0].Name != "agent" {
		t.Fatalf("release %s: want one container named agent, got %d", release, len(pod.Containers))
	}
	c := pod.Containers[0]

	// Security: non-root as the image's user, read-only root, no
	// privilege, no Kubernetes API token.
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		errorf("the service account token is mounted; the agent does not use the API")
	}
	if pod.ServiceAccountName != "" {
		errorf("service account %q: the agent needs none", pod.ServiceAccountName)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != containerfileUser(t) {
		errorf("pod security context %+v: want runAsNonRoot and the image's user %d", psc, containerfileUser(t))
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		errorf("container security context %+v: want a read-only root, no privilege escalation, all capabilities dropped", sc)
	}

	// Ports.
	ports := map[string]corev1.ContainerPort{}
	for _, p := range c.Ports {
		if errs := validation.IsValidPortName(p.Name); len(errs) > 0 {
			errorf("container port name %q: %v", p.Name, errs)
		}
		ports[p.Name] = p
	}
	for name, proto := range map[string]corev1.Protocol{"proxy": corev1.ProtocolTCP, "peer": corev1.ProtocolUDP, "admin": corev1.ProtocolTCP} {
		if p, ok := ports[name]; !ok || p.Protocol != proto {
			errorf("container port %s: %+v, want protocol %s", name, p, proto)
		}
	}
	if len(ports) != 3 {
		errorf("container ports %v, want proxy, peer and admin", c.Ports)
	}

	// Mounts reference volumes.
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	mountOf := func(path string) (corev1.VolumeMount, corev1.Volume, bool) {
		for _, m := range c.VolumeMounts {
			if path == m.MountPath || strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
				return m, vols[m.Name], true
			}
		}
		return corev1.VolumeMount{}, corev1.Volume{}, false
	}
	for _, m := range c.VolumeMounts {
		if _, ok := vols[m.Name]; !ok {
			errorf("volume mount %s: no volume %q", m.MountPath, m.Name)
		}
	}

	// The environment, as the kubelet resolves it with sample addresses.
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expandVars(e.Value, env)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP":
			env[e.Name] = samplePodIP
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.hostIP":
			env[e.Name] = sampleHostIP
		default:
			env[e.Name] = "<" + e.Name + ">"
		}
	}

	// The arguments parse with the binary's flags.
	if len(c.Command) != 0 {
		errorf("command %q overrides the image's entry point", c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != "agent" {
		t.Fatalf("release %s: args %q do not start with the agent command", release, c.Args)
	}
	args := make([]string, len(c.Args)-1)
	for i, a := range c.Args[1:] {
		args[i] = expandVars(a, env)
		if strings.Contains(args[i], "$(") {
			errorf("argument %q: unresolved variable", a)
		}
	}
	p, err := parseArgs(flags, args)
	if err != nil {
		t.Fatalf("release %s: the binary's flags refuse the agent's arguments %q: %v", release, args, err)
	}
	for name, vals := range p.values {
		if len(vals) > 1 && name != "function" {
			errorf("flag --%s given %d times: %q", name, len(vals), vals)
		}
	}
	portOf := func(flagName string) int32 {
		v, _ := p.get(flagName)
		_, port, err := net.SplitHostPort(v)
		if err != nil {
			errorf("--%s %q: %v", flagName, v, err)
			return 0
		}
		n, err := strconv.ParseInt(port, 10, 32)
		if err != nil {
			errorf("--%s %q: port: %v", flagName, v, err)
		}
		return int32(n)
	}

	// The admin server listens on the pod's addresses (the probes and
	// Prometheus use its IP, kubectl port-forward its loopback), on the
	// admin port.
	if got, want := get(p, "http"), net.JoinHostPort("", strconv.Itoa(int(ports["admin"].ContainerPort))); got != want {
		errorf("--http %q, want %q (every address of the pod, the admin port)", got, want)
	}
	if got := portOf("proxy-listen"); got != ports["proxy"].ContainerPort {
		errorf("--proxy-listen port %d, container port proxy %d", got, ports["proxy"].ContainerPort)
	}
	if got := portOf("peer-listen"); got != ports["peer"].ContainerPort {
		errorf("--peer-listen port %d, container port peer %d", got, ports["peer"].ContainerPort)
	}
	wantIP := str(values, "nodeIP")
	if wantIP == "" {
		wantIP = sampleHostIP
	}
	if got := get(p, "node-ip"); got != wantIP {
		errorf("--node-ip %q, want %q", got, wantIP)
	}

	// Files: the key (and certificate) from the identity Secret, the
	// gateway's password from its Secret, HAProxy's directory on a
	// writable volume.
	identitySecret := str(values, "identity.existingSecret")
	if identitySecret == "" {
		if n.Secret == nil {
			t.Fatalf("release %s: no existing identity Secret and none rendered", release)
		}
		identitySecret = n.Secret.Name
	} else if n.Secret != nil {
		errorf("Secret %s rendered although identity.existingSecret is %s", n.Secret.Name, identitySecret)
	}
	wantCert := str(values, "identity.certificate") != "" && str(values, "identity.existingSecret") == "" ||
		str(values, "identity.existingSecret") != "" && lookup(values, "identity.certificateInExistingSecret") == true
	checkSecretFile := func(flagName, secret, key string, required bool) {
		t.Helper()
		path, ok := p.get(flagName)
		if !ok {
			if required {
				errorf("--%s not given", flagName)
			}
			return
		}
		if !required {
			errorf("--%s %q given, but there is no such file", flagName, path)
			return
		}
		m, v, ok := mountOf(path)
		if !ok || v.Secret == nil || v.Secret.SecretName != secret {
			errorf("--%s %q is not on a volume of Secret %s (mount %q of volume %q)", flagName, path, secret, m.MountPath, v.Name)
			return
		}
		rel := strings.TrimPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		found := false
		for _, it := range v.Secret.Items {
			if it.Path == rel && it.Key == key {
				found = true
			}
		}
		if !found {
			errorf("--%s %q: volume %s does not map key %s of Secret %s to %s", flagName, path, v.Name, key, secret, rel)
		}
		if mode := v.Secret.DefaultMode; mode == nil || *mode&0o007 != 0 || *mode&0o040 == 0 {
			errorf("volume %s: mode %v, want readable by the group (fsGroup) and not by others", v.Name, mode)
		}
	}
	checkSecretFile("key", identitySecret, "node.pem", true)
	checkSecretFile("cert", identitySecret, "node.crt", wantCert)
	pw := str(values, "openfaas.passwordSecret")
	checkSecretFile("openfaas-password-file", pw, str(values, "openfaas.passwordKey"), pw != "")
	owAuth, owCA := str(values, "openwhisk.authSecret"), str(values, "openwhisk.caSecret")
	checkSecretFile("openwhisk-auth-file", owAuth, str(values, "openwhisk.authKey"), owAuth != "")
	checkSecretFile("openwhisk-ca", owCA, str(values, "openwhisk.caKey"), owCA != "")
	if dir, ok := p.get("haproxy-dir"); !ok {
		errorf("--haproxy-dir not given")
	} else if m, v, ok := mountOf(dir); !ok || v.EmptyDir == nil || m.ReadOnly {
		errorf("--haproxy-dir %q is not on a writable emptyDir volume", dir)
	} else if len(dir)+len("/sock/n99999.sock") > 107 {
		errorf("--haproxy-dir %q is too long for HAProxy's UNIX sockets", dir)
	}
	if _, _, ok := mountOf("/tmp"); !ok {
		errorf("no volume on /tmp (the root file system is read-only)")
	}

	// Every value of agent.flags is on the command line, as given.
	fv, _ := lookup(values, "agent.flags").(map[string]any)
	for name, v := range fv {
		if _, managed := managedFlags[name]; managed {
			errorf("agent.flags.%s: the chart sets --%s itself", name, name)
		}
		want := flagValues(v)
		if got := p.values[name]; !slices.Equal(got, want) {
			errorf("agent.flags.%s = %v renders --%s %q, want %q", name, v, name, got, want)
		}
	}
	for name := range p.values {
		if _, ok := fv[name]; !ok {
			if _, managed := managedFlags[name]; !managed {
				errorf("--%s rendered, but it is neither in agent.flags nor set by the chart", name)
			}
		}
	}

	// Probes: HTTP on the admin port, on paths the admin server serves.
	for name, pr := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if pr == nil || pr.HTTPGet == nil {
			errorf("%s probe: want an HTTP probe", name)
			continue
		}
		port := pr.HTTPGet.Port
		if !(port.StrVal == "admin" || port.IntVal == ports["admin"].ContainerPort && port.IntVal != 0) {
			errorf("%s probe: port %s is not the admin port", name, port.String())
		}
		if !slices.Contains(adminPaths, pr.HTTPGet.Path) {
			errorf("%s probe: path %q is not served by the admin server (%v)", name, pr.HTTPGet.Path, adminPaths)
		}
		if want := str(values, "probes."+name+".path"); pr.HTTPGet.Path != want {
			errorf("%s probe: path %q, values say %q", name, pr.HTTPGet.Path, want)
		}
	}

	// The public Service: the proxy (TCP) and peer (UDP) ports on node
	// ports of the same numbers, nothing else.
	checkService := func(s *corev1.Service) {
		t.Helper()
		if !subset(s.Spec.Selector, d.Spec.Template.Labels) || len(s.Spec.Selector) == 0 {
			errorf("Service %s: selector %v does not select the agent's pod %v", s.Name, s.Spec.Selector, d.Spec.Template.Labels)
		}
		for _, sp := range s.Spec.Ports {
			cp, ok := ports[sp.TargetPort.StrVal]
			if sp.TargetPort.StrVal == "" || !ok {
				errorf("Service %s port %s: target port %s is not a named port of the agent", s.Name, sp.Name, sp.TargetPort.String())
				continue
			}
			if cp.Protocol != sp.Protocol {
				errorf("Service %s port %s: protocol %s, the container port's is %s", s.Name, sp.Name, sp.Protocol, cp.Protocol)
			}
		}
	}
	checkService(n.Public)
	checkService(n.Admin)
	if typ := n.Public.Spec.Type; typ != corev1.ServiceTypeNodePort && typ != corev1.ServiceTypeLoadBalancer {
		errorf("Service %s: type %s", n.Public.Name, typ)
	}
	if n.Public.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal && str(values, "service.externalTrafficPolicy") == "Local" {
		errorf("Service %s: externalTrafficPolicy %q", n.Public.Name, n.Public.Spec.ExternalTrafficPolicy)
	}
	seen := map[string]bool{}
	for _, sp := range n.Public.Spec.Ports {
		seen[sp.TargetPort.StrVal] = true
		cp := ports[sp.TargetPort.StrVal]
		if sp.TargetPort.StrVal == "admin" {
			errorf("Service %s exposes the admin server outside the cluster", n.Public.Name)
		}
		if sp.Port != cp.ContainerPort || sp.NodePort != cp.ContainerPort {
			errorf("Service %s port %s: port %d, node port %d, want both %d", n.Public.Name, sp.Name, sp.Port, sp.NodePort, cp.ContainerPort)
		}
		if sp.NodePort < 30000 || sp.NodePort > 32767 {
			errorf("Service %s port %s: node port %d is outside the default range 30000-32767", n.Public.Name, sp.Name, sp.NodePort)
		}
	}
	if !seen["proxy"] || !seen["peer"] || len(n.Public.Spec.Ports) != 2 {
		errorf("Service %s: ports %+v, want proxy and peer", n.Public.Name, n.Public.Spec.Ports)
	}
	if len(n.Admin.Spec.Ports) != 1 || n.Admin.Spec.Ports[0].TargetPort.StrVal != "admin" || n.Admin.Spec.Ports[0].NodePort != 0 {
		errorf("Service %s: ports %+v, want the admin port only", n.Admin.Name, n.Admin.Spec.Ports)
	}

	// The identity Secret holds an Ed25519 key the binary accepts.
	if n.Secret != nil {
		key := n.Secret.Data["node.pem"]
		checkKey(t, key)
		if want := str(values, "identity.key"); want != "" && string(key) != want {
			errorf("Secret %s: node.pem is not identity.key", n.Secret.Name)
		}
		if _, ok := n.Secret.Data["node.crt"]; ok != wantCert {
			errorf("Secret %s: node.crt present %v, want %v", n.Secret.Name, ok, wantCert)
		}
	}
	return p
}

// get returns the value of a flag in p ("" if not given).
func get(p parsedArgs, name string) string {
	v, _ := p.get(name)
	return v
}

// subset reports whether every label of a is in b.
func subset(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkKey checks that data is an Ed25519 PKCS#8 PEM key that
// "dfaas keygen --show" reads, and returns its node ID.
func checkKey(t *testing.T, data []byte) string {
	t.Helper()
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("node key: not one PKCS#8 PEM block:\n%s", data)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("node key: %v", err)
	}
	if _, ok := k.(ed25519.PrivateKey); !ok {
		t.Fatalf("node key: %T, want Ed25519", k)
	}
	path := filepath.Join(t.TempDir(), "node.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(buildDfaas(t), "keygen", "--show", path).CombinedOutput()
	id := strings.TrimSpace(string(out))
	if err != nil || !strings.HasPrefix(id, "12D3KooW") {
		t.Fatalf("dfaas keygen --show: %v: %s", err, out)
	}
	return id
}

// render runs helm template and decodes the node it renders.
func render(t *testing.T, args ...string) ([]byte, node) {
	t.Helper()
	out := mustHelm(t, append([]string{"template"}, args...)...)
	ms, err := decodeManifests(out)
	if err != nil {
		t.Fatalf("helm template %s: strict decoding: %v", strings.Join(args, " "), err)
	}
	n, err := sortNode(ms)
	if err != nil {
		t.Fatalf("helm template %s: %v", strings.Join(args, " "), err)
	}
	return out, n
}

// TestGuideHelmCommands runs every helm command of the deployment guide:
// lint must pass, and every release of the local chart (install commands are
// rendered with helm template and the same arguments) must decode strictly
// into Kubernetes types and be wired right. The guide must cover the
// default values and the three nodes of the federation example.
func TestGuideHelmCommands(t *testing.T) {
	flags := binaryFlags(t, "agent")
	cmds := guideHelmCommands(t)
	linted, rendered := 0, map[string]bool{}
	for _, c := range cmds {
		switch c.Args[1] {
		case "lint":
			r := runHelm(t, c.Args[1:]...)
			if r.err != nil {
				t.Errorf("%v: %v\n%s%s", c, r.err, r.stdout, r.stderr)
			}
			linted++
		case "install", "template":
			r, err := parseRelease(c)
			if err != nil {
				t.Error(err)
				continue
			}
			for _, f := range r.ValuesFiles {
				if _, err := os.Stat(filepath.Join(repoRoot, f)); err != nil {
					t.Errorf("%v: %v", c, err)
				}
			}
			if !r.Local {
				continue // an upstream chart: see TestUpstreamValues
			}
			args := append([]string{"template"}, c.Args[2:]...)
			out := mustHelm(t, args...)
			ms, err := decodeManifests(out)
			if err != nil {
				t.Errorf("%v: strict decoding: %v", c, err)
				continue
			}
			n, err := sortNode(ms)
			if err != nil {
				t.Errorf("%v: %v", c, err)
				continue
			}
			for _, o := range []interface{ GetNamespace() string }{n.Deployment, n.Public, n.Admin} {
				if o.GetNamespace() != r.Namespace {
					t.Errorf("%v: object in namespace %q", c, o.GetNamespace())
				}
			}
			checkNode(t, n, chartValues(t, r.ValuesFiles...), flags, fmt.Sprintf("%s (%v)", r.Release, c))
			rendered[strings.Join(r.ValuesFiles, " ")] = true
		case "repo", "upgrade", "uninstall", "status", "get":
		default:
			t.Errorf("%v: the test does not know helm %s", c, c.Args[1])
		}
	}
	if linted == 0 {
		t.Error("the guide lints nothing")
	}
	want := []string{""}
	for _, n := range []string{"a", "b", "c"} {
		want = append(want, "deploy/helm/examples/dfaas-openfaas.yaml deploy/helm/examples/federation.yaml deploy/helm/examples/node-"+n+".yaml")
	}
	for _, w := range want {
		if !rendered[w] {
			t.Errorf("the guide renders no release with values files [%s]; it rendered %v", w, slices.Sorted(maps.Keys(rendered)))
		}
	}
}

// TestFederationExample checks that the three nodes of the example form one
// federation: the same bootstrap list and members, each node's own peer
// address in the list, distinct addresses.
func TestFederationExample(t *testing.T) {
	flags := binaryFlags(t, "agent")
	var boot, members string
	addrs := map[string]bool{}
	for _, name := range []string{"a", "b", "c"} {
		files := []string{"deploy/helm/examples/dfaas-openfaas.yaml", "deploy/helm/examples/federation.yaml", "deploy/helm/examples/node-" + name + ".yaml"}
		args := []string{"node-" + name, chartPath, "--namespace", "openfaas"}
		for _, f := range files {
			args = append(args, "-f", f)
		}
		out, n := render(t, args...)
		p := checkNode(t, n, chartValues(t, files...), flags, "node-"+name)
		if name == "a" {
			golden(t, "node-a.golden.yaml", out)
			boot, members = get(p, "bootstrap"), get(p, "members")
		} else if get(p, "bootstrap") != boot || get(p, "members") != members {
			t.Errorf("node-%s: bootstrap or members differ from node-a's", name)
		}
		_, port, _ := net.SplitHostPort(get(p, "peer-listen"))
		self := net.JoinHostPort(get(p, "node-ip"), port)
		if addrs[self] {
			t.Errorf("node-%s: peer address %s is another node's", name, self)
		}
		addrs[self] = true
		if !strings.Contains(boot, "quic://"+self+"/") {
			t.Errorf("node-%s: its peer address %s is not in the bootstrap list %q", name, self, boot)
		}
		if get(p, "faas") != "openfaas" || get(p, "metrics") != "prometheus" {
			t.Errorf("node-%s: --faas %q --metrics %q, want openfaas and prometheus", name, get(p, "faas"), get(p, "metrics"))
		}
	}
	ids := strings.FieldsFunc(members, func(r rune) bool { return r == ',' || r == ' ' })
	if len(ids) != 3 {
		t.Errorf("members %q: want 3 node IDs", members)
	}
	for _, id := range ids {
		if !strings.Contains(boot, "/"+id) {
			t.Errorf("member %s has no bootstrap entry", id)
		}
	}

	// The agent accepts the lists: it starts (on loopback, with the
	// embedded proxy and FaaS) rather than refusing them.
	cmd := exec.Command(buildDfaas(t), "agent", "--bootstrap="+boot, "--members="+members,
		"--peer-listen=127.0.0.1:0", "--proxy-listen=127.0.0.1:0", "--http=127.0.0.1:0", "--metrics=proxy")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(logs.String(), "agent started") {
		select {
		case err := <-done:
			t.Fatalf("dfaas agent refused the example's --bootstrap and --members: %v\n%s", err, logs.String())
		case <-deadline:
			cmd.Process.Kill()
			<-done
			t.Fatalf("dfaas agent did not start in 20 s:\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Errorf("dfaas agent: %v\n%s", err, logs.String())
	}
}

// TestChartValues checks the values against the binary: agent.flags holds
// every flag the chart does not set itself, with the binary's default
// (except the documented chart defaults), and the schema knows every one of
// them with its type.
func TestChartValues(t *testing.T) {
	flags := binaryFlags(t, "agent")
	values := chartValues(t)
	fv, ok := lookup(values, "agent.flags").(map[string]any)
	if !ok {
		t.Fatal("values.yaml has no agent.flags")
	}
	schemaData, err := os.ReadFile(filepath.Join(repoRoot, chartPath, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := yaml.Unmarshal(schemaData, &schema); err != nil {
		t.Fatal(err)
	}
	props, _ := lookup(schema, "properties.agent.properties.flags.properties").(map[string]any)
	if lookup(schema, "properties.agent.properties.flags.additionalProperties") != false {
		t.Error("values.schema.json: agent.flags must refuse unknown flags (additionalProperties: false)")
	}
	known := map[string]bool{}
	for _, f := range flags {
		known[f.Name] = true
		if why, ok := managedFlags[f.Name]; ok {
			if _, inValues := fv[f.Name]; inValues {
				t.Errorf("agent.flags.%s: the chart sets it itself (%s)", f.Name, why)
			}
			continue
		}
		v, ok := fv[f.Name]
		if !ok {
			t.Errorf("flag --%s (%s) has no value agent.flags.%s", f.Name, f.Type, f.Name)
			continue
		}
		want := f.Default
		if d, ok := chartDefaults[f.Name]; ok {
			if d == f.Default {
				t.Errorf("chartDefaults[%s] = %q is the binary's default now: remove it", f.Name, d)
			}
			want = d
		}
		if !sameValue(f, v, want) {
			t.Errorf("agent.flags.%s = %v, the binary's default is %q", f.Name, v, f.Default)
		}
		s, ok := props[f.Name].(map[string]any)
		if !ok {
			t.Errorf("values.schema.json has no agent.flags.%s", f.Name)
			continue
		}
		wantType := map[string]string{"bool": "boolean", "int": "integer", "uint": "integer", "value": "array"}[f.Type]
		if wantType == "" {
			wantType = "string"
		}
		if s["type"] != wantType {
			t.Errorf("values.schema.json: agent.flags.%s has type %v, want %s for a %s flag", f.Name, s["type"], wantType, f.Type)
		}
	}
	for name := range fv {
		if !known[name] {
			t.Errorf("agent.flags.%s: dfaas agent has no flag --%s", name, name)
		}
	}
	for name := range props {
		if _, ok := fv[name]; !ok {
			t.Errorf("values.schema.json: agent.flags.%s is not in values.yaml", name)
		}
	}
	for name := range managedFlags {
		if !known[name] {
			t.Errorf("the chart sets --%s, which dfaas agent does not have", name)
		}
	}
}

// sameValue reports whether the value v of agent.flags means the default d
// of flag f.
func sameValue(f flagInfo, v any, d string) bool {
	got := flagValues(v)
	switch f.Type {
	case "value":
		return len(got) == 0 && d == ""
	case "duration":
		if len(got) != 1 {
			return false
		}
		a, err := time.ParseDuration(got[0])
		if err != nil {
			return false
		}
		var b time.Duration
		if d != "" {
			if b, err = time.ParseDuration(d); err != nil {
				return false
			}
		}
		return a == b
	case "int", "uint":
		if d == "" {
			d = "0"
		}
		return len(got) == 1 && got[0] == d
	case "bool":
		if d == "" {
			d = "false"
		}
		return len(got) == 1 && got[0] == d
	default:
		if d == "" {
			return len(got) == 0
		}
		return len(got) == 1 && got[0] == d
	}
}

// TestChartIdentity renders the chart with a key and a certificate given as
// values, and with a key the chart generates.
func TestChartIdentity(t *testing.T) {
	flags := binaryFlags(t, "agent")
	bin := buildDfaas(t)
	dir := t.TempDir()
	keyFile, fedFile, certFile := filepath.Join(dir, "node.pem"), filepath.Join(dir, "fed.pem"), filepath.Join(dir, "node.crt")
	run := func(args ...string) string {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("dfaas %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	id := run("keygen", "--out", keyFile)
	fed := run("keygen", "--out", fedFile)
	run("keygen", "--issue", id, "--federation-key", fedFile, "--cert-out", certFile)
	key, _ := os.ReadFile(keyFile)
	cert, _ := os.ReadFile(certFile)
	vals := filepath.Join(dir, "values.yaml")
	v, err := yaml.Marshal(map[string]any{
		"identity": map[string]any{"key": string(key), "certificate": string(cert)},
		"agent":    map[string]any{"flags": map[string]any{"federation": fed}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vals, v, 0o600); err != nil {
		t.Fatal(err)
	}
	_, n := render(t, "n1", chartPath, "-f", vals)
	values := chartValues(t)
	mergeValues(values, map[string]any{"identity": map[string]any{"key": string(key), "certificate": string(cert)}, "agent": map[string]any{"flags": map[string]any{"federation": fed}}})
	checkNode(t, n, values, flags, "n1")
	if got := checkKey(t, n.Secret.Data["node.pem"]); got != id {
		t.Errorf("rendered key has ID %s, want %s", got, id)
	}
	if !bytes.Equal(n.Secret.Data["node.crt"], cert) {
		t.Error("rendered certificate differs from identity.certificate")
	}

	// A generated key: a different valid one at every render (helm
	// template has no cluster to keep it in).
	_, n1 := render(t, "n1", chartPath)
	_, n2 := render(t, "n1", chartPath)
	if checkKey(t, n1.Secret.Data["node.pem"]) == checkKey(t, n2.Secret.Data["node.pem"]) {
		t.Error("two renders generated the same key")
	}
	if n1.Secret.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Error("the identity Secret is not kept by helm uninstall")
	}
}

// TestChartEmbedded renders a node with the embedded proxy and functions of
// the embedded FaaS, and an address given as nodeIP.
func TestChartEmbedded(t *testing.T) {
	flags := binaryFlags(t, "agent")
	_, n := render(t, "edge", chartPath, "-f", "deploy/testdata/values-embedded.yaml")
	p := checkNode(t, n, chartValues(t, "deploy/testdata/values-embedded.yaml"), flags, "edge")
	if got := p.values["function"]; len(got) != 2 {
		t.Errorf("--function %q, want 2", got)
	}
	if get(p, "seed") != "9007199254740992" {
		t.Errorf("--seed %q: a large seed lost digits", get(p, "seed"))
	}
}

// TestChartOpenWhisk renders the example of a node on an existing
// OpenWhisk: the API key comes from OpenWhisk's Secret (readable by the
// agent's group only), the CA from a Secret when given, and the agent's
// arguments parse with the binary's flags.
func TestChartOpenWhisk(t *testing.T) {
	flags := binaryFlags(t, "agent")
	example := "deploy/helm/examples/dfaas-openwhisk.yaml"
	_, n := render(t, "ow", chartPath, "-f", example)
	p := checkNode(t, n, chartValues(t, example), flags, "ow")
	if get(p, "faas") != "openwhisk" || get(p, "openwhisk-auth-file") == "" || get(p, "prometheus-gateway") != "job=openwhisk-user-events" {
		t.Errorf("--faas %q --openwhisk-auth-file %q --prometheus-gateway %q", get(p, "faas"), get(p, "openwhisk-auth-file"), get(p, "prometheus-gateway"))
	}
	if _, ok := p.get("openwhisk-ca"); ok {
		t.Error("--openwhisk-ca given without openwhisk.caSecret")
	}

	ca := map[string]any{
		"openwhisk": map[string]any{"caSecret": "owdev-nginx", "caKey": "tls.crt"},
		"agent":     map[string]any{"flags": map[string]any{"openwhisk-url": "https://owdev-nginx.openwhisk.svc"}},
	}
	data, err := yaml.Marshal(ca)
	if err != nil {
		t.Fatal(err)
	}
	withCA := filepath.Join(t.TempDir(), "ca.yaml")
	if err := os.WriteFile(withCA, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, n = render(t, "ow", chartPath, "-f", example, "-f", withCA)
	values := chartValues(t, example)
	mergeValues(values, ca)
	p = checkNode(t, n, values, flags, "ow")
	if get(p, "openwhisk-ca") == "" {
		t.Error("openwhisk.caSecret set, but no --openwhisk-ca")
	}
}

// TestChartCAdvisorKubelet: with agent.flags.cadvisor kubelet the chart
// gives the agent an account allowed to read its kubelet's metrics
// (checkRBAC checks the objects); by default it gives none.
func TestChartCAdvisorKubelet(t *testing.T) {
	_, n := render(t, "edge", chartPath, "--set", "agent.flags.cadvisor=kubelet")
	if n.Account == nil || n.Role == nil || n.Binding == nil {
		t.Fatalf("cadvisor kubelet: account %v role %v binding %v", n.Account != nil, n.Role != nil, n.Binding != nil)
	}
	if args := strings.Join(n.Deployment.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--cadvisor=kubelet") {
		t.Errorf("args %s: no --cadvisor=kubelet", args)
	}
	if _, n = render(t, "edge", chartPath); n.Account != nil || n.Role != nil || n.Binding != nil {
		t.Errorf("default values: the chart makes RBAC objects")
	}
}

// TestChartErrors checks that bad values fail with an error naming them.
func TestChartErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		values string
		want   string
	}{
		{"agent: {flags: {strateggy: flow}}", "strateggy"},
		{"agent: {flags: {period: 5}}", "period"},
		{"agent: {flags: {period: five}}", "period"},
		{"agent: {flags: {proxy-listen: \"30080\"}}", "proxy-listen"},
		{"agent: {flags: {peer-listen: \"udp\"}}", "peer-listen"},
		{"agent: {flags: {faas: openwhisk}}", "openwhisk.authSecret"},
		{"agent: {flags: {faas: lambda}}", "faas"},
		{"{openwhisk: {authSecret: k}, agent: {flags: {faas: openwhisk, function: [figlet]}}}", "function"},
		{"{openwhisk: {authSecret: k}, agent: {flags: {faas: openwhisk, openwhisk-url: controller}}}", "openwhisk-url"},
		{"{openwhisk: {authSecret: k, authKey: \"\"}, agent: {flags: {faas: openwhisk}}}", "authKey"},
		{"agent: {flags: {faas: openfaas, function: [figlet]}}", "function"},
		{"identity: {key: not a key}", "identity.key"},
		{"service: {type: ClusterIP}", "type"},
		{"probes: {liveness: {path: status, periodSeconds: 1, failureThreshold: 1}}", "path"},
		{"nodeIPs: 10.0.0.1", "nodeIPs"},
	} {
		f := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(f, []byte(tc.values+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runHelm(t, "template", "x", chartPath, "-f", f)
		if r.err == nil {
			t.Errorf("values %s: helm template succeeded", tc.values)
			continue
		}
		if !strings.Contains(string(r.stderr), tc.want) {
			t.Errorf("values %s: the error does not name %q:\n%s", tc.values, tc.want, r.stderr)
		}
	}
}
