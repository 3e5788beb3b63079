#!/usr/bin/env bash
# Stop the cluster started by scripts/slurm/up.sh (by the pids it recorded) and, with --clean,
# remove its state directory (queued jobs, logs, the munge key).
set -euo pipefail

state=${NAGA_SLURM_DIR:-/tmp/naga-slurm}

stop() {  # stop the daemon whose pid is in $1, waiting up to 10 s
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# Jobs first: their processes belong to slurmstepd, which outlives slurmd.
if [ -f "$state/slurm.conf" ] && [ -f "$state/slurmctld.pid" ]; then
  export SLURM_CONF=$state/slurm.conf
  if jobs=$(squeue -h -o %A 2>/dev/null) && [ -n "$jobs" ]; then
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 100); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.1; done
  fi
fi
stop "$state/slurmd.pid"
stop "$state/slurmctld.pid"
stop "$state/munge/munged.pid"
if [ "${1:-}" = --clean ]; then
  rm -rf "$state"
fi
