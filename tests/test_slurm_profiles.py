"""Slurm resource profiles (``naga.parallel.profiles``) and the Slurm job info recorded on runs
(``naga.capture.slurm``): no cluster needed. The cluster tests are in ``test_slurm.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from naga.capture.slurm import describe, job_info
from naga.parallel.profiles import ProfileError, load_profile, parse_time_minutes


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("90", 90),
        ("30:00", 30),
        ("0:30", 1),  # seconds round up to a minute
        ("1:00:00", 60),
        ("1-00:00:00", 1440),
        ("1-12", 2160),
        ("1-0:30", 1470),
        ("2h", 120),
        ("90m", 90),
        ("1d12h", 2160),
    ],
)
def test_profile_times(text: str, minutes: int) -> None:
    assert parse_time_minutes(text) == minutes


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "0:00:00",
        "-5",
        "1 hour",
        "1h30",
        "1:2:3:4",
        "soon",
        "25:99",
        "1:60:00",
        "1-25",
        "999d",
    ],
)
def test_profile_bad_times(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time_minutes(text)


@pytest.mark.parametrize(
    ("text", "option"),
    [("4G", "4G"), ("500M", "500M"), ("16GB", "16G"), ("1.5GiB", "1536M"), ("1024", "1G")],
)
def test_profile_memory(tmp_path: Path, text: str, option: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"time: 5\nmem: {text}\n")
    assert load_profile(str(path)).parameters == {"time": 5, "mem": option}


def test_profile_maps_to_submitit_parameters(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "partition: gpu\ntime: 1:00:00\ncpus_per_task: 4\ngpus: 2\nmem: 32G\nnodes: 1\n"
        "array_parallelism: 8\naccount: lab\nqos: high\nsignal_delay: 120\nworkers: 3\n"
        "max_requeues: 5\nsetup: [module load cuda]\nsbatch: {mail-type: END, exclusive: true}\n"
    )
    profile = load_profile(str(path))
    assert profile.parameters == {
        "partition": "gpu",
        "time": 60,  # not YAML's base-60 integer 3600
        "cpus_per_task": 4,
        "gpus_per_node": 2,
        "mem": "32G",
        "nodes": 1,
        "array_parallelism": 8,
        "account": "lab",
        "qos": "high",
        "signal_delay_s": 120,
        "setup": ["module load cuda"],
        "additional_parameters": {"mail-type": "END", "exclusive": True},
    }
    assert (profile.workers, profile.max_requeues, profile.source) == (3, 5, str(path))


def test_named_profiles(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(
        "default: small\nprofiles:\n  small: {time: 10}\n  big: {time: 2h, cpus_per_task: 8}\n"
    )
    assert load_profile(str(path)).name == "small"
    big = load_profile(f"{path}:big")
    assert big.parameters == {"time": 120, "cpus_per_task": 8} and big.source == f"{path}:big"


@pytest.mark.parametrize(
    ("text", "spec_suffix", "message"),
    [
        ("cpus_per_tsk: 2\n", "", "unknown field 'cpus_per_tsk'; did you mean 'cpus_per_task'?"),
        ("cpus_per_task: 0\n", "", "'cpus_per_task' must be an integer >= 1, got '0'"),
        ("gpus: -1\n", "", "'gpus' must be an integer >= 0, got '-1'"),
        ("gpus: two\n", "", "'gpus' must be an integer >= 0, got 'two'"),
        ("mem: lots\n", "", "'mem' must be a memory size like 4G, 500M or 16GB, got 'lots'"),
        ("mem: 4X\n", "", "'mem' must be a memory size"),
        ("time: 1 hour\n", "", "'time' must be a time limit like 90, 1:00:00, 1-00:00:00 or 2h"),
        ("time: [1]\n", "", "'time' must be a time limit"),
        ("array_parallelism: 0\n", "", "'array_parallelism' must be an integer >= 1"),
        ("sbatch: {array: 0-3}\n", "", "'sbatch.array': naga sets --array itself"),
        ("sbatch: {partition: gpu}\n", "", "use the profile field 'partition' instead"),
        ("sbatch: [mail]\n", "", "'sbatch' must map sbatch options to values"),
        ("time: 10\n", ":gpu", "no profile 'gpu': the file holds a single profile"),
        ("- time: 10\n", "", "expected a mapping of fields"),
        ("", "", "the file is empty"),
        ("time: [10\n", "", "not valid YAML (line 2)"),
        (
            "profiles: {a: {time: 1}, b: {time: 2}}\n",
            "",
            "several profiles (a, b) and no `default`",
        ),
        ("profiles: {small: {time: 1}}\n", ":smal", "no profile 'smal'; did you mean 'small'?"),
        ("profiles: {a: {time: 1}}\nextra: 1\n", "", "unknown top-level key 'extra'"),
        ("profiles: {a: {tim: 1}}\n", "", "slurm profile {path}:a: unknown field 'tim'"),
        ("partition: debug\n", "", "no 'time': give each worker's time limit (e.g. time: 1:00:00)"),
        ("time: 1\n", "", "'time' (1 min) must be longer than 'signal_delay' (90 s)"),
        ("time: 10\nsignal_delay: 900\n", "", "'time' (10 min) must be longer than"),
        ("sbatch: {dependency: x}\n", "", "naga sets --dependency itself (use --after"),
    ],
)
def test_profile_errors_are_one_line_naming_file_and_field(
    tmp_path: Path, text: str, spec_suffix: str, message: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as raised:
        load_profile(f"{path}{spec_suffix}")
    error = str(raised.value)
    assert error.startswith(f"slurm profile {path}") and "\n" not in error
    assert message.format(path=path) in error
    assert raised.value.exit_code == 2


def test_job_info_from_the_environment() -> None:
    env = {
        "SLURM_JOB_ID": "815",
        "SLURM_ARRAY_JOB_ID": "812",
        "SLURM_ARRAY_TASK_ID": "3",
        "SLURMD_NODENAME": "node7",
        "SLURM_JOB_PARTITION": "gpu",
        "SLURM_RESTART_COUNT": "2",
    }
    info = job_info(env)
    assert info is not None
    assert describe(info) == "job 812_3 (id 815) on node7, partition gpu, requeued 2x"
    assert job_info({"PATH": "/bin"}) is None
