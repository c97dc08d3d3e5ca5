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
