package proxyctl_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// certC is a node's data-plane certificate, made once for the tests.
var certC = func() []byte {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	c, err := nodetls.New(priv, "c", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		panic(err)
	}
	return c.Certificate[0]
}()

// validState is a well-formed state: node a runs figlet; b (in the data
// network) runs figlet and ocr; c only forwards here, over TLS.
func validState() proxyctl.State {
	return proxyctl.State{
		Self:      "a",
		Functions: []proxyctl.Function{{Name: "figlet", Capacity: 10, Concurrency: 2, Timeout: time.Second}, {Name: "shasum"}},
		Neighbours: []proxyctl.Neighbour{
			{ID: "b", URL: "http://10.0.0.2:30080", Functions: []string{"figlet", "ocr"}, TokenOut: "out", TokenIn: "in", Forward: true},
			{ID: "c", URL: "https://[fd00::3]:30080/", Functions: []string{"figlet"}, Cert: certC},
		},
		Decision: strategy.Decision{Routes: []strategy.Route{
			{Function: "figlet", Local: 0.5, Forward: []strategy.Share{{Node: "b", Share: 0.5}}},
			{Function: "ocr", Forward: []strategy.Share{{Node: "b", Share: 1}}},
		}},
	}
}

// TestStateValidate: each rule of State.Validate, broken alone, is
// refused with a message naming the element at fault.
func TestStateValidate(t *testing.T) {
	if err := validState().Validate(); err != nil {
		t.Fatalf("valid state refused: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(s *proxyctl.State)
		want   string
	}{
		{"empty self", func(s *proxyctl.State) { s.Self = "" }, "empty Self"},
		{"bad function name", func(s *proxyctl.State) { s.Functions[1].Name = "../x" }, "function 1"},
		{"unsorted functions", func(s *proxyctl.State) { s.Functions[0], s.Functions[1] = s.Functions[1], s.Functions[0] }, `not sorted or duplicated at "figlet"`},
		{"duplicate function", func(s *proxyctl.State) { s.Functions[1].Name = "figlet" }, `not sorted or duplicated at "figlet"`},
		{"negative capacity", func(s *proxyctl.State) { s.Functions[0].Capacity = -1 }, `function "figlet": negative`},
		{"negative concurrency", func(s *proxyctl.State) { s.Functions[0].Concurrency = -1 }, `function "figlet": negative`},
		{"negative timeout", func(s *proxyctl.State) { s.Functions[1].Timeout = -time.Second }, `function "shasum": negative`},
		{"empty neighbour ID", func(s *proxyctl.State) { s.Neighbours[0].ID = "" }, "neighbour 0"},
		{"neighbour is self", func(s *proxyctl.State) { s.Neighbours[0].ID = "a" }, `neighbour 0: ID "a" is empty or Self`},
		{"unsorted neighbours", func(s *proxyctl.State) { s.Neighbours[0], s.Neighbours[1] = s.Neighbours[1], s.Neighbours[0] }, `neighbours not sorted or duplicated at "b"`},
		{"duplicate neighbour", func(s *proxyctl.State) { s.Neighbours[1].ID = "b" }, `neighbours not sorted or duplicated at "b"`},
		{"neighbour URL not http", func(s *proxyctl.State) { s.Neighbours[1].URL = "file:///etc/passwd" }, `neighbour "c": URL`},
		{"neighbour URL without host", func(s *proxyctl.State) { s.Neighbours[1].URL = "http:///x" }, `neighbour "c": URL`},
		{"neighbour URL unparsable", func(s *proxyctl.State) { s.Neighbours[0].URL = "http://[::1" }, `neighbour "b": URL`},
		{"https neighbour without certificate", func(s *proxyctl.State) { s.Neighbours[1].Cert = nil }, `neighbour "c": an https URL needs its certificate`},
		{"cap share above 1", func(s *proxyctl.State) { s.Neighbours[0].Cap = proxyctl.ForwardCap{On: true, Share: 1.5} }, `neighbour "b": Cap:`},
		{"cap rate NaN", func(s *proxyctl.State) {
			s.Neighbours[0].Cap = proxyctl.ForwardCap{On: true, Share: 0.3, Rate: math.NaN()}
		}, `neighbour "b": Cap:`},
		{"cap rate infinite", func(s *proxyctl.State) { s.Neighbours[0].Cap = proxyctl.ForwardCap{On: true, Rate: math.Inf(1)} }, `neighbour "b": Cap:`},
		{"neighbour certificate not DER", func(s *proxyctl.State) { s.Neighbours[1].Cert = []byte("junk") }, `neighbour "c": Cert:`},
		{"local share for a function not deployed", func(s *proxyctl.State) {
			s.Decision.Routes[1].Local, s.Decision.Routes[1].Forward[0].Share = 0.5, 0.5
		}, `route "ocr" serves locally`},
		{"forward to a stranger", func(s *proxyctl.State) { s.Decision.Routes[0].Forward[0].Node = "z" }, `route "figlet" forwards to "z"`},
		{"forward outside the data network", func(s *proxyctl.State) { s.Decision.Routes[0].Forward[0].Node = "c" }, `route "figlet" forwards to "c"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validState().Clone()
			tt.mutate(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
			// The Recorder refuses it too, and records nothing.
			r := proxyctl.NewRecorder(0)
			if err := r.Apply(context.Background(), s); err == nil {
				t.Fatal("Recorder applied an invalid state")
			}
			if _, ok := r.Last(); ok {
				t.Fatal("Recorder recorded an invalid state")
			}
		})
	}
}

// TestStateLookupsAndClone: Function and Neighbour find elements by name,
// and Clone shares nothing with the original.
func TestStateLookupsAndClone(t *testing.T) {
	s := validState()
	if f, ok := s.Function("shasum"); !ok || f.Name != "shasum" {
		t.Fatalf("Function(shasum) = %+v, %v", f, ok)
	}
	if _, ok := s.Function("ocr"); ok {
		t.Fatal("found ocr, which runs only on b")
	}
	if n, ok := s.Neighbour("c"); !ok || n.ID != "c" {
		t.Fatalf("Neighbour(c) = %+v, %v", n, ok)
	}
	if _, ok := s.Neighbour("bb"); ok {
		t.Fatal("found a neighbour that is not there")
	}
	c := s.Clone()
	c.Functions[0].Name = "changed"
	c.Neighbours[0].Functions[0] = "changed"
	c.Decision.Routes[0].Forward[0].Share = 0.25
	if s.Functions[0].Name != "figlet" || s.Neighbours[0].Functions[0] != "figlet" || s.Decision.Routes[0].Forward[0].Share != 0.5 {
		t.Fatal("Clone shares memory with the original")
	}
}

// TestRecorder: the Recorder keeps the last states applied (within its
// limit), as copies, and fails as told or when the context is done.
func TestRecorder(t *testing.T) {
	r := proxyctl.NewRecorder(2)
	if _, ok := r.Last(); ok {
		t.Fatal("an empty Recorder has a last state")
	}
	ctx := context.Background()
	for _, share := range []float64{0.1, 0.2, 0.3} {
		s := validState()
		s.Decision.Routes[0].Local, s.Decision.Routes[0].Forward[0].Share = 1-share, share
		if err := r.Apply(ctx, s); err != nil {
			t.Fatal(err)
		}
		s.Neighbours[0].Functions[0] = "mutated after Apply"
	}
	h := r.History()
	if len(h) != 2 || h[0].Decision.Routes[0].Forward[0].Share != 0.2 || h[1].Decision.Routes[0].Forward[0].Share != 0.3 {
		t.Fatalf("history %+v: want the last two states", h)
	}
	if h[1].Neighbours[0].Functions[0] != "figlet" {
		t.Fatal("the Recorder kept the caller's memory")
	}
	boom := errors.New("boom")
	r.SetErr(boom)
	if err := r.Apply(ctx, validState()); !errors.Is(err, boom) {
		t.Fatalf("Apply with an error set: %v", err)
	}
	r.SetErr(nil)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Apply(cctx, validState()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a cancelled context: %v", err)
	}
	if len(r.History()) != 2 {
		t.Fatal("a failed Apply was recorded")
	}
}
