package goproxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/goproxy"
)

// A proxy in front of a FaaS, served with its limits (here a shorter body
// time-out than the default), routing figlet locally.
func ExampleProxy_Serve() {
	faas := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s got %q", r.URL.Path, b)
	}))
	defer faas.Close()
	p, err := goproxy.New(goproxy.Config{FaaSURL: faas.URL, Limits: goproxy.Limits{BodyTimeout: 10 * time.Second}})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	if err := p.Apply(context.Background(), proxyctl.State{Self: "a", Functions: []proxyctl.Function{{Name: "figlet"}}}); err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()

	for _, path := range []string{"/function/figlet", "/function/made-up", "/system/functions"} {
		resp, err := http.Post("http://"+ln.Addr().String()+path, "text/plain", strings.NewReader("hi"))
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get(proxyctl.HeaderRejected), strings.TrimSpace(string(body)))
	}
	fmt.Println("per-function counters:", p.Counters().Len(), "unrouted:", p.Counters().Other().Totals().Offered)
	cancel()
	fmt.Println("stopped:", <-done)
	// Output:
	// 200  /function/figlet got "hi"
	// 404 no-route dfaas: function "made-up" is not deployed on node a nor on any neighbour it forwards to
	// 403  dfaas: the FaaS management API is not exposed on the public port
	// per-function counters: 1 unrouted: 1
	// stopped: <nil>
}
