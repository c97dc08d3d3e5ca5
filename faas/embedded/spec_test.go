package embedded

import (
	"strings"
	"testing"
	"time"
)

func TestParseFunction(t *testing.T) {
	for _, tc := range []struct {
		spec    string
		want    Function
		wantErr string
	}{
		{spec: "figlet", want: Function{Name: "figlet"}},
		{spec: " fig ,handler=figlet,capacity=50,concurrency=4,queue=8,queue_timeout=2s",
			want: Function{Name: "fig", Handler: "figlet", Capacity: 50, Concurrency: 4, Queue: 8, QueueTimeout: 2 * time.Second}},
		{spec: "page,web=true", want: Function{Name: "page", Annotations: map[string]string{"web-export": "true"}}},
		{spec: "fig,capacity", wantErr: `"fig,capacity": want key=value after the name, got "capacity"`},
		{spec: "fig,queue=-", wantErr: `"fig,queue=-": queue: strconv.Atoi`},
		{spec: "fig,queue_timeout=soon", wantErr: "queue_timeout: time: invalid duration"},
		{spec: "fig,web=maybe", wantErr: "web: strconv.ParseBool"},
		{spec: "fig,colour=red", wantErr: "colour: unknown key (known: handler, capacity"},
	} {
		got, err := ParseFunction(tc.spec)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want it to contain %q", tc.spec, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got.Name != tc.want.Name || got.Handler != tc.want.Handler || got.Capacity != tc.want.Capacity ||
			got.Concurrency != tc.want.Concurrency || got.Queue != tc.want.Queue || got.QueueTimeout != tc.want.QueueTimeout ||
			got.Annotations["web-export"] != tc.want.Annotations["web-export"] {
			t.Errorf("%q: %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
}

// FuzzParseFunction: any specification is parsed or refused, never a
// panic; a parsed one keeps its name.
func FuzzParseFunction(f *testing.F) {
	f.Add("figlet,capacity=50,queue_timeout=2s,web=true")
	f.Add("a,=,b=")
	f.Fuzz(func(t *testing.T, spec string) {
		fn, err := ParseFunction(spec)
		if err == nil && fn.Name != strings.TrimSpace(strings.Split(spec, ",")[0]) {
			t.Errorf("%q: name %q", spec, fn.Name)
		}
	})
}
