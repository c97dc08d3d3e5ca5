package usage

import (
	"flag"
	"io"
	"testing"
)

func TestQueueDepth(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want float64
		ok   bool
	}{
		{nil, 0, true},
		{[]string{"--queue-depth", "0"}, -1, true},
		{[]string{"--queue-depth", "2.5"}, 2.5, true},
		{[]string{"--queue-depth", "-1"}, 0, false},
		{[]string{"--queue-depth", "NaN"}, 0, false},
		{[]string{"--queue-depth", "+Inf"}, 0, false},
		{[]string{"--queue-depth", "x"}, 0, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var q QueueDepth
		fs.Var(&q, "queue-depth", "")
		err := fs.Parse(tc.args)
		if (err == nil) != tc.ok || tc.ok && q.Depth() != tc.want {
			t.Errorf("%v: Depth %v, err %v; want %v, ok %v", tc.args, q.Depth(), err, tc.want, tc.ok)
		}
	}
}

func TestNewQueueDepth(t *testing.T) {
	q := NewQueueDepth(4)
	if q.String() != "4" || q.Depth() != 4 {
		t.Fatalf("default 4: String %q, Depth %v", q.String(), q.Depth())
	}
	if err := q.Set("0"); err != nil || q.Depth() != -1 {
		t.Fatalf("set 0: Depth %v, err %v; want -1 (no cap)", q.Depth(), err)
	}
	if z := NewQueueDepth(0); z.String() != "" || z.Depth() != 0 {
		t.Fatalf("no default: String %q, Depth %v", z.String(), z.Depth())
	}
}

func TestStrings(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var l Strings
	fs.Var(&l, "trace", "")
	if err := fs.Parse([]string{"--trace", "a", "--trace", "b,c"}); err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || l.String() != "a,b,c" {
		t.Fatalf("values %q", l)
	}
}
