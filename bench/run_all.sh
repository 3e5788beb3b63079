#!/usr/bin/env bash
# Set up / refresh the venvs, then run every bench/bench_*.py; output is tee'd to
# bench/results/<date>.txt. Exits non-zero if any benchmark failed.
set -uo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RESULTS="$BENCH_DIR/results"
mkdir -p "$RESULTS"
OUT="$RESULTS/$(date +%Y-%m-%dT%H%M%S).txt"

{
    echo "# naga benchmarks $(date -Is) on $(nproc) cores, commit $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo none)"
    "$BENCH_DIR/setup_peers.sh"
    failed=()
    for bench in "$BENCH_DIR"/bench_*.py; do
        echo
        echo "### $(basename "$bench")"
        # Drivers are stdlib-only; run them with the naga venv so naga is importable if needed.
        if ! (cd "$BENCH_DIR" && env -u PYTHONDONTWRITEBYTECODE -u PYTHONUNBUFFERED \
                "$BENCH_DIR/.venv-naga/bin/python" "$bench"); then
            failed+=("$(basename "$bench")")
        fi
    done
    echo
    if ((${#failed[@]})); then
        echo "FAILED: ${failed[*]}"
        exit 1
    fi
    echo "all benchmarks finished"
} 2>&1 | tee "$OUT"
status=${PIPESTATUS[0]}
echo "results: $OUT"
exit "$status"
