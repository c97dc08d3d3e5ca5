// Package faults holds end-to-end tests of a federation of nodes under
// hostile input and faults (issue 20): nodes with their real data planes
// (the embedded proxy, or HAProxy in the TestIntegration tests) and the
// embedded FaaS, over an in-memory control network, attacked or broken as
// an attacker or a fault would, each test asserting what the node does.
// It has no API.
package faults
