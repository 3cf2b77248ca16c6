#!/usr/bin/env bash
# Run every test: the Python suite (unit, end-to-end, property, models, docs) and the C# host's suite.
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/python -m pytest "$@"

if [ -f dotnet-host/build.sh ]; then
    bash dotnet-host/build.sh test
fi
