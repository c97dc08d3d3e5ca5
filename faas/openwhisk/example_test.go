package openwhisk_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/faas/openwhisk"
)

// An OpenWhisk node: the Client lists the namespace's actions as functions
// with their capacity, and the Invoker, mounted where a proxy expects its
// FaaS gateway, turns /function/{name} into an invocation with the
// operator's key. Here OpenWhisk is the embedded FaaS's OpenWhisk API.
func Example() {
	key, _ := openwhisk.GenerateKey()
	srv, _ := embedded.New(embedded.Config{Functions: []embedded.Function{
		{Name: "echo", Capacity: 50},
		{Name: "figlet", Capacity: 20},
	}})
	ow, _ := embedded.NewOpenWhisk(srv, embedded.OpenWhiskConfig{Key: key.Auth()})
	controller := httptest.NewServer(ow.Handler())
	defer func() { controller.Close(); ow.Close(); srv.Close() }()

	c, _ := openwhisk.New(openwhisk.Config{URL: controller.URL, Key: key})
	defer c.Close()
	fns, _ := c.Functions(context.Background())
	for _, f := range fns {
		capacity, _ := f.Capacity()
		fmt.Printf("%s: capacity %g req/s\n", f.Name, capacity)
	}

	iv, _ := openwhisk.NewInvoker(openwhisk.InvokerConfig{Client: c})
	faasURL := httptest.NewServer(iv) // what the proxy is given as its FaaS URL
	defer faasURL.Close()
	resp, _ := http.Post(faasURL.URL+"/function/echo", "application/json", strings.NewReader(`{"hello":"world"}`))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("%d %s", resp.StatusCode, body)
	resp, _ = http.Get(faasURL.URL + "/api/v1/namespaces/_/actions")
	resp.Body.Close()
	fmt.Println("OpenWhisk's API through the Invoker:", resp.StatusCode)
	// Output:
	// echo: capacity 50 req/s
	// figlet: capacity 20 req/s
	// 200 {"hello":"world"}
	// OpenWhisk's API through the Invoker: 404
}
