// Command threenodes assembles a three-node DFaaS federation in one process
// from the library's parts — the embedded FaaS, the embedded proxy and an
// in-memory peer network — overloads node a, and shows where its requests
// were served.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/dfaas-go/dfaas"
	"github.com/dfaas-go/dfaas/faas/embedded"
	"github.com/dfaas-go/dfaas/metricsrc"
	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/proxyctl/goproxy"
	"github.com/dfaas-go/dfaas/strategy"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	network := peer.NewMemNetwork(peer.MemNetworkOptions{Seed: 1})
	defer network.Close()
	urls := map[string]string{}
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b", "c"} {
		fs, _ := embedded.New(embedded.Config{Functions: []embedded.Function{{Name: "figlet", Capacity: 50}}})
		faasSrv := httptest.NewServer(fs.Handler())
		defer faasSrv.Close()
		p, _ := goproxy.New(goproxy.Config{FaaSURL: faasSrv.URL})
		proxySrv := httptest.NewServer(p)
		defer proxySrv.Close()
		tr, _ := network.Join(peer.ID(id))
		node, err := dfaas.New(dfaas.Config{
			Strategy: &strategy.Recalc{}, Proxy: p, FaaS: fs, Peers: tr,
			Metrics: metricsrc.NewDelta(p.Counters()), ProxyURL: proxySrv.URL, Period: 500 * time.Millisecond,
		})
		if err != nil {
			log.Fatal(err)
		}
		defer node.Close()
		urls[id] = proxySrv.URL
		wg.Go(func() { node.Run(ctx) })
	}
	time.Sleep(time.Second) // let the nodes meet

	// 100 req/s for 3 s at node a, twice its capacity.
	servedBy := map[string]int{}
	var mu sync.Mutex
	var reqs sync.WaitGroup
	for range 300 {
		time.Sleep(10 * time.Millisecond)
		reqs.Go(func() {
			resp, err := http.Post(urls["a"]+"/function/figlet", "text/plain", nil)
			if err != nil {
				return
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case resp.StatusCode != http.StatusOK:
				servedBy[fmt.Sprint("failed ", resp.StatusCode)]++
			case resp.Header.Get(proxyctl.HeaderForwardedTo) != "":
				servedBy[resp.Header.Get(proxyctl.HeaderForwardedTo)]++
			default:
				servedBy["a"]++
			}
		})
	}
	reqs.Wait()
	cancel()
	wg.Wait()
	fmt.Println("requests sent to a, by where they were served:", servedBy)
}
