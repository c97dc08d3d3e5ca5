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
