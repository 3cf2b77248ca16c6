#!/usr/bin/env bash
# Run the whole test command several times in a row while other processes keep every core busy, the way a
# shared CI machine or a desktop running the app is. Tests must wait for events, not for the clock: any run
# that fails here is a defect in a test or in the code.
#
#   bash scripts/test_under_load.sh [RUNS]      (default 3; prints one summary line per run, exits 1 on any failure)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
cores=$(nproc)
burners=()
stop_burners() {
    for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_burners EXIT
# One busy loop per core, at normal priority: they compete with the tests for every core.
for _ in $(seq "$cores"); do
    .venv/bin/python -c 'while True: pass' &
    burners+=($!)
done
echo "under-load: $cores busy loops started (pids ${burners[*]})" >&2

failed=0
for run in $(seq "$runs"); do
    started=$(date +%s)
    log=$(mktemp -t under-load-XXXX.log)
    if bash scripts/test.sh >"$log" 2>&1; then outcome=passed; else outcome=FAILED; failed=1; fi
    summary=$(grep -E '^=+ .*(passed|failed).* =+$' "$log" | tail -n 1 || true)
    echo "under-load run $run/$runs: $outcome in $(( $(date +%s) - started ))s; pytest: ${summary:-none}; log: $log"
done
exit "$failed"
