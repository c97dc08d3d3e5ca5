package quic

import (
	"strings"
	"testing"
)

func TestParseAddr(t *testing.T) {
	id := libp2pVectors()[0].id
	tests := []struct {
		in       string
		hostPort string
		err      string
	}{
		{"quic://127.0.0.1:7000/" + id, "127.0.0.1:7000", ""},
		{"quic://node-1.example:65535/" + id, "node-1.example:65535", ""},
		{"quic://[::1]:7000/" + id, "[::1]:7000", ""},
		{"http://127.0.0.1:7000/" + id, "", "scheme"},
		{"127.0.0.1:7000/" + id, "", "scheme"},
		{"quic://127.0.0.1/" + id, "", "not HOST:PORT"},
		{"quic://127.0.0.1:0/" + id, "", "port"},
		{"quic://127.0.0.1:70000/" + id, "", "port"},
		{"quic://127.0.0.1:07000/" + id, "", "port"},
		{"quic://:7000/" + id, "", "no host"},
		{"quic://127.0.0.1:7000", "", "no node ID"},
		{"quic://127.0.0.1:7000/", "", "no node ID"},
		{"quic://127.0.0.1:7000/QmNotAnEd25519Key", "", "node ID"},
		{"quic://127.0.0.1:7000/" + id + "/extra", "", "node ID"},
		{"quic://127.0.0.1:7000/" + id + "?x=1", "", "query"},
		{"quic://u@127.0.0.1:7000/" + id, "", "user"},
		{"quic:127.0.0.1:7000/" + id, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := ParseAddr(tt.in)
			if tt.err == "" && tt.hostPort == "" {
				if err == nil {
					t.Fatalf("accepted %q as %+v", tt.in, a)
				}
				return
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.HostPort != tt.hostPort || string(a.ID) != id || a.String() != tt.in {
				t.Fatalf("got %+v (%s)", a, a)
			}
		})
	}
}

func TestParseAddrs(t *testing.T) {
	a, b := libp2pVectors()[0].id, libp2pVectors()[1].id
	got, err := ParseAddrs(" quic://h1:1/" + a + ",\nquic://h2:2/" + b + " ,")
	if err != nil || len(got) != 2 || got[1].HostPort != "h2:2" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if got, err := ParseAddrs(""); err != nil || got != nil {
		t.Fatalf("empty list: %v, %v", got, err)
	}
	if _, err := ParseAddrs("quic://h1:1/" + a + ",quic://h2:2/" + a); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate ID: %v", err)
	}
	if _, err := ParseAddrs("quic://h1:1/" + a + ",bogus"); err == nil || !strings.Contains(err.Error(), "entry 2") {
		t.Fatalf("bad entry: %v", err)
	}
	ids, err := ParseIDs(a + "," + b)
	if err != nil || len(ids) != 2 {
		t.Fatalf("ParseIDs: %v, %v", ids, err)
	}
}

func FuzzParseAddr(f *testing.F) {
	f.Add("quic://127.0.0.1:7000/" + libp2pVectors()[0].id)
	f.Add("quic://[::1]:1/" + libp2pVectors()[1].id)
	f.Add("quic://h:0/x")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		if err != nil {
			return
		}
		b, err := ParseAddr(a.String())
		if err != nil || b != a {
			t.Fatalf("%q parsed as %+v, which does not round-trip: %+v, %v", s, a, b, err)
		}
	})
}
