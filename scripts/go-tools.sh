#!/usr/bin/env bash
# Builds the Go checks under tools/ (Tekton's and Argo's own code, see tools/*/main.go) at the
# versions pinned in tools/versions.env, cached by version and by a hash of each tool's sources:
#   $CACHEBUILD_TOOLS (default ~/.cache/cachebuild/tools)/<tool>-<version>-<hash>/
# with links in $CACHEBUILD_TOOLS/bin/: tekton-check-<v>, tekton-entrypoint-<v> (Tekton's
# entrypoint binary at the same version, static, for the pod runner's entrypoint image),
# argo-check-<v>. A second run with nothing changed builds nothing. No -trimpath: scripts/test.sh runs
# go vet on the same packages, which then reuses these compiles (minutes less on a fresh machine).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../tools/versions.env
source tools/versions.env
root="${CACHEBUILD_TOOLS:-$HOME/.cache/cachebuild/tools}"
mkdir -p "$root/bin"
export CGO_ENABLED=0

sources_hash() { (cd "tools/$1" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12); }

# build TOOL VERSION MODFILE MODULE: the tool (and, for Tekton, the entrypoint) against MODULE@VERSION.
build() {
  local tool="$1" version="$2" modfile="$3" module="$4"
  if ! grep -Eq "^(require )?[[:space:]]*$module $version\$" "tools/$tool/$modfile"; then
    echo "go-tools: tools/$tool/$modfile does not require $module $version (tools/versions.env); update it" >&2
    exit 1
  fi
  local dir
  dir="$root/$tool-$version-$(sources_hash "$tool")"
  if [ -x "$dir/$tool" ]; then
    echo "go-tools: $tool $version cached ($dir)"
  else
    echo "go-tools: building $tool against $module $version (a first build takes minutes)..."
    local start=$SECONDS tmp
    tmp="$(mktemp -d "$root/.build-XXXXXX")"
    (cd "tools/$tool" && go build -modfile="$modfile" -ldflags='-s -w' -o "$tmp/$tool" .)
    if [ "$tool" = tekton-check ]; then
      (cd "tools/$tool" && go build -modfile="$modfile" -ldflags='-s -w' -o "$tmp/entrypoint" github.com/tektoncd/pipeline/cmd/entrypoint)
    fi
    rm -rf "$dir" && mv "$tmp" "$dir"
    echo "go-tools: built $tool $version in $((SECONDS - start))s ($dir)"
  fi
  ln -sfn "$dir/$tool" "$root/bin/$tool-$version"
  if [ "$tool" = tekton-check ]; then ln -sfn "$dir/entrypoint" "$root/bin/tekton-entrypoint-$version"; fi
}

build tekton-check "$TEKTON_NEWEST_VERSION" go.mod github.com/tektoncd/pipeline
build tekton-check "$TEKTON_MIN_VERSION" go.min.mod github.com/tektoncd/pipeline
build argo-check "$ARGO_VERSION" go.mod github.com/argoproj/argo-workflows/v4
