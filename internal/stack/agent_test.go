package stack

import (
	"strings"
	"testing"
)

func TestAnnouncedURL(t *testing.T) {
	for _, tc := range []struct {
		url, ip, listen string
		plain           bool
		want, err       string
	}{
		{"", "", ":30443", false, "", ""},
		{"https://n.example:1", "10.0.0.1", ":30443", false, "https://n.example:1", ""},
		{"", "10.0.0.1", ":30443", false, "https://10.0.0.1:30443", ""},
		{"", "10.0.0.1", ":30443", true, "http://10.0.0.1:30443", ""},
		{"", "fd00::1", "[::]:30443", false, "https://[fd00::1]:30443", ""},
		{"", "nope", ":30443", false, "", "--node-ip"},
		{"", "10.0.0.1", "30443", false, "", "--node-listen"},
	} {
		got, err := AnnouncedURL(tc.url, tc.ip, tc.listen, tc.plain)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("AnnouncedURL(%q, %q, %q, %v) = %q, %v; want %q, error with %q", tc.url, tc.ip, tc.listen, tc.plain, got, err, tc.want, tc.err)
		}
	}
}

// TestLoopbackOnly: a loopback node URL is worth a warning only when the
// peer network listens beyond loopback (a federation on one host is fine).
func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		node, peer string
		want       bool
	}{
		{"https://127.0.0.1:30443", "[::]:31600", true},
		{"https://127.0.0.1:30443", "0.0.0.0:31600", true},
		{"https://localhost:30443", "192.0.2.7:31600", true},
		{"https://[::1]:30443", "192.0.2.7:31600", true},
		{"https://127.0.0.1:30443", "127.0.0.1:31600", false},
		{"https://192.0.2.7:30443", "[::]:31600", false},
		{"https://edge-1.example:30443", "[::]:31600", false},
		{"", "[::]:31600", false},
		{"https://127.0.0.1:30443", "not an address", false},
	}
	for _, tt := range tests {
		if got := loopbackOnly(tt.node, tt.peer); got != tt.want {
			t.Errorf("loopbackOnly(%q, %q) = %v, want %v", tt.node, tt.peer, got, tt.want)
		}
	}
}
