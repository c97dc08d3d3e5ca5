package deploy

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// manifest is one object of a rendered chart, decoded strictly.
type manifest struct {
	Source string // the template it came from ("# Source: ..."), if named
	Object runtime.Object
}

// newDecoder returns a decoder of Kubernetes objects that, as the API server
// with strict field validation, refuses unknown fields, duplicate fields and
// fields in the wrong case.
func newDecoder() (runtime.Decoder, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, rbacv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer(), nil
}

// docSeparator matches the lines that separate YAML documents.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeManifests splits a rendered chart into its YAML documents and
// decodes each into its Kubernetes type strictly. Documents with nothing but
// comments are skipped.
func decodeManifests(data []byte) ([]manifest, error) {
	dec, err := newDecoder()
	if err != nil {
		return nil, err
	}
	var out []manifest
	for i, doc := range docSeparator.Split(string(data), -1) {
		src, empty := "", true
		for _, line := range strings.Split(doc, "\n") {
			t := strings.TrimSpace(line)
			if s, ok := strings.CutPrefix(t, "# Source: "); ok && src == "" {
				src = s
			}
			if t != "" && !strings.HasPrefix(t, "#") {
				empty = false
			}
		}
		if empty {
			continue
		}
		obj, gvk, err := dec.Decode([]byte(doc), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, orUnnamed(src), err)
		}
		if gvk.Kind == "" || gvk.Version == "" {
			return nil, fmt.Errorf("document %d (%s): no apiVersion or kind", i, orUnnamed(src))
		}
		out = append(out, manifest{Source: src, Object: obj})
	}
	return out, nil
}

func orUnnamed(s string) string {
	if s == "" {
		return "unnamed"
	}
	return s
}

// node is a rendered DFaaS node: the objects the chart makes.
type node struct {
	Deployment *appsv1.Deployment
	Public     *corev1.Service // the proxy and peer ports
	Admin      *corev1.Service // the admin server
	Secret     *corev1.Secret  // the identity, unless an existing one is used
	// With agent.flags.cadvisor kubelet only: the agent's account and its
	// right to read the kubelet's metrics.
	Account *corev1.ServiceAccount
	Role    *rbacv1.ClusterRole
	Binding *rbacv1.ClusterRoleBinding
}

// sortNode files the decoded objects of one release, and refuses anything
// the chart should not make (RBAC objects, service accounts, a second
// Deployment, ...), except the account and role of agent.flags.cadvisor
// kubelet, which checkRBAC checks.
func sortNode(ms []manifest) (node, error) {
	var n node
	for _, m := range ms {
		switch o := m.Object.(type) {
		case *appsv1.Deployment:
			if n.Deployment != nil {
				return n, fmt.Errorf("two Deployments: %s and %s", n.Deployment.Name, o.Name)
			}
			n.Deployment = o
		case *corev1.Service:
			if o.Spec.Type == corev1.ServiceTypeClusterIP || o.Spec.Type == "" {
				if n.Admin != nil {
					return n, fmt.Errorf("two ClusterIP Services: %s and %s", n.Admin.Name, o.Name)
				}
				n.Admin = o
			} else {
				if n.Public != nil {
					return n, fmt.Errorf("two public Services: %s and %s", n.Public.Name, o.Name)
				}
				n.Public = o
			}
		case *corev1.Secret:
			if n.Secret != nil {
				return n, fmt.Errorf("two Secrets: %s and %s", n.Secret.Name, o.Name)
			}
			n.Secret = o
		case *corev1.ServiceAccount:
			n.Account = o
		case *rbacv1.ClusterRole:
			n.Role = o
		case *rbacv1.ClusterRoleBinding:
			n.Binding = o
		default:
			return n, fmt.Errorf("%s: unexpected object %T (the agent needs no config map or other RBAC)", m.Source, m.Object)
		}
	}
	if err := checkRBAC(n); err != nil {
		return n, err
	}
	switch {
	case n.Deployment == nil:
		return n, fmt.Errorf("no Deployment")
	case n.Public == nil:
		return n, fmt.Errorf("no NodePort or LoadBalancer Service")
	case n.Admin == nil:
		return n, fmt.Errorf("no ClusterIP Service")
	}
	return n, nil
}

// checkRBAC checks that the agent's account, role and binding come
// together, grant only get on nodes/metrics to this account, and that the
// pod gets a token exactly when they exist.
func checkRBAC(n node) error {
	automount := n.Deployment != nil && n.Deployment.Spec.Template.Spec.AutomountServiceAccountToken != nil &&
		*n.Deployment.Spec.Template.Spec.AutomountServiceAccountToken
	if n.Account == nil && n.Role == nil && n.Binding == nil {
		if n.Deployment != nil && automount {
			return fmt.Errorf("the pod mounts a service account token, but the agent has no role")
		}
		return nil
	}
	if n.Account == nil || n.Role == nil || n.Binding == nil || n.Deployment == nil {
		return fmt.Errorf("service account %v, role %v, binding %v: all or none", n.Account != nil, n.Role != nil, n.Binding != nil)
	}
	want := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}}}
	if fmt.Sprint(n.Role.Rules) != fmt.Sprint(want) {
		return fmt.Errorf("role %s grants %v, want only get on nodes/metrics", n.Role.Name, n.Role.Rules)
	}
	b := n.Binding
	if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != n.Role.Name || len(b.Subjects) != 1 ||
		b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != n.Account.Name || b.Subjects[0].Namespace != n.Account.Namespace {
		return fmt.Errorf("binding %s: role %v subjects %v, want %s to service account %s/%s", b.Name, b.RoleRef, b.Subjects, n.Role.Name, n.Account.Namespace, n.Account.Name)
	}
	if spec := n.Deployment.Spec.Template.Spec; spec.ServiceAccountName != n.Account.Name || !automount {
		return fmt.Errorf("the pod runs as %q (token mounted: %v), want %s with its token", spec.ServiceAccountName, automount, n.Account.Name)
	}
	return nil
}

// expandVars expands $(NAME) references in s as the kubelet does in a
// container's command and args: a defined variable is replaced, $$ is a
// literal $, and an undefined reference is left as it is.
func expandVars(s string, env map[string]string) string {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
