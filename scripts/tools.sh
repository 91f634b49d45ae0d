#!/usr/bin/env bash
# Builds the real components the end-to-end tests run, pinned by tools/versions.env and cached by
# version under $CACHEBUILD_TOOLS (default ${XDG_CACHE_HOME:-~/.cache}/cachebuild/tools, beside the
# cachebuild cache folder the Python code uses): a second run only checks and prints.
#   buildkit-<v>/   buildkitd, buildctl (from source) and buildctl-daemonless.sh (same module)
#   kaniko-<v>/     executor, warmer (static)
#   seccomp-profile-<v>/  prints moby's default seccomp profile (RuntimeDefault) as OCI JSON
#   busybox-arm64-<v>/    Debian's busybox-static:arm64, for multi-platform test base images
#   bin/            one symlink per binary
# Also makes sure qemu-user-static's binfmt_misc entries are registered with the F flag, so arm64
# RUN steps work inside any container (the kernel opens the interpreter at registration).
# Needs Go and the apt packages of scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# shellcheck source=../tools/versions.env
source tools/versions.env
if ! command -v go >/dev/null 2>&1; then
  echo "tools: Go is not installed (https://go.dev/doc/install; the machines have it in /usr/local/go/bin)" >&2
  exit 1
fi
TOOLS=${CACHEBUILD_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/cachebuild/tools}
mkdir -p "$TOOLS/bin"
export GOFLAGS=${GOFLAGS:-}
MODCACHE=$(go env GOMODCACHE)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

took() { echo "$(( $(date +%s) - $1 ))s"; }

# done_or_build NAME VERSION FUNCTION: run FUNCTION into $TOOLS/NAME-VERSION unless that is complete.
done_or_build() {
  local name=$1 version=$2 build=$3 dir="$TOOLS/$1-$2" start
  if [ -f "$dir/.complete" ]; then
    echo "tools: $name $version cached in $dir"
    return
  fi
  echo "tools: building $name $version ..."
  start=$(date +%s)
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  "$build" "$dir.partial"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  touch "$dir/.complete"
  echo "tools: built $name $version in $(took "$start")"
}

module_dir() {  # module_dir MODULE VERSION: download (exact version, no @v/list needed) and print its folder
  (go mod download -json "$1@$2" || true) | python3 -c '
import json, sys
info = json.load(sys.stdin)
if "Error" in info or "Dir" not in info:
    sys.exit("tools: go mod download %s@%s failed: %s" % (info.get("Path"), info.get("Version"), info.get("Error")))
print(info["Dir"])'
}

build_buildkit() {
  local src
  src=$(module_dir github.com/moby/buildkit "$BUILDKIT_VERSION")
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION" \
    -tags 'osusergo netgo static_build seccomp' \
    -o "$1/" ./cmd/buildkitd ./cmd/buildctl)
  install -m 0755 "$src/examples/buildctl-daemonless/buildctl-daemonless.sh" "$1/buildctl-daemonless.sh"
}

build_kaniko() {
  local src
  src=$(module_dir "$KANIKO_MODULE" "$KANIKO_VERSION")
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w -X $KANIKO_MODULE/pkg/version.version=$KANIKO_VERSION" -tags 'osusergo netgo' \
    -o "$1/" ./cmd/executor ./cmd/warmer)
}

SECCOMP_VERSION=$(sed -n 's/^\tgithub.com\/moby\/profiles\/seccomp \(v[^ ]*\)$/\1/p' tools/seccomp-profile/go.mod)
build_seccomp() {
  (cd "$REPO/tools/seccomp-profile" && CGO_ENABLED=0 go build -o "$1/seccomp-profile" .)
}

build_busybox_arm64() {
  local tmp
  tmp=$(mktemp -d /tmp/cachebuild-busybox.XXXXXX)
  if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi  # root's apt downloads as _apt
  (cd "$tmp" && apt-get download -q "busybox-static:arm64=$BUSYBOX_ARM64_VERSION" >/dev/null)
  dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$tmp/root"
  install -m 0755 "$tmp/root/bin/busybox" "$1/busybox"
  rm -rf "$tmp"
}

# -- binfmt_misc: arm64 binaries run through qemu, in containers too (F = fix binary) ------------
ensure_binfmt() {
  if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    $SUDO update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || $SUDO update-binfmts --enable
  fi
  if ! grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
    # registered by something else without F: register it again from qemu-user-static's own entry
    echo -1 | $SUDO tee /proc/sys/fs/binfmt_misc/qemu-aarch64 >/dev/null
    $SUDO update-binfmts --enable qemu-aarch64 >/dev/null
  fi
  if ! grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
    echo "tools: /proc/sys/fs/binfmt_misc/qemu-aarch64 lacks the F flag:" >&2
    cat /proc/sys/fs/binfmt_misc/qemu-aarch64 >&2
    exit 1
  fi
}

# -- run: one function, so that bash has read all of it before it starts (an edit meanwhile is harmless)
main() {
  ensure_binfmt
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
    $SUDO apt-get update -qq
  fi
  BUSYBOX_ARM64_VERSION=$(apt-cache policy busybox-static:arm64 | sed -n 's/^  Candidate: //p')
  if [ -z "$BUSYBOX_ARM64_VERSION" ] || [ "$BUSYBOX_ARM64_VERSION" = "(none)" ]; then
    $SUDO apt-get update -qq
    BUSYBOX_ARM64_VERSION=$(apt-cache policy busybox-static:arm64 | sed -n 's/^  Candidate: //p')
  fi

  done_or_build buildkit "$BUILDKIT_VERSION" build_buildkit
  done_or_build kaniko "$KANIKO_VERSION" build_kaniko
  done_or_build seccomp-profile "$SECCOMP_VERSION" build_seccomp
  done_or_build busybox-arm64 "${BUSYBOX_ARM64_VERSION//[:~]/_}" build_busybox_arm64

  link() { ln -sfn "$1" "$TOOLS/bin/$(basename "$1")"; }
  for b in buildkitd buildctl buildctl-daemonless.sh; do link "$TOOLS/buildkit-$BUILDKIT_VERSION/$b"; done
  for b in executor warmer; do link "$TOOLS/kaniko-$KANIKO_VERSION/$b"; done
  link "$TOOLS/seccomp-profile-$SECCOMP_VERSION/seccomp-profile"
  ln -sfn "$TOOLS/busybox-arm64-${BUSYBOX_ARM64_VERSION//[:~]/_}/busybox" "$TOOLS/bin/busybox-arm64"

  # The check: a static arm64 binary runs here (through qemu).
  if ! out=$("$TOOLS/bin/busybox-arm64" uname -m 2>&1) || [ "$out" != aarch64 ]; then
    echo "tools: the arm64 busybox does not run through binfmt_misc/qemu: $out" >&2
    exit 1
  fi
  echo "tools: ready in $TOOLS/bin ($(ls "$TOOLS/bin" | tr '\n' ' '))"
}

main "$@"
exit
