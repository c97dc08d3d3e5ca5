package openfaas_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/openfaas/faas-provider/types"

	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/faas/openfaas"
)

// Deploying and scaling a function on a gateway (here dfaas faas), and
// reading back the capacity DFaaS will use.
func Example() {
	srv, _ := embedded.New(embedded.Config{Functions: []embedded.Function{{Name: "echo"}}})
	gw := httptest.NewServer(srv.Handler())
	defer gw.Close()

	c, _ := openfaas.New(openfaas.Config{URL: gw.URL})
	defer c.Close()
	ctx := context.Background()
	labels := map[string]string{"dfaas.maxrate": "40"}
	if err := c.Deploy(ctx, types.FunctionDeployment{Service: "figlet", Image: "ghcr.io/openfaas/figlet:latest", Labels: &labels}); err != nil {
		fmt.Println(err)
	}
	c.Scale(ctx, "figlet", 2)
	fns, _ := c.Functions(ctx)
	for _, f := range fns {
		capacity, _ := f.Capacity()
		fmt.Printf("%s: %d replicas, capacity %g req/s\n", f.Name, f.AvailableReplicas, capacity)
	}
	// Output:
	// echo: 1 replicas, capacity 100 req/s
	// figlet: 2 replicas, capacity 80 req/s
}
