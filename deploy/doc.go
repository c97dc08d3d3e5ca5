// Package deploy holds the tests of the deployment recipes of a DFaaS node:
// the Helm chart (helm/dfaas) with its example values, the container
// recipe (Containerfile), the systemd units and environment file (systemd/),
// and the deployment guide (docs/deploy.md at the repository's root).
//
// It is a module of its own (github.com/dfaas-go/dfaas/deploy) so that the
// Kubernetes API types its tests decode the rendered manifests into are no
// dependency of the dfaas library. The package has no code: run its tests
// from this directory with
//
//	go test -race ./...
//
// They render the chart with Helm v3.22.0 (go run helm.sh/helm/v3/cmd/helm),
// build the dfaas binary from the parent module, and, where the binaries are
// installed, run HAProxy, promtool and systemd-analyze.
package deploy
