#!/usr/bin/env bash
# The project's checks: lint, types, the rendered catalog is up to date, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff";   ruff check . && ruff format --check .
echo "== mypy";   mypy
if [ -f catalog.yaml ]; then echo "== render --check"; cachebuild render --check; fi
if [ -d tasks ]; then echo "== tekton-lint"; npx --no-install tekton-lint --max-warnings 0 'tasks/**/*.yaml'; fi
echo "== pytest"; python3 -m pytest "$@"
