package cadvisor

import (
	"slices"
	"strings"
)

// Pod is a pod as cAdvisor's series name it (labels namespace and pod),
// with what it used.
type Pod struct {
	Namespace, Pod string
	// Function is the function the pod's own labels name (the
	// faas_function label, known from kube-state-metrics' kube_pod_labels
	// through Prometheus), or "" when they are not known.
	Function string
	// CPU is the CPU its containers used over the window, in cores
	// (summed over the containers); 0 when unknown (a container seen
	// once only has no rate yet).
	CPU float64
	// Memory is the working set of its containers, in bytes; 0 when
	// unknown.
	Memory float64
}

// A Mapper tells which function a pod runs, or that it runs none. known
// are the functions the node knows (the names in the inner source's
// sample, sorted), for mappers that recognise names rather than parse
// them.
type Mapper interface {
	// Namespace is the Kubernetes namespace of the function pods: the
	// readers keep only the series of that namespace.
	Namespace() string
	Function(p Pod, known []string) (string, bool)
}

// OpenFaaS maps the pods of OpenFaaS functions (faas-netes: one
// Deployment per function in the function namespace) to their function:
//
//  1. the pod's faas_function label when it is known (Pod.Function);
//  2. else the pod's name, which for a Deployment's pod is
//     <function>-<pod-template-hash>-<suffix>: the hash is 1 to 10 of
//     [a-z0-9], the suffix 5 of Kubernetes' random alphabet
//     [bcdfghjklmnpqrstvwxz2456789], both removed;
//  3. else, for a name the API server cut (a generated name keeps at
//     most 58 characters before its 5-character suffix, so that function
//     names longer than 46 characters lose their hash and maybe part of
//     their name), the one known function that name could come from. A
//     58-character name is only ever attributed to a known function.
//
// Pods of the namespace that are not named like a Deployment's pod (a
// StatefulSet's, a bare pod) run no function, unless their label says so.
type OpenFaaS struct {
	// FunctionNamespace is the namespace of the functions; if empty,
	// DefaultOpenFaaSNamespace.
	FunctionNamespace string
}

// DefaultOpenFaaSNamespace is OpenFaaS' function namespace.
const DefaultOpenFaaSNamespace = "openfaas-fn"

// Namespace implements Mapper.
func (o OpenFaaS) Namespace() string {
	if o.FunctionNamespace == "" {
		return DefaultOpenFaaSNamespace
	}
	return o.FunctionNamespace
}

// Lengths of the parts Kubernetes adds to a Deployment's pod names.
const (
	podSuffixLen    = 5  // random suffix of generated names
	maxHashLen      = 10 // decimal digits of a 32-bit hash, each encoded as one character
	maxGeneratedLen = 58 // 63 minus the random suffix
)

// randomAlphabet is Kubernetes' alphabet of random and safe-encoded
// strings (no vowels, no 0, 1 or 3).
const randomAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// Function implements Mapper.
func (o OpenFaaS) Function(p Pod, known []string) (string, bool) {
	if p.Namespace != o.Namespace() {
		return "", false
	}
	if p.Function != "" {
		return p.Function, true
	}
	name := p.Pod
	if len(name) <= podSuffixLen || !only(name[len(name)-podSuffixLen:], randomAlphabet) {
		return "", false
	}
	gen := name[:len(name)-podSuffixLen] // the ReplicaSet's name and "-", perhaps cut
	if fn, ok := deploymentName(gen); ok && (len(gen) < maxGeneratedLen || slices.Contains(known, fn)) {
		return fn, true
	}
	if len(gen) != maxGeneratedLen {
		return "", false
	}
	// Cut: gen is the first 58 characters of <function>-<hash>-.
	var match string
	for _, k := range known {
		full := k + "-"
		if strings.HasPrefix(full, gen) || strings.HasPrefix(gen, full) && (len(gen) == len(full) || only(gen[len(full):], hashAlphabet)) {
			if match != "" {
				return "", false // ambiguous
			}
			match = k
		}
	}
	return match, match != ""
}

