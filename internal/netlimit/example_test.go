package netlimit_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/dfaas-go/dfaas/internal/netlimit"
)

// An agent's admin server (/healthz, /status, /metrics) served with the
// default limits, as cmd/dfaas wires it.
func ExampleLimiter_Serve() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"status":"ok"}`) })
	lim, err := netlimit.New("admin", netlimit.Config{}, nil)
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lim.Serve(ctx, ln, lim.Handler(mux)) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	fmt.Println("idle time-out:", lim.Config().IdleTimeout)

	cancel()
	fmt.Println("stopped:", <-done)
	// Output:
	// 200 {"status":"ok"}
	// idle time-out: 30s
	// stopped: <nil>
}
