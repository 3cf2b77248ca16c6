#!/usr/bin/env bash
# Build the hf-worker wheel into DIR (default dist/) and print its path.
# From a clean copy of what the wheel holds (pyproject.toml, README.md, LICENSE, worker/), never in the tree:
# setuptools' build/ folder outlives the files it copied, and a module deleted from worker/ would still ship.
# The build backend (setuptools, pinned in pyproject.toml) comes from the configured package index.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)
PYTHON=${PYTHON:-.venv/bin/python}
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -r pyproject.toml README.md LICENSE worker "$copy/"
find "$copy/worker" -name __pycache__ -prune -exec rm -rf {} +
rm -f "$out"/hf_worker-*.whl
"$PYTHON" -m pip wheel --no-deps --disable-pip-version-check -q -w "$out" "$copy" >&2
ls "$out"/hf_worker-*.whl
