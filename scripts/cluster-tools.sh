#!/usr/bin/env bash
# Builds what the single-node cluster of scripts/cluster-e2e.sh runs, at the versions pinned in
# tools/versions.env, cached by version (and a hash of how they are built) under $CACHEBUILD_TOOLS
# (default ~/.cache/cachebuild/tools):
#   kubernetes-<v>-<hash>/  kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl
#   etcd-<v>-<hash>/        etcd
#   containerd-<v>-<hash>/  containerd containerd-shim-runc-v2 ctr
#   argo-<v>-<hash>/        workflow-controller argo (CLI and Argo Server) argoexec
#   tekton-<v>-<hash>/      controller webhook resolvers events entrypoint nop sidecarlogresults workingdirinit
# with links in $CACHEBUILD_TOOLS/cluster-bin/. A second run with nothing changed builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../tools/versions.env
source tools/versions.env
root="${CACHEBUILD_TOOLS:-$HOME/.cache/cachebuild/tools}"
mkdir -p "$root/cluster-bin"
export CGO_ENABLED=0

# How the programs are built: this script and the modules it builds in. A change rebuilds them all
# (the Go build cache keeps that to a relink where the sources are the same).
recipe="$(cat "$0" tools/kubernetes/go.* tools/etcd/go.* tools/tekton/go.* | sha256sum | cut -c1-12)"

# build NAME VERSION COMMAND...: runs COMMAND in a new folder ($out) unless NAME-VERSION is cached.
build() {
  local name="$1" version="$2"
  shift 2
  local dir="$root/$name-$version-$recipe"
  if [ -f "$dir/.complete" ]; then
    echo "cluster-tools: $name $version cached ($dir)"
  else
    echo "cluster-tools: building $name $version (a first build takes minutes)..."
    local start=$SECONDS tmp
    tmp="$(mktemp -d "$root/.build-XXXXXX")"
    out="$tmp" "$@"
    touch "$tmp/.complete"
    rm -rf "$dir" && mv "$tmp" "$dir"
    echo "cluster-tools: built $name $version in $((SECONDS - start))s ($dir)"
  fi
  local program
  for program in "$dir"/*; do ln -sfn "$program" "$root/cluster-bin/$(basename "$program")"; done
}

# module_build DIR MODULE VERSION PACKAGE...: go build of PACKAGE... in tools/DIR, whose go.mod must
# require MODULE VERSION (the pin in tools/versions.env); $EXTRA_LDFLAGS replaces the -ldflags.
module_build() {
  local dir="$1" module="$2" version="$3"
  shift 3
  if ! grep -Eq "^(require )?[[:space:]]*$module $version\$" "tools/$dir/go.mod"; then
    echo "cluster-tools: tools/$dir/go.mod does not require $module $version (tools/versions.env); update it" >&2
    exit 1
  fi
  (cd "tools/$dir" && go build -trimpath -ldflags="${EXTRA_LDFLAGS:--s -w}" -o "$out/" "$@")
}

# go_install VERSION PACKAGE...: go install of PACKAGE...@VERSION (modules with no replace directives).
go_install() {
  local version="$1" package
  shift
  for package in "$@"; do GOBIN="$out" go install -trimpath -ldflags='-s -w' "$package@$version"; done
}

# The version linked in as Kubernetes' own build does (hack/lib/version.sh): without it the API
# server reports v0.0.0-master+$Format:%H$, which clients that check the server's version refuse.
kubernetes_build() {
  local v="${KUBERNETES_VERSION#v}" x ldflags="-s -w"
  for x in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $x.gitVersion=$KUBERNETES_VERSION -X $x.gitMajor=${v%%.*} -X $x.gitMinor=$(echo "$v" | cut -d. -f2)"
    ldflags+=" -X $x.gitTreeState=clean -X $x.buildDate=1970-01-01T00:00:00Z"
  done
  local k8s=k8s.io/kubernetes/cmd
  EXTRA_LDFLAGS="$ldflags" module_build kubernetes k8s.io/kubernetes "$KUBERNETES_VERSION" \
    "$k8s/kube-apiserver" "$k8s/kube-controller-manager" "$k8s/kube-scheduler" "$k8s/kubelet" \
    "$k8s/kube-proxy" "$k8s/kubectl"
}
build kubernetes "$KUBERNETES_VERSION" kubernetes_build
# etcd's main package is its module's root, which go build names after the path before /v3: server.
etcd_build() { module_build etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 && mv "$out/server" "$out/etcd"; }
build etcd "$ETCD_VERSION" etcd_build
ctrd=github.com/containerd/containerd/v2/cmd
build containerd "$CONTAINERD_VERSION" go_install "$CONTAINERD_VERSION" \
  "$ctrd/containerd" "$ctrd/containerd-shim-runc-v2" "$ctrd/ctr"
# Argo's programs from a copy of its module source: the CLI (which is also the Argo Server) embeds
# ui/dist/app, which the module leaves out; an empty index.html stands in, as `make
# STATIC_FILES=false` does. The version is linked in as the Makefile does: it names the executor image.
argo_build() {
  local source
  source="$(go mod download -json "github.com/argoproj/argo-workflows/v4@$ARGO_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  cp -r "$source" "$out/src" && chmod -R u+w "$out/src"
  mkdir -p "$out/src/ui/dist/app" && touch "$out/src/ui/dist/app/index.html"
  # Module zips leave symlinks out; upstream's signal_linux.go is a link to signal_darwin.go.
  ln -s signal_darwin.go "$out/src/workflow/executor/osspecific/signal_linux.go"
  local x=github.com/argoproj/argo-workflows/v4
  (cd "$out/src" && go build -trimpath -o "$out/" \
    -ldflags="-s -w -X $x.version=$ARGO_VERSION -X $x.gitTag=$ARGO_VERSION -X $x.gitTreeState=clean" \
    ./cmd/workflow-controller ./cmd/argo ./cmd/argoexec)
  rm -rf "$out/src"
}
build argo "$ARGO_VERSION" argo_build
tekton=github.com/tektoncd/pipeline/cmd
build tekton "$TEKTON_NEWEST_VERSION" module_build tekton github.com/tektoncd/pipeline "$TEKTON_NEWEST_VERSION" \
  "$tekton/controller" "$tekton/webhook" "$tekton/resolvers" "$tekton/events" "$tekton/entrypoint" \
  "$tekton/nop" "$tekton/sidecarlogresults" "$tekton/workingdirinit"
