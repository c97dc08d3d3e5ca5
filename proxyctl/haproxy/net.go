package haproxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
)

// splitURL checks that raw is the base URL of an HTTP proxy and returns
// its host and port.
func splitURL(raw string) (host string, port uint16, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", 0, fmt.Errorf("URL %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", 0, fmt.Errorf("URL %q: scheme %q is not supported by the HAProxy controller (only http and https)", raw, u.Scheme)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return "", 0, fmt.Errorf("URL %q: a proxy's base URL has no path, query or user", raw)
	}
	p := u.Port()
	if p == "" {
		p = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("URL %q: port %q is not a number from 1 to 65535", raw, p)
	}
	if u.Hostname() == "" {
		return "", 0, fmt.Errorf("URL %q has no host", raw)
	}
	return u.Hostname(), uint16(n), nil
}

// literalAddr returns the address of a base URL whose host is an IP
// address.
func literalAddr(raw string) (netip.AddrPort, error) {
	host, port, err := splitURL(raw)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("URL %q: host %q is not an IP address", raw, host)
	}
	return netip.AddrPortFrom(ip.Unmap(), port), nil
}

// resolver looks up host names; *net.Resolver implements it.
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// resolveURL returns the address of a base URL, looking its host name up
// (IPv4 preferred) when it is not an IP address.
func resolveURL(ctx context.Context, r resolver, raw string) (netip.AddrPort, error) {
	host, port, err := splitURL(raw)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), port), nil
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("URL %q: %w", raw, err)
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("URL %q: host %q has no address", raw, host)
	}
	best := ips[0].Unmap()
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			best = ip.Unmap()
			break
		}
	}
	return netip.AddrPortFrom(best, port), nil
}

// haproxyAddr formats an address for a server line of the configuration.
func haproxyAddr(ap netip.AddrPort) string {
	if ap.Addr().Is6() {
		return "ipv6@" + ap.Addr().String() + ":" + strconv.Itoa(int(ap.Port()))
	}
	return ap.String()
}

// Interface guards.
var _ resolver = (*net.Resolver)(nil)
