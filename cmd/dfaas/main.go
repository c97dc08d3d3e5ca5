// Command dfaas is the reference DFaaS binary: the agent of one node, the
// embedded FaaS, a one-command demo, the simulator, the benchmark and the
// tools around them.
//
// Usage:
//
//	dfaas <command> [flags]
//
// Run "dfaas help" for the list of commands and "dfaas <command> -h" for
// the flags of one. The commands live in package cli, so that a program of
// your own can run them with strategies of your own (examples/customstrategy).
package main

import "github.com/dfaas-go/dfaas/cmd/dfaas/cli"

func main() { cli.Main(nil) }
