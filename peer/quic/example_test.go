package quic_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/dfaas-go/dfaas/peer"
	"github.com/dfaas-go/dfaas/peer/quic"
)

// Two nodes of a federation with an explicit member list: the second is
// given only the first as bootstrap peer.
func Example() {
	ka, err := quic.GenerateKey()
	if err != nil {
		log.Fatal(err)
	}
	kb, err := quic.GenerateKey()
	if err != nil {
		log.Fatal(err)
	}
	members := []peer.ID{ka.ID(), kb.ID()}
	a, err := quic.Listen(quic.Config{Listen: "127.0.0.1:0", Key: ka, Members: members})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := quic.Listen(quic.Config{Listen: "127.0.0.1:0", Key: kb, Members: members, Bootstrap: []quic.Addr{a.Self()}})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	for len(b.Peers()) == 0 || !b.Peers()[0].Up {
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Send(context.Background(), a.LocalID(), []byte("hello")); err != nil {
		log.Fatal(err)
	}
	m := <-a.Recv()
	fmt.Println(string(m.Data), m.From == kb.ID())
	// Output: hello true
}

func ExampleParseAddrs() {
	addrs, err := quic.ParseAddrs("quic://10.0.0.1:7946/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq,quic://[fd00::2]:7946/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN")
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range addrs {
		fmt.Println(a.HostPort, a.ID)
	}
	// Output:
	// 10.0.0.1:7946 12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq
	// [fd00::2]:7946 12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN
}
