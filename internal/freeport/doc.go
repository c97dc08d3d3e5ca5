// Package freeport picks a TCP or UDP port for a process that binds it a moment
// later (HAProxy, Prometheus, a child started by a test), from below the
// kernel's ephemeral range.
//
// A port freed by a listener on port 0 comes from the ephemeral range
// (net.ipv4.ip_local_port_range), where the kernel also draws the local
// port of every outgoing connection and of every other listener on port
// 0: on a busy machine one of those now and then takes it before the
// process binds it ("Address already in use"). A port drawn below that
// range can only be taken by a process that asks for it by number.
package freeport
