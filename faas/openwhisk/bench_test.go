package openwhisk

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dfaas-go/dfaas/faas/embedded"
)

// BenchmarkInvoke compares, on one embedded FaaS with an echo of no
// service time, a call of its OpenFaaS API (POST /function/echo, the
// baseline), a blocking invocation of its OpenWhisk API with the key, and
// the same through the Invoker (one more loopback hop, the parameters
// built from the request).
func BenchmarkInvoke(b *testing.B) {
	srv, err := embedded.New(embedded.Config{Functions: []embedded.Function{{Name: "echo", Capacity: 1e9, Concurrency: 100, Deterministic: true}}})
	if err != nil {
		b.Fatal(err)
	}
	ow, err := embedded.NewOpenWhisk(srv, embedded.OpenWhiskConfig{Key: testKey.Auth()})
	if err != nil {
		b.Fatal(err)
	}
	faasSrv := httptest.NewServer(srv.Handler())
	owSrv := httptest.NewServer(ow.Handler())
	defer func() { faasSrv.Close(); owSrv.Close(); ow.Close(); srv.Close() }()
	c, err := New(Config{URL: owSrv.URL, Key: testKey})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Functions(context.Background()); err != nil {
		b.Fatal(err)
	}
	iv, _ := NewInvoker(InvokerConfig{Client: c})
	ivSrv := httptest.NewServer(iv)
	defer ivSrv.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const body = `{"hello":"world"}`
	for _, bc := range []struct {
		name, url string
		auth      bool
	}{
		{"openfaas-api", faasSrv.URL + "/function/echo", false},
		{"openwhisk-api", owSrv.URL + "/api/v1/namespaces/_/actions/echo?blocking=true&result=true", true},
		{"invoker", ivSrv.URL + "/function/echo", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", bc.url, strings.NewReader(body))
					if bc.auth {
						req.SetBasicAuth(testKey.UUID, testKey.Secret)
					}
					resp, err := hc.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
		})
	}
}
