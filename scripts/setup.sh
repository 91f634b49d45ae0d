#!/usr/bin/env bash
# Installs everything cachebuild and its tests need on a fresh Debian/Ubuntu machine.
# Safe to run again. Uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# buildah + a real registry for the local engine and its tests; busybox and dash run the
# launcher scripts the way the builder images do; htpasswd for an authenticated registry.
APT_PACKAGES=(buildah docker-registry busybox-static dash apache2-utils ca-certificates)
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

# tekton-lint (pinned in package.json / package-lock.json) checks tasks/ in scripts/test.sh.
if ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error

python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
echo "setup: done ($(cachebuild --version), $(buildah --version))"
