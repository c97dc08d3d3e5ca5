package haproxy

import (
	"strings"
	"testing"
)

func TestComplaint(t *testing.T) {
	warn := "[WARNING]  (1) : config : something harmless\n"
	for _, tc := range []struct{ name, out, want string }{
		{"alerts only", "[NOTICE] version\n" + warn + "[ALERT]    (1) : config : parsing [x.cfg:3] : unknown keyword 'bogus'\n[ALERT]    (1) : config : Fatal errors found\n",
			"[ALERT]    (1) : config : parsing [x.cfg:3] : unknown keyword 'bogus'\n[ALERT]    (1) : config : Fatal errors found"},
		{"no alert: last lines", strings.Repeat(warn, 8) + "killed", strings.TrimSuffix(strings.Repeat(warn, 4), "\n") + "\nkilled"},
		{"empty", "", ""},
	} {
		if got := string(complaint([]byte(tc.out))); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	long := strings.Repeat("[ALERT] x\n", 1000)
	if got := complaint([]byte(long)); len(got) != 2048+len(" ...") {
		t.Errorf("long output: %d bytes, want 2 KB and an ellipsis", len(got))
	}
}
