// Package peertest is a conformance suite for peer.Transport (and
// peer.Directory) implementations, in the style of
// golang.org/x/net/nettest.TestConn: an implementation's tests call
// TestTransport with a function that builds a connected network of its
// transports, and the suite checks the contract documented in package
// peer.
package peertest
