"""The machine and environment a run executes in: user, selected variables, Python, GPUs.

Only variables that shape an ML run are kept (devices, schedulers, thread counts, environments),
and anything that looks like a secret is masked before it reaches the disk. Slow facts (asking an
interpreter its version, nvidia-smi) are started as helpers when the run starts and collected
when it ends, so they never delay the command.
"""

from __future__ import annotations

import os
import sys

from ..redact import mask_env
from ..spawn import Helper, which
from ..spawn import start as spawn_start

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from typing import Any

ENV_NAMES = frozenset(
    {
        "CUDA_VISIBLE_DEVICES",
        "VIRTUAL_ENV",
        "CONDA_DEFAULT_ENV",
        "CONDA_PREFIX",
        "PYTHONPATH",
        "PYTHONHASHSEED",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "LD_LIBRARY_PATH",
        "WORLD_SIZE",
        "RANK",
        "LOCAL_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
    }
)
ENV_PREFIXES = (
    "SLURM_",
    "CUDA_",
    "NCCL_",
    "TORCH_",
    "PYTORCH_",
    "HF_",
    "HYDRA_",
    "MLFLOW_",
    "WANDB_",
    "NAGA_",
    "PBS_",
    "LSB_",
    "SGE_",
    "XLA_",
    "JAX_",
)
GPU_FIELDS = ("index", "name", "uuid", "memory.total", "driver_version")


def selected_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = dict(os.environ) if environ is None else environ
    chosen = {k: v for k, v in environ.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}
    return dict(sorted(mask_env(chosen).items()))


def _is_python_name(name: str) -> bool:
    """python, python3, python3.11, pypy3 ..."""
    for prefix in ("python", "pypy"):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            return not rest or all(part.isdigit() for part in rest.split("."))
    return False


def python_executable(argv: list[str], path: str | None) -> str | None:
    """The interpreter's path when the command runs Python: directly (python, python3.11, pypy)
    or as a script whose ``#!`` line names one (``./train.py``)."""
    if not argv:
        return None
    found = which(argv[0], path)
    if found is None:
        return None
    if _is_python_name(os.path.basename(argv[0])):
        return os.path.abspath(found)
    return _shebang_python(found, path)


def _shebang_python(script: str, path: str | None) -> str | None:
    try:
        with open(script, "rb") as f:
            first = f.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-")]  # env -S python3 -u
    if not words or not _is_python_name(os.path.basename(words[0])):
        return None
    interpreter = which(words[0], path)
    return os.path.abspath(interpreter) if interpreter else None


def _venv_version(executable: str) -> str | None:
    cfg = os.path.join(os.path.dirname(os.path.dirname(executable)), "pyvenv.cfg")
    try:
        with open(cfg) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() in ("version", "version_info"):
            return value.strip()
    return None


class Facts:
    """Slow facts about a run, started with the run and collected at its end."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.python: dict[str, Any] | None = None
        self._version_helper: Helper | None = None
        self._gpu_helper: Helper | None = None
        executable = python_executable(argv, env.get("PATH"))
        if executable:
            self.python = {"executable": executable, "version": self._cheap_version(executable)}
            if self.python["version"] is None:
                code = "import sys; sys.stdout.write(sys.version.split()[0])"
                self._version_helper = spawn_start([executable, "-I", "-S", "-c", code])
        smi = which("nvidia-smi", env.get("PATH"))
        if smi:
            query = f"--query-gpu={','.join(GPU_FIELDS)}"
            self._gpu_helper = spawn_start([smi, query, "--format=csv,noheader,nounits"])

    @staticmethod
    def _cheap_version(executable: str) -> str | None:
        if os.path.realpath(executable) == os.path.realpath(sys.executable):
            return sys.version.split()[0]
        return _venv_version(executable)

    def collect(self) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        if self._version_helper is not None and self.python is not None:
            out = self._version_helper.result(timeout=10)
            self.python["version"] = out.decode().strip() if out else None
        gpus = parse_gpus(self._gpu_helper.result(timeout=20)) if self._gpu_helper else []
        return self.python, gpus


def parse_gpus(raw: bytes | None) -> list[dict[str, Any]]:
    found = []
    for line in (raw or b"").decode("utf-8", "replace").strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        if len(values) == len(GPU_FIELDS):
            gpu: dict[str, Any] = dict(zip(GPU_FIELDS, values, strict=True))
            gpu["memory_total_mib"] = _int_or_none(gpu.pop("memory.total"))
            gpu["index"] = _int_or_none(gpu["index"])
            found.append(gpu)
    return found


def _int_or_none(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None
