//go:build tools

// Package tools pins etcd, the store of the kube-apiserver scripts/cluster-e2e.sh runs. etcd's
// server module replaces its sibling modules with folders of its own tree, so `go install
// go.etcd.io/etcd/server/v3@v3.6.16` is refused; a module that requires it builds it.
package tools

import _ "go.etcd.io/etcd/server/v3"
