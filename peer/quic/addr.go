package quic

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/dfaas-go/dfaas/peer"
)

// Addr is where a peer is reached and who it must prove to be, written
// quic://HOST:PORT/ID (HOST a name, an IPv4 address or a bracketed IPv6
// address).
type Addr struct {
	// HostPort is the peer's UDP address, HOST:PORT.
	HostPort string
	// ID is the peer's node ID.
	ID peer.ID
}

// String returns a in the form ParseAddr accepts.
func (a Addr) String() string { return "quic://" + a.HostPort + "/" + string(a.ID) }

// maxHostPort bounds the length of a peer address (and of addresses in
// member lists on the wire).
const maxHostPort = 255

// ParseAddr parses quic://HOST:PORT/ID.
func ParseAddr(s string) (Addr, error) {
	bad := func(format string, a ...any) (Addr, error) {
		return Addr{}, fmt.Errorf("peer/quic: peer address %q: %s", truncate(s), fmt.Sprintf(format, a...))
	}
	if len(s) > 512 {
		return bad("longer than 512 bytes")
	}
	if scheme, _, ok := strings.Cut(s, "://"); !ok || scheme != "quic" {
		return bad("scheme is not quic:// (want quic://HOST:PORT/ID)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("%v", err)
	}
	switch {
	case u.Scheme != "quic":
		return bad("scheme %q, want quic://HOST:PORT/ID", u.Scheme)
	case u.User != nil:
		return bad("user information is not allowed")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return bad("query and fragment are not allowed")
	case u.Opaque != "":
		return bad("want quic://HOST:PORT/ID")
	}
	hp, err := checkHostPort(u.Host)
	if err != nil {
		return bad("%v", err)
	}
	idStr, ok := strings.CutPrefix(u.Path, "/")
	if !ok || idStr == "" {
		return bad("no node ID after the address (want quic://HOST:PORT/ID)")
	}
	id, err := ParseID(idStr)
	if err != nil {
		return bad("%v", err)
	}
	return Addr{HostPort: hp, ID: id}, nil
}

// checkHostPort validates HOST:PORT with a non-empty host and a port in
// 1..65535, and returns it.
func checkHostPort(hp string) (string, error) {
	if len(hp) > maxHostPort {
		return "", fmt.Errorf("host:port longer than %d bytes", maxHostPort)
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", fmt.Errorf("%q is not HOST:PORT", hp)
	}
	if host == "" {
		return "", fmt.Errorf("%q has no host", hp)
	}
	for _, c := range []byte(host) {
		if c <= ' ' || c >= 0x7f || c == '/' || c == '@' {
			return "", fmt.Errorf("host %q has an invalid character", host)
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || port[0] == '0' || port[0] == '+' {
		return "", fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	return hp, nil
}

// ParseAddrs parses a list of quic://HOST:PORT/ID separated by commas or
// white space (the --bootstrap flag and AGENT_BOOTSTRAP_NODES_LIST). An
// empty list gives nil; the same ID twice is an error.
func ParseAddrs(list string) ([]Addr, error) {
	var out []Addr
	seen := map[peer.ID]bool{}
	for i, f := range splitList(list) {
		a, err := ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		if seen[a.ID] {
			return nil, fmt.Errorf("entry %d: peer/quic: node ID %s listed twice", i+1, a.ID)
		}
		seen[a.ID] = true
		out = append(out, a)
	}
	return out, nil
}
