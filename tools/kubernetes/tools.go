//go:build tools

// Package tools pins the Kubernetes programs scripts/cluster-tools.sh builds: the control plane
// and the node of the single-node cluster scripts/cluster-e2e.sh runs, all from k8s.io/kubernetes
// at the release go.mod requires.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
