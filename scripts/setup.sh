#!/usr/bin/env bash
# Installs everything cachebuild and its tests need on a fresh Debian/Ubuntu machine.
# Safe to run again. Uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# buildah + a real registry for the local engine and its tests; busybox and dash run the
# launcher scripts the way the builder images do; htpasswd for an authenticated registry.
# The end-to-end tests (tests/e2e/): runc runs each pod container; rootlesskit, uidmap and
# slirp4netns go into the rootless BuildKit image; qemu-user-static + binfmt-support run arm64
# RUN steps; fuse-overlayfs, git and xz go into the BuildKit image (git into buildah's) as upstream
# has them; openssl makes the test registries' CA. The cluster tier (tests/cluster/): the CNI
# plugins and iptables for the pod network and kube-proxy, dnsmasq as the pods' resolver, gcc and
# libc6-dev to compile Kubernetes' pause, tini for Tekton's resolvers image.
APT_PACKAGES=(buildah docker-registry busybox-static dash apache2-utils ca-certificates
  rootlesskit runc uidmap slirp4netns qemu-user-static binfmt-support fuse-overlayfs openssl git xz-utils
  containernetworking-plugins iptables dnsmasq-base gcc libc6-dev tini)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# buildah refuses to pull or push without a signature policy.
if [ ! -f /etc/containers/policy.json ]; then
  $SUDO mkdir -p /etc/containers
  echo '{"default": [{"type": "insecureAcceptAnything"}]}' | $SUDO tee /etc/containers/policy.json >/dev/null
fi

# BuildKit, kaniko and the other real components the end-to-end tests run, cached by version.
bash scripts/tools.sh

# tekton-lint (pinned in package.json / package-lock.json) checks tasks/ in scripts/test.sh.
if ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error

# Tekton's and Argo's own checks (tools/), pinned in tools/versions.env and cached by version.
# They need Go >= 1.26.4 (Debian 12's golang-go is 1.19, too old to build them or fetch a toolchain).
if ! go version 2>/dev/null | grep -Eq 'go1\.(2[6-9]|[3-9][0-9])'; then
  echo "setup: Go >= 1.26.4 is needed to build tools/ (found: $(go version 2>/dev/null || echo none))" >&2
  exit 1
fi
bash scripts/go-tools.sh

# A Python that its distribution manages (PEP 668, e.g. Debian 12's /usr/bin/python3) refuses pip:
# install into .venv instead and put its cachebuild on PATH.
if python3 -c 'import sys, sysconfig, pathlib; sys.exit(0 if (pathlib.Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").exists() and sys.prefix == sys.base_prefix else 1)'; then
  if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  $SUDO ln -sf "$PWD/.venv/bin/cachebuild" /usr/local/bin/cachebuild
else
  python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
fi
echo "setup: done ($(cachebuild --version), $(buildah --version))"
