package loadgen

import (
	"context"
	"net"
	"net/http"
	"time"
)

// NewClient returns an HTTP client for the users of one node, with
// keep-alive connections (up to maxIdle idle, 1024 per host), dialling
// with dial (nil: the default dialer) and giving up on each request
// after timeout.
func NewClient(dial func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration, maxIdle int) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         dial,
			MaxIdleConns:        maxIdle,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
	}
}
