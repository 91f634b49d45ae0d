#!/usr/bin/env bash
# The cluster tier: a single-node Kubernetes cluster on this machine (kube-apiserver, controller
# manager, scheduler, kubelet and kube-proxy from k8s.io/kubernetes, etcd, containerd with runc and
# the CNI plugins), Tekton Pipelines and Argo Workflows installed from their release manifests'
# content, every image built here (nothing is pulled); then every task through `cachebuild submit
# --wait` against the real Argo Server and kube-apiserver. Needs root and scripts/setup.sh; builds
# what scripts/cluster-tools.sh builds (cached by version). Arguments go to pytest (e.g. -k kaniko).
# Ends with the task matrix (task x engine x registry: PASS/FAIL, cold s, warm s) and "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then PATH="$PWD/.venv/bin:$PATH"; fi
start=$SECONDS
bash scripts/cluster-tools.sh || exit 1
echo "cluster-e2e: cluster tools ready in $((SECONDS - start))s"
matrix="$(mktemp)"
trap 'rm -f "$matrix"' EXIT
CACHEBUILD_E2E_MATRIX="$matrix" python3 -m pytest tests/cluster -p no:cacheprovider "$@"
status=$?
if [ -s "$matrix" ]; then echo; cat "$matrix"; fi
exit "$status"
