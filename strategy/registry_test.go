package strategy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	mine := Func(func(s Snapshot) (Decision, error) { return Decision{}, nil })
	if err := r.Register("mine", "mine", func(json.RawMessage) (Strategy, error) { return mine, nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("mine", "again", func(json.RawMessage) (Strategy, error) { return mine, nil }); err == nil {
		t.Error("duplicate name accepted")
	}
	if err := r.Register("bad name", "", func(json.RawMessage) (Strategy, error) { return mine, nil }); err == nil {
		t.Error("name with a space accepted")
	}
	if err := r.Register("nil", "", nil); err == nil {
		t.Error("nil factory accepted")
	}
	if _, err := r.New("mine", nil); err != nil {
		t.Error(err)
	}
	if _, err := r.New("other", nil); !errors.Is(err, ErrUnknownStrategy) || !strings.Contains(err.Error(), "mine") {
		t.Errorf("unknown name: %v (want ErrUnknownStrategy listing the known ones)", err)
	}
}

func TestBuiltinParams(t *testing.T) {
	r := Builtin()
	for _, name := range []string{"alllocal", "static", "recalc"} {
		if _, err := r.New(name, nil); err != nil {
			t.Errorf("%s with defaults: %v", name, err)
		}
	}
	tests := []struct{ name, params, want string }{
		{"static", `{"local_share": 0.5}`, ""},
		{"static", `{"local_share": 2}`, "local_share 2"},
		{"static", `{"share": 0.5}`, "unknown field"},
		{"static", `{"local_share": 0.5} {}`, "trailing data"},
		{"static", `[1]`, "parameters"},
		{"recalc", `{"utilization": 1.5}`, "utilization"},
	}
	for _, tt := range tests {
		_, err := r.New(tt.name, []byte(tt.params))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s %s: %v", tt.name, tt.params, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s %s: error %v, want one mentioning %q", tt.name, tt.params, err, tt.want)
		}
	}
}

// TestFactory: the one factory shape builds, decodes parameters and
// validates the same way for the registry, the simulator and strategytest.
func TestFactory(t *testing.T) {
	f := NewFactory(func() *Static { return &Static{LocalShare: 0.6} })
	st, err := f.Build(json.RawMessage(`{"local_share": 0.25}`))
	if err != nil || st.(*Static).LocalShare != 0.25 {
		t.Fatalf("Build: %v %+v", err, st)
	}
	if _, err := f.Build(json.RawMessage(`{"local_share": 3}`)); err == nil {
		t.Error("an invalid strategy was built")
	}
	var nilFactory Factory
	if _, err := nilFactory.Build(nil); err == nil {
		t.Error("a nil factory built something")
	}
	nothing := Factory(func(json.RawMessage) (Strategy, error) { return nil, nil })
	if _, err := nothing.Build(nil); err == nil || !strings.Contains(err.Error(), "nil strategy") {
		t.Errorf("a factory returning nil: %v", err)
	}
	r := Builtin()
	if g, ok := r.Factory("static"); !ok || g == nil {
		t.Error("Registry.Factory does not return a registered factory")
	}
	if _, ok := r.Factory("nope"); ok {
		t.Error("Registry.Factory found an unknown name")
	}
}

// TestOffline: External, by value or pointer, needs an advisor; every
// other built-in strategy, and an unknown name, does not.
func TestOffline(t *testing.T) {
	r := Builtin()
	if err := r.Register("byvalue", "External by value", NewFactory(func() External { return External{} })); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"external": true, "byvalue": true, "flow": false, "alllocal": false, "nope": false} {
		if got := r.NeedsAdvisor(name); got != want {
			t.Errorf("NeedsAdvisor(%q) = %v, want %v", name, got, want)
		}
	}
	if got, want := strings.Join(r.Offline(), ","), "alllocal,flow,nodemargin,recalc,static"; got != want {
		t.Errorf("Offline() = %s, want %s", got, want)
	}
}
