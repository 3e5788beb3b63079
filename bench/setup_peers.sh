#!/usr/bin/env bash
# Create/refresh the benchmark virtualenvs. Idempotent; safe to re-run.
#   .venv-peers : yanex + mlflow (+ psutil, for its system metrics) + sacred (sacred only adds
#                 packages: nothing is up/downgraded)
#   .venv-guild : guildai (own venv: it pins protobuf<5, which conflicts with mlflow's deps)
#   .venv-aim   : aim (own venv: it pins many deps); falls back to an older aim if the latest fails
#   .venv-naga  : naga, installed NON-editable from the repo root, reinstalled every run, + numpy
# Optional peers that fail to install are logged and skipped; this script never aborts on them.
set -uo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$BENCH_DIR/.." && pwd)"
BASE_PY="${BENCH_PYTHON:-/root/.pyenv/versions/3.11.7/bin/python3}"
LOG_DIR="$BENCH_DIR/results"
LOG="$LOG_DIR/setup.log"
mkdir -p "$LOG_DIR"
: >"$LOG"

# Bytecode must be written for the benchmarked installs.
unset PYTHONDONTWRITEBYTECODE

failures=()

log() { printf '[setup] %s\n' "$*"; }

make_venv() {  # make_venv DIR
    if [[ ! -x "$1/bin/python" ]]; then
        log "creating $(basename "$1")"
        "$BASE_PY" -m venv "$1" || return 1
    fi
}

pip_in() {  # pip_in VENV ARGS...
    local venv="$1"; shift
    "$venv/bin/python" -m pip install --quiet "$@" >>"$LOG" 2>&1
}

compile_venv() {  # compile_venv VENV  (pip already compiles; this is a cheap safety net)
    "$1/bin/python" -m compileall -q -j0 "$1/lib" >/dev/null 2>&1 || true
}

install_optional() {  # install_optional VENV PACKAGE
    if pip_in "$1" "$2"; then
        log "ok: $2 in $(basename "$1")"
    else
        log "FAILED: $2 in $(basename "$1") (see $LOG); continuing without it"
        failures+=("$2")
    fi
}

install_naga() {  # build a wheel from the repo, force-reinstall it without deps, then fill in deps
    local venv="$BENCH_DIR/.venv-naga" wheel_dir
    wheel_dir="$(mktemp -d)"
    if ! "$venv/bin/python" -m pip wheel --quiet --no-deps -w "$wheel_dir" "$REPO_ROOT" >>"$LOG" 2>&1; then
        rm -rf "$wheel_dir"
        return 1
    fi
    local wheel=("$wheel_dir"/*.whl)
    pip_in "$venv" --force-reinstall --no-deps "${wheel[0]}" && pip_in "$venv" "${wheel[0]}"
    local rc=$?
    rm -rf "$wheel_dir"
    return $rc
}

make_venv "$BENCH_DIR/.venv-peers" || failures+=(".venv-peers")
make_venv "$BENCH_DIR/.venv-guild" || failures+=(".venv-guild")
make_venv "$BENCH_DIR/.venv-aim" || failures+=(".venv-aim")
make_venv "$BENCH_DIR/.venv-naga" || { log "FATAL: cannot create .venv-naga"; exit 1; }

install_optional "$BENCH_DIR/.venv-peers" yanex
install_optional "$BENCH_DIR/.venv-peers" mlflow
# mlflow's system metrics (bench_sysmetrics.py) need psutil, which mlflow does not depend on.
install_optional "$BENCH_DIR/.venv-peers" psutil
install_optional "$BENCH_DIR/.venv-peers" sacred
# bench_hash.py: DVC's `dvc add` is the data-versioning peer (md5 + its state db of inodes)
install_optional "$BENCH_DIR/.venv-peers" dvc
# bench_config.py: Hydra's @hydra.main is the config peer of naga.clicfg
install_optional "$BENCH_DIR/.venv-peers" hydra-core
# bench_tasks.py: Hydra's joblib launcher is the peer of naga's --tasks --n_jobs
install_optional "$BENCH_DIR/.venv-peers" hydra-joblib-launcher
if ! "$BENCH_DIR/.venv-peers/bin/python" -m pip check >>"$LOG" 2>&1; then
    log "WARNING: pip check fails in .venv-peers after adding sacred and dvc (see $LOG)"
fi
install_optional "$BENCH_DIR/.venv-guild" guildai
if [[ -x "$BENCH_DIR/.venv-aim/bin/python" ]]; then
    if pip_in "$BENCH_DIR/.venv-aim" aim; then
        log "ok: aim in .venv-aim"
    else
        log "latest aim failed in .venv-aim; trying aim==3.28.0"
        install_optional "$BENCH_DIR/.venv-aim" "aim==3.28.0"
    fi
fi

if install_naga; then
    log "ok: naga (non-editable, from $REPO_ROOT)"
else
    log "FAILED: naga from $REPO_ROOT (see $LOG); naga rows will be skipped"
    failures+=("naga")
fi
# naga.load(...).metrics(...) returns numpy arrays; numpy is optional for naga itself.
install_optional "$BENCH_DIR/.venv-naga" numpy
# bench_export_mlflow.py: naga[mlflow] (`naga export mlflow`)
install_optional "$BENCH_DIR/.venv-naga" "mlflow>=2.12"
# --n_jobs runs tasks in joblib processes (naga's `parallel` extra; bench_tasks.py)
install_optional "$BENCH_DIR/.venv-naga" joblib

# bench_hash.py: b3sum (the BLAKE3 team's own tool, Rust, multithreaded) from Debian; md5sum is in
# coreutils. A machine without apt or root just skips the b3sum rows.
if ! command -v b3sum >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && apt-get install -y -q b3sum >>"$LOG" 2>&1; then
        log "ok: b3sum (apt)"
    else
        log "FAILED: b3sum (apt-get install b3sum); bench_hash.py skips it"
        failures+=("b3sum")
    fi
fi

for venv in "$BENCH_DIR"/.venv-peers "$BENCH_DIR"/.venv-guild "$BENCH_DIR"/.venv-aim "$BENCH_DIR"/.venv-naga; do
    [[ -x "$venv/bin/python" ]] && compile_venv "$venv"
done

log "versions:"
"$BENCH_DIR/.venv-peers/bin/python" -m pip list 2>/dev/null | grep -iE '^(yanex|mlflow|psutil|sacred|dvc|hydra-core|hydra-joblib-launcher) ' | sed 's/^/    /'
"$BENCH_DIR/.venv-guild/bin/python" -m pip list 2>/dev/null | grep -iE '^guildai ' | sed 's/^/    /'
"$BENCH_DIR/.venv-aim/bin/python" -m pip list 2>/dev/null | grep -iE '^aim ' | sed 's/^/    /'
"$BENCH_DIR/.venv-naga/bin/python" -m pip list 2>/dev/null | grep -iE '^(naga|numpy|joblib) ' | sed 's/^/    /'

if ((${#failures[@]})); then
    log "not installed: ${failures[*]}"
fi
exit 0
