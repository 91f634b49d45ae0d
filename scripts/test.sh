#!/usr/bin/env bash
# The project's checks: lint, types, the rendered catalog is up to date, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# setup.sh installs into .venv where the system Python is distribution-managed (PEP 668)
if [ -x .venv/bin/python ]; then PATH="$PWD/.venv/bin:$PATH"; fi
echo "== ruff";   ruff check . && ruff format --check .
echo "== mypy";   mypy
if [ -f catalog.yaml ]; then echo "== render --check"; cachebuild render --check; fi
if [ -d tasks ]; then echo "== tekton-lint"; npx --no-install tekton-lint --max-warnings 0 'tasks/**/*.yaml'; fi
echo "== go vet, gofmt (tools/)"
for mod in tools/*/go.mod; do
  dir="${mod%/go.mod}"
  for modfile in "$dir"/go.mod "$dir"/go.min.mod; do
    [ -f "$modfile" ] || continue
    # tools/kubernetes, tools/etcd and tools/tekton only pin programs (tools.go): nothing to vet
    if [ -z "$(grep -L '^//go:build tools' "$dir"/*.go)" ]; then continue; fi
    (cd "$dir" && CGO_ENABLED=0 go vet -modfile="${modfile##*/}" ./...)
  done
done
unformatted="$(gofmt -l tools/)"
if [ -n "$unformatted" ]; then echo "gofmt: not formatted: $unformatted" >&2; exit 1; fi
echo "== pytest"; python3 -m pytest "$@"
