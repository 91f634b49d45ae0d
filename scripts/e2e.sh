#!/usr/bin/env bash
# The end-to-end tier: every task's container run as its pod would run it (the pods made by Argo's
# and Tekton's own code, the real builders built from source, each in its own mount namespace under
# runc) against real registries: plain HTTP by host name, TLS with a private CA and credentials.
# Needs root and what scripts/setup.sh installs. Arguments go to pytest (e.g. -k kaniko).
# Ends with the task matrix (task x engine x registry: PASS/FAIL, cold s, warm s) and "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
# setup.sh installs into .venv where the system Python is distribution-managed (PEP 668)
if [ -x .venv/bin/python ]; then PATH="$PWD/.venv/bin:$PATH"; fi
matrix="$(mktemp)"
trap 'rm -f "$matrix"' EXIT
CACHEBUILD_E2E_MATRIX="$matrix" python3 -m pytest tests/e2e -p no:cacheprovider "$@"
status=$?
if [ -s "$matrix" ]; then echo; cat "$matrix"; fi
exit "$status"
