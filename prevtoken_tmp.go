package dfaas

import "github.com/dfaas-go/dfaas/proxyctl"

// setPrevToken is replaced once proxyctl.Neighbour has TokenInPrev.
func setPrevToken(nb *proxyctl.Neighbour, prev string) {}
