package cadvisor_test

import (
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/metricsrc/cadvisor"
)

func TestOpenFaaSMapper(t *testing.T) {
	long := "a-function-whose-name-is-much-longer-than-forty-six"        // 51 characters
	cut := (long + "-6d4f8b9c7b-")[:58]                                  // the API server keeps 58 characters
	other := "a-function-whose-name-is-much-longer-than-forty-seven-xyz" // same first 45 characters
	twinA, twinB := strings.Repeat("p", 58)+"aa", strings.Repeat("p", 58)+"bb"
	known := []string{"figlet", long, other, twinA, twinB}
	tests := []struct {
		name string
		pod  cadvisor.Pod
		want string // "" when no function
	}{
		{"deployment pod", cadvisor.Pod{Namespace: "openfaas-fn", Pod: "figlet-5d7f8b9c4-x7k2p"}, "figlet"},
		{"name with dashes", cadvisor.Pod{Namespace: "openfaas-fn", Pod: "my-fn-v2-7c9bd5f8f6-bq2zl"}, "my-fn-v2"},
		{"numeric hash (old Kubernetes)", cadvisor.Pod{Namespace: "openfaas-fn", Pod: "shasum-3287459981-wz9kp"}, "shasum"},
		{"unknown function by name", cadvisor.Pod{Namespace: "openfaas-fn", Pod: "nodeinfo-6b8d7f4c5d-2kq9x"}, "nodeinfo"},
		{"label wins", cadvisor.Pod{Namespace: "openfaas-fn", Pod: "whatever-0", Function: "figlet"}, "figlet"},
		{"other namespace", cadvisor.Pod{Namespace: "openfaas", Pod: "gateway-5d7f8b9c4-x7k2p"}, ""},
		{"statefulset pod", cadvisor.Pod{Namespace: "openfaas-fn", Pod: "db-0"}, ""},
		{"bare pod", cadvisor.Pod{Namespace: "openfaas-fn", Pod: "debug"}, ""},
		{"suffix outside the alphabet", cadvisor.Pod{Namespace: "openfaas-fn", Pod: "figlet-5d7f8b9c4-aeiou"}, ""},
		{"hash too long", cadvisor.Pod{Namespace: "openfaas-fn", Pod: "figlet-5d7f8b9c4bb-x7k2p"}, ""},
		{"no hash", cadvisor.Pod{Namespace: "openfaas-fn", Pod: "figlet-x7k2p"}, ""},
		{"cut name of a known function", cadvisor.Pod{Namespace: "openfaas-fn", Pod: cut + "x7k2p"}, long},
		{"cut name, no known function", cadvisor.Pod{Namespace: "openfaas-fn", Pod: strings.Repeat("q", 58) + "x7k2p"}, ""},
		{"cut within the name of a known function", cadvisor.Pod{Namespace: "openfaas-fn", Pod: (other + "-6d4f8b9c7b-")[:58] + "x7k2p"}, other},
		{"cut within two known names", cadvisor.Pod{Namespace: "openfaas-fn", Pod: strings.Repeat("p", 58) + "x7k2p"}, ""},
	}
	m := cadvisor.OpenFaaS{}
	if m.Namespace() != "openfaas-fn" {
		t.Fatalf("default namespace %q", m.Namespace())
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := m.Function(tt.pod, known)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("Function(%+v) = %q, %v; want %q", tt.pod, got, ok, tt.want)
			}
		})
	}
	if got, ok := (cadvisor.OpenFaaS{FunctionNamespace: "fn"}).Function(cadvisor.Pod{Namespace: "fn", Pod: "figlet-5d7f8b9c4-x7k2p"}, nil); !ok || got != "figlet" {
		t.Errorf("namespace fn: %q, %v", got, ok)
	}
}

func TestOpenWhiskMapper(t *testing.T) {
	known := []string{"hello", "hello_world", "b", "a_b", "Upper", "x.y", "xy"}
	tests := []struct {
		name      string
		userNS    string
		pod       string
		want      string
		namespace string
	}{
		{"action", "guest", "wsk0-12-guest-hello", "hello", ""},
		{"underscores become dashes", "guest", "wsk0-13-guest-hello-world", "hello_world", ""},
		{"invoker with a unique name", "guest", "wskowdev-invoker-00-7-guest-hello", "hello", ""},
		{"lowercased", "Guest_NS", "wsk1-2-guest-ns-upper", "Upper", ""},
		{"prewarm", "guest", "wsk0-3-prewarm-nodejs14", "", ""},
		{"other user namespace", "guest", "wsk0-12-alice-hello", "", ""},
		{"any user namespace", "", "wsk0-12-alice-hello", "hello", ""},
		{"any user namespace, longest action wins", "", "wsk0-4-alice-a-b", "a_b", ""},
		{"given user namespace decides", "alice_a", "wsk0-4-alice-a-b", "b", ""},
		{"collision of dropped characters", "guest", "wsk0-5-guest-xy", "", ""},
		{"no count", "guest", "wsk-guest-hello", "", ""},
		{"not an action pod", "guest", "owdev-invoker-0", "", ""},
		{"other namespace", "guest", "wsk0-12-guest-hello", "", "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := cadvisor.OpenWhisk{PodNamespace: "openwhisk", UserNamespace: tt.userNS}
			ns := tt.namespace
			if ns == "" {
				ns = "openwhisk"
			}
			got, ok := m.Function(cadvisor.Pod{Namespace: ns, Pod: tt.pod}, known)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("Function(%s/%s) = %q, %v; want %q", ns, tt.pod, got, ok, tt.want)
			}
		})
	}
}