// hashAlphabet holds the characters of a pod-template-hash (the random
// alphabet since Kubernetes 1.11, decimal digits before).
const hashAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// deploymentName returns <function> from <function>-<hash>-.
func deploymentName(gen string) (string, bool) {
	rs, ok := strings.CutSuffix(gen, "-")
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rs, '-')
	if i <= 0 || len(rs)-i-1 > maxHashLen || !only(rs[i+1:], hashAlphabet) {
		return "", false
	}
	return rs[:i], true
}

// OpenWhisk maps the action pods of OpenWhisk's Kubernetes container
// factory to their action. The invoker names each action's pod
// wsk<invoker>-<count>-<user namespace>-<action>: the user namespace and
// the action name keep only letters, digits and '_', then every '_'
// becomes '-', the whole is lowercased and cut to 63 characters. The
// action cannot be parsed back out of that (both parts may hold '-'), so
// a pod is recognised by comparing its name's end with each known
// function (an action of the default package, as faas/openwhisk lists
// them), the longest match winning.
//
// Limits: pods still waiting to be used (named ...-prewarm-<kind>) and
// prewarmed pods that were then given an action keep names that say
// nothing of it, so their usage is attributed to no function; names cut
// at 63 characters, and actions whose names differ only by characters
// the invoker drops (a.b and ab), are not recognised either. Action
// containers run by the Docker container factory are not pods: the
// kubelet's cAdvisor does not name them.
type OpenWhisk struct {
	// PodNamespace is the Kubernetes namespace of the action pods
	// (the invoker's, e.g. openwhisk). Required.
	PodNamespace string
	// UserNamespace is the OpenWhisk namespace of the actions (e.g.
	// guest, not "_"); if empty, any.
	UserNamespace string
}

// Namespace implements Mapper.
func (o OpenWhisk) Namespace() string { return o.PodNamespace }

// Function implements Mapper.
func (o OpenWhisk) Function(p Pod, known []string) (string, bool) {
	if p.Namespace != o.PodNamespace || !strings.HasPrefix(p.Pod, "wsk") {
		return "", false
	}
	if p.Function != "" {
		return p.Function, true
	}
	var best string
	bestLen, tie := 0, false
	for _, k := range known {
		a := whiskName(k)
		if a == "" || !strings.HasSuffix(p.Pod, "-"+a) {
			continue
		}
		head := p.Pod[:len(p.Pod)-len(a)-1] // wsk<invoker>-<count>-<user namespace>
		if o.UserNamespace != "" {
			ns, ok := strings.CutSuffix(head, "-"+whiskName(o.UserNamespace))
			if !ok || !endsWithCount(ns) {
				continue
			}
		} else if i := strings.LastIndexByte(head, '-'); i < 0 || !endsWithCount(head[:i]) && !countInside(head) {
			continue
		}
		switch {
		case len(a) > bestLen:
			best, bestLen, tie = k, len(a), false
		case len(a) == bestLen && k != best:
			tie = true
		}
	}
	if best == "" || tie {
		return "", false
	}
	return best, true
}

// whiskName is the part of an invoker's container name OpenWhisk derives
// from a namespace or action name, as it appears in the pod name.
func whiskName(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '_':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// endsWithCount reports whether s is wsk...-<digits>.
func endsWithCount(s string) bool {
	i := strings.LastIndexByte(s, '-')
	return i >= 3 && strings.HasPrefix(s, "wsk") && i+1 < len(s) && only(s[i+1:], "0123456789")
}

// countInside reports whether some '-' of s (a user namespace that holds
// '-') is preceded by wsk...-<digits>.
func countInside(s string) bool {
	for i := len(s) - 1; i > 0; i-- {
		if s[i] == '-' && endsWithCount(s[:i]) {
			return true
		}
	}
	return false
}

// only reports whether s is non-empty and made of the bytes of set.
func only(s, set string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

// Interface guards.
var (
	_ Mapper = OpenFaaS{}
	_ Mapper = OpenWhisk{}
)
