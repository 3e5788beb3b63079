"""``naga run``: any command, its exit code, its output, its record."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

from conftest import Naga, TinyDisk, naga_cmd, only_run, runs_json


def test_exit_code_output_and_record(naga: Naga, store: Path) -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    done = naga("run", "--name", "n1", "--tag", "a", "--tag", "b", sys.executable, "-c", code)
    assert done.returncode == 3
    assert done.stdout == b"out\n"  # a piped stdout is exactly the child's
    assert b"err\n" in done.stderr
    run = only_run(naga)
    assert run["status"] == "failed"
    assert run["exit_code"] == 3
    assert run["name"] == "n1"
    assert run["tags"] == ["a", "b"]
    assert run["argv"] == [sys.executable, "-c", code]
    assert run["id"] in done.stderr.decode()  # start and end lines name the run
    assert "failed" in done.stderr.decode().splitlines()[-1]
    for key in ("started_at", "finished_at", "duration_s", "host", "user", "pid", "cwd"):
        assert run[key] not in (None, ""), key
    log = (store / "runs" / run["id"] / "output.log").read_bytes()
    assert b"out\n" in log and b"err\n" in log


def test_completed_run_and_arguments_unchanged(naga: Naga, tmp_path: Path) -> None:
    args = ["--lr", "0.1", "with space", "ünï'\"code", "--", "-x"]
    code = "import sys, json; print(json.dumps(sys.argv[1:]))"
    done = naga("run", sys.executable, "-c", code, *args)
    assert done.returncode == 0
    assert json.loads(done.stdout) == args
    run = only_run(naga)
    assert run["status"] == "completed"
    assert run["exit_code"] == 0
    assert run["python"]["executable"]
    assert run["python"]["version"] == sys.version.split()[0]


def test_double_dash_and_options_after_command(naga: Naga) -> None:
    done = naga("run", "--", "echo", "--name", "x")
    assert done.stdout == b"--name x\n"
    assert only_run(naga)["name"] is None


def test_shell_script_make_and_bash(naga: Naga, tmp_path: Path) -> None:
    script = tmp_path / "x.sh"
    script.write_text('#!/bin/sh\necho from-script "$1"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "Makefile").write_text("train:\n\t@echo from-make\n")
    assert naga("run", "./x.sh", "arg").stdout == b"from-script arg\n"
    assert naga("run", "make", "train").stdout == b"from-make\n"
    assert naga("run", "bash", "-c", "echo $((6*7))").stdout == b"42\n"
    assert {r["status"] for r in runs_json(naga)} == {"completed"}


def test_command_not_found_is_127_and_recorded_failed(naga: Naga) -> None:
    done = naga("run", "definitely-not-a-command-xyz", "--flag")
    assert done.returncode == 127
    err = done.stderr.decode().strip().splitlines()
    assert err[-2] == (
        "naga: error: command not found: definitely-not-a-command-xyz"
        " (check the spelling and your PATH)"
    )
    assert err[-1].startswith("✗ naga failed after")  # the summary stays last
    assert "Traceback" not in done.stderr.decode()
    run = only_run(naga)
    assert run["status"] == "failed"
    assert run["exit_code"] == 127
    assert "command not found" in run["error"]


def test_not_executable_is_126(naga: Naga, tmp_path: Path) -> None:
    (tmp_path / "plain.sh").write_text("echo hi\n")
    done = naga("run", "./plain.sh")
    assert done.returncode == 126
    assert "permission denied" in done.stderr.decode()
    directory = naga("run", str(tmp_path))
    assert directory.returncode == 126
    assert f"naga: error: {tmp_path} is a directory, not a command" in directory.stderr.decode()
    assert [r["exit_code"] for r in runs_json(naga)] == [126, 126]


def test_non_utf8_output_kept_losslessly(naga: Naga, store: Path) -> None:
    payload = bytes(range(256)) * 4
    code = (
        f"import sys; sys.stdout.buffer.write({payload!r}); sys.stderr.buffer.write(b'\\xff\\xfe')"
    )
    done = naga("run", sys.executable, "-c", code)
    assert done.returncode == 0
    assert done.stdout == payload
    run = only_run(naga)
    log = (store / "runs" / run["id"] / "output.log").read_bytes()
    assert payload in log and b"\xff\xfe" in log
    assert naga("logs", run["id"]).stdout == log


def test_stdin_is_passed_through(naga: Naga) -> None:
    code = "import sys; print(sys.stdin.read().upper())"
    done = naga("run", sys.executable, "-c", code, input=b"hello", stdin=None)
    assert done.stdout == b"HELLO\n"


def test_large_output_streams_through(naga: Naga, store: Path) -> None:
    code = "import sys\nline = 'x' * 99 + '\\n'\nfor _ in range(100_000): sys.stdout.write(line)"
    done = naga("run", sys.executable, "-c", code)
    assert len(done.stdout) == 10_000_000
    run = only_run(naga)
    assert (store / "runs" / run["id"] / "output.log").stat().st_size == 10_000_000
    assert run["output"]["bytes"] == 10_000_000


def test_killed_child_reports_signal(naga: Naga) -> None:
    done = naga(
        "run", sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    )
    assert done.returncode == 128 + 9
    run = only_run(naga)
    assert run["signal"] == "SIGKILL"
    assert run["status"] == "failed"


def test_bad_inputs_give_one_line_and_exit_2(naga: Naga) -> None:
    for args in (["run"], ["run", "--bogus", "echo"], ["ls", "--limit", "0"], ["nosuchcmd"]):
        done = naga(*args)
        assert done.returncode == 2, args
        assert b"Traceback" not in done.stderr
    done = naga("run", "--name", "", "echo")
    assert done.returncode == 2
    assert done.stderr.decode().strip() == "naga: error: --name must not be empty"
    bad_env = naga("run", "true", env={**os.environ, "NAGA_HEARTBEAT_INTERVAL": "soon"})
    assert bad_env.returncode == 2
    assert bad_env.stderr.decode().strip() == (
        "naga: error: NAGA_HEARTBEAT_INTERVAL must be a positive number of seconds, not 'soon'"
    )


def test_environment_captured_with_secrets_masked(naga: Naga) -> None:
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "0,1",
        "SLURM_JOB_ID": "1234",
        "WANDB_API_KEY": "supersecret",
        "MLFLOW_TRACKING_URI": "https://alice:hunter2@mlflow.example.com/path",
        "HF_TOKEN": "hf_abc",
        "UNRELATED_VARIABLE": "nope",
    }
    naga("run", "true", env=env)
    captured = only_run(naga)["env"]
    assert captured["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert captured["SLURM_JOB_ID"] == "1234"
    assert captured["WANDB_API_KEY"] == "***"
    assert captured["HF_TOKEN"] == "***"
    assert captured["MLFLOW_TRACKING_URI"] == "https://alice:***@mlflow.example.com/path"
    assert "UNRELATED_VARIABLE" not in captured
    assert "supersecret" not in str(captured) and "hunter2" not in str(captured)


def test_gpus_from_nvidia_smi(naga: Naga, tmp_path: Path) -> None:
    # No GPU here: a stand-in nvidia-smi prints what the real one prints for this query.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    smi = bindir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '0, NVIDIA A100-SXM4-40GB, GPU-1234, 40960, 535.104.05'\n")
    smi.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    naga("run", "true", env=env)
    (gpu,) = only_run(naga)["gpus"]
    assert gpu == {
        "index": 0,
        "name": "NVIDIA A100-SXM4-40GB",
        "uuid": "GPU-1234",
        "driver_version": "535.104.05",
        "memory_total_mib": 40960,
    }


def test_resources_recorded(naga: Naga) -> None:
    code = "x = bytearray(60 * 1024 * 1024); sum(range(3_000_000))"
    naga("run", sys.executable, "-c", code)
    res = only_run(naga)["resources"]
    assert res["max_rss_bytes"] > 60 * 1024 * 1024
    assert res["cpu_user_s"] > 0


def test_child_sees_run_id(naga: Naga) -> None:
    code = "import os; print(os.environ['NAGA_RUN_ID'])"
    done = naga("run", sys.executable, "-c", code)
    assert done.stdout.decode().strip() == only_run(naga)["id"]


def test_twenty_concurrent_runs_all_recorded(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            naga_cmd("run", "--name", f"r{i}", sys.executable, "-c", f"print({i})"),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for i in range(20)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [o.decode().strip() for o in outs] == [str(i) for i in range(20)]
    done = subprocess.run(naga_cmd("ls", "--all", "--json"), cwd=tmp_path, capture_output=True)
    runs = json.loads(done.stdout)
    assert sorted(r["name"] for r in runs) == sorted(f"r{i}" for i in range(20))
    assert len({r["id"] for r in runs}) == 20
    assert {r["status"] for r in runs} == {"completed"}
    for run in runs:
        log = Path(os.environ["NAGA_HOME"], "runs", run["id"], "output.log").read_text()
        assert log == f"{run['name'][1:]}\n"


def _fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)


def test_full_disk_keeps_what_was_recorded(naga: Naga, tiny_disk: TinyDisk) -> None:
    disk = tiny_disk("2m")
    env = {**os.environ, "NAGA_HOME": str(disk / "store")}
    code = "import sys\nfor i in range(50_000): print(f'line {i:06d} ' + 'x' * 80)"
    done = naga("run", "--name", "full", sys.executable, "-c", code, env=env)
    assert done.returncode == 0  # the command itself was fine: its exit code stands
    assert len(done.stdout) == 50_000 * 93  # and its output reached the user in full
    err = done.stderr.decode()
    assert "naga: warning: output log stopped: No space left on device" in err
    assert "Traceback" not in err
    listed = naga("ls", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert run["status"] == "completed"
    assert run["output"]["error"] == "output log stopped: No space left on device"
    log = (disk / "store" / "runs" / run["id"] / "output.log").read_bytes()
    assert len(log) > 1_000_000 and done.stdout.startswith(log)  # a prefix, nothing garbled
    _fill(disk / "filler")
    # No room left for a new record: the command runs all the same, and naga says so first.
    unrecorded = naga("run", "sh", "-c", "echo ran; exit 3", env=env)
    assert unrecorded.returncode == 3 and unrecorded.stdout == b"ran\n"
    err = unrecorded.stderr.decode()
    assert err.count("this run is NOT being recorded") == 1, err
    assert "No space left on device" in err and "Traceback" not in err


def test_python_script_with_shebang_is_recognised(naga: Naga, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(f"#!/usr/bin/env {Path(sys.executable).name}\nprint('ok')\n")
    script.chmod(0o755)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    assert naga("run", "./train.py", env=env).stdout == b"ok\n"
    run = only_run(naga)
    assert run["python"]["executable"] == str(
        Path(sys.executable).parent / Path(sys.executable).name
    )
    assert run["python"]["version"] == sys.version.split()[0]
    assert isinstance(run["child_pid"], int) and run["child_pid"] != run["pid"]


def test_undecodable_arguments_and_names(naga: Naga, store: Path) -> None:
    bad = os.fsdecode(b"caf\xe9")  # not UTF-8: kept exactly, shown as U+FFFD
    done = naga("run", "--name", bad, "printf", "%s\\n", bad)
    assert done.stdout == b"caf\xe9\n"
    listed = naga("ls")
    assert listed.returncode == 0 and "caf\ufffd" in listed.stdout.decode()
    shown = naga("show", "--json")
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["argv"][-1] == bad  # the record round-trips the bytes
    assert naga("show").returncode == 0
    assert naga("logs").stdout == b"caf\xe9\n"


def test_parent_ignoring_sigchld(naga: Naga, git_repo: Path) -> None:
    def ignore_sigchld() -> None:
        import signal

        signal.signal(signal.SIGCHLD, signal.SIG_IGN)

    done = subprocess.run(
        naga_cmd("run", sys.executable, "-c", "print('hi')"),
        cwd=git_repo,
        capture_output=True,
        preexec_fn=ignore_sigchld,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    run = only_run(naga)
    assert run["status"] == "completed"
    assert run["git"]["commit"]  # naga still read its git helpers' answers


def test_slow_reader_gets_every_byte(naga: Naga, tmp_path: Path, store: Path) -> None:
    size = 900_000
    code = f"import sys; sys.stdout.write('x' * {size}); sys.stdout.flush()"
    reader = (
        "import sys, time\n"
        "n = 0\n"
        "while chunk := sys.stdin.buffer.read(65536):\n"
        "    n += len(chunk); time.sleep(0.5)\n"
        "print(n)"
    )
    pipeline = f"{shlex.join(naga_cmd('run', sys.executable, '-c', code))} | "
    pipeline += shlex.join([sys.executable, "-c", reader])
    done = subprocess.run(["bash", "-c", pipeline], cwd=tmp_path, capture_output=True, timeout=120)
    assert done.stdout.decode().strip() == str(size)  # the reader took > 5 s: nothing was cut
    run = only_run(naga)
    assert run["output"]["bytes"] == size
    assert (store / "runs" / run["id"] / "output.log").stat().st_size == size


def test_no_room_even_for_the_run_directory_still_runs_the_command(
    naga: Naga, tiny_disk: TinyDisk
) -> None:
    """A disk out of inodes: not even the run's directory can be made. The command runs, its
    exit code stands, and naga says once, first, that nothing is recorded."""
    disk = tiny_disk("2m,nr_inodes=200")
    env = {**os.environ, "NAGA_HOME": str(disk / "store")}
    assert naga("run", "true", env=env).returncode == 0  # the store exists
    filler = disk / "filler"
    filler.mkdir()
    for i in range(1000):
        try:
            (filler / str(i)).touch()
        except OSError:
            break
    else:
        raise AssertionError("the tmpfs never ran out of inodes")
    done = naga("run", "sh", "-c", "echo ran; exit 3", env=env)
    assert done.returncode == 3 and done.stdout == b"ran\n"
    err = done.stderr.decode()
    assert err.count("this run is NOT being recorded") == 1, err
    assert "Traceback" not in err
