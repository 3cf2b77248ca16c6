#!/usr/bin/env bash
# Set up a fresh checkout on a Debian machine: system packages for the C# host and the audio tests,
# then .venv/ in the repo root with the worker, the model stack and the test tools.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(mono-devel nunit-console espeak-ng)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]} with apt" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --progress-bar off --disable-pip-version-check -q)
# torch first and pinned: 2.13.0 is the CPU wheel this machine's pip finds locally. An unpinned torch
# (asked for by any package) would pull several GB of CUDA packages instead.
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" -e ".[all,test,bench]"
# An editable install leaves the worker's own modules uncompiled, and with PYTHONDONTWRITEBYTECODE set
# (as on CI machines) every worker start would compile them again: about 40% of a start's CPU time.
.venv/bin/python -m compileall -q worker

if command -v npm >/dev/null 2>&1; then
    for dir in tests/interop dotnet-host; do
        if [ -f "$dir/package-lock.json" ]; then
            (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        fi
    done
fi
echo "setup: done (.venv/bin/hf-worker --help)" >&2
