#!/usr/bin/env bash
# Stop the cluster started by scripts/slurm/up.sh (by the pids it recorded) and, with --clean,
# remove its state directory (queued jobs, logs, the munge key).
set -euo pipefail

state=${NAGA_SLURM_DIR:-/tmp/naga-slurm}

# Jobs first: their processes belong to slurmstepd, which outlives slurmd.
if [ -f "$state/slurm.conf" ] && [ -f "$state/slurmctld.pid" ]; then
  export SLURM_CONF=$state/slurm.conf
  if jobs=$(squeue -h -o %A 2>/dev/null) && [ -n "$jobs" ]; then
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 100); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.1; done
  fi
fi
pids=()
for name in slurmd.pid slurmctld.pid munge/munged.pid; do
  [ -f "$state/$name" ] && pids+=("$(cat "$state/$name")")
  rm -f "$state/$name"
done

# The daemons together (each takes a second or two to exit), then up to 10 s for all of them.
[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
for _ in $(seq 100); do
  alive=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.1
done
for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
if [ "${1:-}" = --clean ]; then
  rm -rf "$state"
fi
