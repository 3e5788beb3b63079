"""The SDK across processes: under `naga run`, forked children, ranks, SIGKILL, the CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Naga, TinyDisk, runs_json

import naga
from naga.sdk import series


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs recorded in-process take the cwd's git state: not this repository's."""
    monkeypatch.chdir(tmp_path)


def script(tmp_path: Path, body: str, name: str = "train.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_attaches_to_the_wrapper_run(naga_cli: Naga, tmp_path: Path) -> None:
    train = script(
        tmp_path,
        """
        import os, naga
        with naga.run(params={"lr": 0.3}, name="ignored under the wrapper") as run:
            assert run.id == os.environ["NAGA_RUN_ID"]
            for i in range(5):
                run.log({"loss": 1 / (i + 1)})
            run.log_text("hi", "notes.txt")
        naga.log({"after": 1.0})  # still the wrapper's run, attached implicitly
        """,
    )
    done = naga_cli("run", "--name", "wrapped", sys.executable, str(train))
    assert done.returncode == 0, done.stderr
    (run,) = runs_json(naga_cli)
    assert run["name"] == "wrapped" and run["status"] == "completed"
    assert run["params"] == {"lr": 0.3}
    assert run["metrics"] == {"loss": 0.2, "after": 1.0}
    shown = naga_cli("show", run["id"]).stdout.decode()
    assert "lr = 0.3" in shown and "notes.txt (2 B)" in shown


def test_sdk_endings_refine_the_wrappers_verdict(naga_cli: Naga, tmp_path: Path) -> None:
    train = script(
        tmp_path,
        """
        import sys, naga
        with naga.run():
            naga.log({"x": 1})
            if sys.argv[1] == "fail":
                naga.fail("diverged")
            elif sys.argv[1] == "raise":
                raise RuntimeError("boom")
        """,
    )
    # Names that cannot also be an id prefix (ids never hold "u").
    assert naga_cli("run", "--name", "ufail", sys.executable, str(train), "fail").returncode == 0
    assert naga_cli("run", "--name", "uraise", sys.executable, str(train), "raise").returncode == 1
    by_name = {r["name"]: r for r in runs_json(naga_cli)}
    assert by_name["ufail"]["status"] == "failed" and by_name["ufail"]["error"] == "diverged"
    raised = by_name["uraise"]
    assert raised["status"] == "failed" and raised["error"] == "RuntimeError: boom"
    full = json.loads(naga_cli("show", "--json", "uraise").stdout)
    assert "raise RuntimeError" in full["traceback"]


def test_second_process_and_ranks_get_their_own_streams(naga_cli: Naga, tmp_path: Path) -> None:
    train = script(
        tmp_path,
        """
        import os, subprocess, sys, naga
        role = sys.argv[1]
        with naga.run() as run:
            run.log({"loss": {"main": 1.0, "helper": 2.0, "rank": 3.0}[role]})
            if role == "main":
                subprocess.run([sys.executable, __file__, "helper"], check=True)
                env = {**os.environ, "RANK": "1"}
                subprocess.run([sys.executable, __file__, "rank"], check=True, env=env)
        """,
    )
    assert naga_cli("run", sys.executable, str(train), "main").returncode == 0
    (run,) = runs_json(naga_cli)
    streams = naga.load(run["id"]).streams()
    assert streams[:1] == ["main"] and "rank1" in streams
    assert any(s.startswith("pid") for s in streams)
    assert run["metrics"] == {"loss": 1.0}  # the run's own numbers are its main process's
    rank = naga_cli("metrics", run["id"], "--stream", "rank1", "--json")
    assert json.loads(rank.stdout)["metrics"]["loss"]["value"] == [3.0]


def test_forked_children_log_into_their_own_streams(tmp_path: Path) -> None:
    train = script(
        tmp_path,
        """
        import multiprocessing as mp, os, naga

        def nap(ready):
            ready.set()
            __import__("time").sleep(30)

        def worker(k):
            for i in range(100):
                naga.log({"worker_loss": float(k)}, step=i)  # no flush: the exit writes it

        with naga.run() as run:
            for i in range(1000):
                run.log({"loss": float(i)}, step=i)  # unwritten when the children fork
            ctx = mp.get_context("fork")
            procs = [ctx.Process(target=worker, args=(k,)) for k in range(2)]
            for p in procs:
                p.start()
            pid = os.fork()
            if pid == 0:
                run.log({"forked": 1.0})
                run.flush()
                os._exit(0)
            os.waitpid(pid, 0)
            ready = ctx.Event()
            sleeper = ctx.Process(target=nap, args=(ready,))
            sleeper.start()
            assert ready.wait(30)
            sleeper.terminate()
            sleeper.join()
            assert sleeper.exitcode == -15, sleeper.exitcode  # naga's SIGTERM handler is not its
            for p in procs:
                p.join()
                assert p.exitcode == 0
            print(run.id)
        """,
    )
    done = subprocess.run([sys.executable, str(train)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    record = naga.load(done.stdout.strip())
    main = record.metrics("loss")
    assert list(main.value) == [float(i) for i in range(1000)]  # written once, by the parent
    children = [s for s in record.streams() if s.startswith("pid")]
    assert len(children) == 3
    values = sorted(
        tuple(record.metrics(k, stream=s).value[:1])
        for s in children
        for k in record.metric_keys(s)
    )
    assert values == [(0.0,), (1.0,), (1.0,)]
    assert all(
        len(record.metrics("worker_loss", stream=s)) == 100
        for s in children
        if "worker_loss" in record.metric_keys(s)
    )
    assert record.status == "completed"


def test_sigkill_keeps_what_was_logged_a_second_before(naga_cli: Naga, tmp_path: Path) -> None:
    train = script(
        tmp_path,
        """
        import sys, time, naga
        with naga.run(name="doomed") as run:
            print(run.id, flush=True)
            i = 0
            while True:
                run.log({"loss": float(i)}, step=i)
                i += 1
                if i % 5000 == 0:
                    print(i, time.time(), flush=True)
                    # a real step computes, releasing the GIL now and then; a loop that never
                    # does can outpace the writer thread on a loaded machine
                    time.sleep(0)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, str(train)], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    progress: list[tuple[int, float]] = []
    started = time.time()
    while time.time() - started < 3:
        count, at = proc.stdout.readline().split()
        progress.append((int(count), float(at)))
    proc.send_signal(signal.SIGKILL)
    killed_at = time.time()
    proc.wait(10)
    proc.stdout.close()
    durable = [c for c, at in progress if at < killed_at - 1.5]
    points = naga.load(run_id).metrics("loss")
    assert durable and len(points) >= durable[-1]
    assert np.array_equal(points.value, np.arange(len(points), dtype=float))  # no torn chunk
    run = json.loads(naga_cli("show", "--json", run_id).stdout)
    assert run["status"] == "crashed"
    # The summary is written after each tick's chunks: it may be one tick behind the series.
    assert durable[-1] - 1 <= run["metrics"]["loss"] <= len(points) - 1


def test_system_metrics_under_naga_run_and_in_the_sdk(naga_cli: Naga, tmp_path: Path) -> None:
    busy = "import time\nt = time.time()\nwhile time.time() - t < 1.5: pass"
    done = naga_cli("run", "--name", "busy", "--sys-interval", "0.3", sys.executable, "-c", busy)
    assert done.returncode == 0, done.stderr
    run = json.loads(naga_cli("show", "--json", "busy").stdout)
    stats = run["metric_stats"]
    assert stats["sys/cpu_percent"]["max"] > 20 and stats["sys/rss_mib"]["max"] > 1
    assert stats["sys/cpu_percent"]["count"] >= 2
    off = naga_cli(
        "run",
        "--name",
        "quiet",
        sys.executable,
        "-c",
        busy,
        env={**os.environ, "NAGA_SYS_INTERVAL": "0"},
    )
    assert off.returncode == 0
    assert (
        "sys/cpu_percent" not in json.loads(naga_cli("show", "--json", "quiet").stdout)["metrics"]
    )
    bad = naga_cli("run", "true", env={**os.environ, "NAGA_SYS_INTERVAL": "soon"})
    assert bad.returncode == 2
    assert bad.stderr.decode().strip() == (
        "naga: error: NAGA_SYS_INTERVAL='soon' is not a number of seconds (0 turns sampling off)"
    )
    assert naga_cli("run", "--sys-interval", "-1", "true").returncode == 2
    with naga.run(sys_interval=0.2) as sdk_run:
        t = time.time()
        while time.time() - t < 0.7:
            pass
    sampled = naga.load(sdk_run.id).metrics("sys/cpu_percent")
    assert len(sampled) >= 1 and sampled.value.max() > 10  # a busy GIL delays the sampler


def test_metrics_compare_and_plot_commands(naga_cli: Naga, tmp_path: Path) -> None:
    ids = []
    for lr in (0.1, 0.01):
        with naga.run(name=f"lr{lr}", params={"lr": lr, "opt": "sgd"}) as run:
            for i in range(4):
                run.log({"loss": lr * (4 - i), "acc": i / 4}, step=i * 10)
        ids.append(run.id)
    summary = naga_cli("metrics", ids[0]).stdout.decode().splitlines()
    assert summary[0].split() == ["METRIC", "LAST", "MIN", "MAX", "STEP", "POINTS"]
    assert summary[2].split() == ["loss", "0.1", "0.1", "0.4", "30", "4"]
    csv = naga_cli("metrics", ids[0], "--key", "loss", "--csv").stdout.decode().splitlines()
    assert csv[0] == "key,step,time,value" and csv[1].startswith("loss,0,")
    assert csv[1].endswith(",0.4") and len(csv) == 5
    as_json = json.loads(naga_cli("metrics", ids[1], "--json").stdout)
    assert as_json["metrics"]["loss"]["step"] == [0, 10, 20, 30]
    assert naga_cli("metrics", ids[0], "--key", "nope").returncode == 1

    table = naga_cli("compare", *ids).stdout.decode()
    assert "param.lr" in table and "2 of 6 rows differ" in table
    diff = json.loads(naga_cli("compare", *ids, "--json", "--diff").stdout)
    assert diff["differ"] == ["param.lr", "metric.loss"]
    assert diff["rows"]["param.lr"] == [0.1, 0.01]
    assert naga_cli("compare", ids[0]).returncode == 2

    out = tmp_path / "loss.png"
    done = naga_cli("plot", *ids, "--metric", "loss", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert (
        naga_cli("plot", ids[0], "--metric", "loss", "--x", "time", "-o", str(out)).returncode == 0
    )
    missing = naga_cli("plot", ids[0], "--metric", "nope")
    assert missing.returncode == 1 and missing.stderr.decode().count("\n") == 1
    for name, magic in (("loss.svg", b"<?xml"), ("loss.PDF", b"%PDF"), ("loss", b"\x89PNG")):
        # the name's suffix is the format: -o loss.svg was a PNG named .svg
        assert (
            naga_cli("plot", ids[0], "--metric", "loss", "-o", str(tmp_path / name)).returncode == 0
        )
        assert (tmp_path / name).read_bytes().startswith(magic), name
    other = naga_cli("plot", ids[0], "--metric", "loss", "-o", str(tmp_path / "loss.jpeg"))
    assert (other.returncode, other.stderr.decode()) == (
        2,
        f"naga: error: -o {tmp_path / 'loss.jpeg'}: naga plot writes .png, .svg or .pdf files,"
        " not .jpeg\n",
    )

    listing = naga_cli("ls", "--columns", "lr,metric.acc", "--where", "lr<0.05").stdout.decode()
    lines = listing.splitlines()
    assert lines[0].split()[6:8] == ["LR", "METRIC.ACC"] and len(lines) == 2
    assert re.search(r"\s0\.01\s+0\.75\s", lines[1]), lines[1]
    for bad in ("lr<<0.1", "loss<adam", "=3"):
        done = naga_cli("ls", "--where", bad)
        assert done.returncode == 2, bad
        assert done.stderr.decode().startswith("naga: error: cannot read --where")


def test_series_files_are_per_key_and_chunked(tmp_path: Path) -> None:
    with naga.run() as run:
        run.log({"train/loss": 1.0})
    names = os.listdir(run.dir / "metrics" / "main")
    assert sorted(names) == ["state.json", "train%2Floss.bin"]
    points = series.read_points(str(run.dir / "metrics" / "main" / "train%2Floss.bin"))
    assert list(points.values) == [1.0]


def test_gpu_metrics_through_nvidia_smi(naga_cli: Naga, tmp_path: Path) -> None:
    """No GPU on this machine: a stand-in `nvidia-smi` answers the two queries naga makes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        '  *utilization.gpu*) printf "0, 37, 1024\\n1, [N/A], 2048\\n" ;;\n'
        '  *) printf "0, Stand-in GPU, 8192\\n" ;;\n'
        "esac\n"
    )
    smi.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    busy = "import time\nt = time.time()\nwhile time.time() - t < 1: pass"
    done = naga_cli(
        "run", "--name", "gpu", "--sys-interval", "0.2", sys.executable, "-c", busy, env=env
    )
    assert done.returncode == 0, done.stderr
    run = json.loads(naga_cli("show", "--json", "gpu").stdout)
    assert run["metrics"]["sys/gpu0_util_percent"] == 37
    assert run["metrics"]["sys/gpu0_mem_mib"] == 1024
    assert "sys/gpu1_util_percent" not in run["metrics"]  # "[N/A]" is no reading


def test_full_disk_while_logging_keeps_training_and_what_was_written(
    naga_cli: Naga, tmp_path: Path, tiny_disk: TinyDisk
) -> None:
    disk = tiny_disk("2m")
    train = script(
        tmp_path,
        """
        import naga
        with naga.run(name="filler") as run:
            for step in range(3000):
                run.log({f"m{k}": float(step) for k in range(100)}, step=step)
        print("training finished")
        """,
    )
    env = {**os.environ, "NAGA_HOME": str(disk / "store")}
    done = subprocess.run(
        [sys.executable, str(train)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "training finished\n"
    warnings = done.stderr.splitlines()
    assert len(warnings) == 1 and "No space left on device" in warnings[0]
    assert warnings[0].startswith("naga: warning: cannot write metric")
    run = json.loads(naga_cli("show", "--json", "filler", env=env).stdout)
    assert run["status"] == "completed" and "No space left" in run["metrics_error"]
    home = disk / "store" / "runs" / run["id"] / "metrics" / "main"
    for key in ("m0", "m99"):
        points = series.read_points(str(home / f"{key}.bin"))
        assert list(points.values) == [float(s) for s in range(len(points))]  # a clean prefix


def test_sigterm_ends_the_run_cancelled_with_everything_written(
    naga_cli: Naga, tmp_path: Path
) -> None:
    """Slurm's preemption and time limit send SIGTERM: the run ends cancelled, not crashed."""
    train = script(
        tmp_path,
        """
        import sys, time, naga
        with naga.run(name=sys.argv[1]) as run:
            for i in range(100):
                run.log({"loss": float(i)}, step=i)
            print("ready", flush=True)
            time.sleep(60)
        """,
    )
    for wrapped in (False, True):
        name = f"term{int(wrapped)}"
        argv = [sys.executable, str(train), name]
        if wrapped:
            argv = [sys.executable, "-m", "naga", "run", "--name", name, *argv]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 143, err
        assert "Traceback" not in err
        run = json.loads(naga_cli("show", "--json", name).stdout)
        assert run["status"] == "cancelled", run
        assert run["metric_stats"]["loss"]["count"] == 100
    assert json.loads(naga_cli("show", "--json", "term0").stdout)["error"] == (
        "terminated by SIGTERM"
    )


def test_ls_shows_metrics_of_a_run_while_it_logs(naga_cli: Naga, tmp_path: Path) -> None:
    train = script(
        tmp_path,
        """
        import sys, time, naga
        with naga.run(name="live") as run:
            for i in range(1, 10_000):
                run.log({"loss": float(i)}, step=i)
                if i in (1, 2):
                    print(i, flush=True)
                    sys.stdin.readline()  # the test looks, then lets it go on
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, str(train)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for expected in ("1", "2"):
            assert proc.stdout.readline().strip() == expected
            deadline = time.time() + 5
            while time.time() < deadline:  # the writer ticks twice a second
                row = naga_cli("ls", "--columns", "loss", "--json").stdout
                (run,) = json.loads(row)
                if run["metrics"].get("loss") == float(expected):
                    break
                time.sleep(0.1)
            assert run["status"] == "running" and run["metrics"]["loss"] == float(expected)
            proc.stdin.write("\n")
            proc.stdin.flush()
    finally:
        proc.stdin.close()
        proc.stdout.close()
        proc.wait(30)
    assert json.loads(naga_cli("show", "--json", "live").stdout)["metrics"]["loss"] == 9999.0


def test_plot_without_matplotlib_names_the_extra(naga_cli: Naga, tmp_path: Path) -> None:
    with naga.run(name="unplotted") as run:
        run.log({"loss": 1.0})
    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)  # stands for an environment where matplotlib is not installed
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    done = naga_cli("plot", "unplotted", "--metric", "loss", env=env)
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "naga: error: naga plot needs matplotlib: pip install 'naga-runs[plot]'\n"
    )
    bad_stream = naga_cli("metrics", "unplotted", "--stream", "rank7")
    assert bad_stream.returncode == 1
    assert "has no stream 'rank7'" in bad_stream.stderr.decode()


def test_a_run_started_without_with_is_completed_at_exit(tmp_path: Path) -> None:
    """A notebook's way: start(), log from anywhere, end by hand or at interpreter exit."""
    cell = script(
        tmp_path,
        """
        import sys, naga
        run = naga.run(name=sys.argv[1]).start()
        naga.log({"loss": 0.5})
        print(run.id)
        if sys.argv[1] == "ended":
            naga.complete()
        """,
    )
    for how in ("ended", "left-open"):
        done = subprocess.run(
            [sys.executable, str(cell), how], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and done.stderr == "", done.stderr
        record = naga.load(done.stdout.strip())
        assert record.status == "completed" and record.summary["loss"]["count"] == 1


def test_a_started_run_ends_the_way_the_program_did(tmp_path: Path) -> None:
    cell = script(
        tmp_path,
        """
        import os, signal, sys, naga
        run = naga.run(name=sys.argv[1]).start()
        naga.log({"loss": 0.5})
        print(run.id, flush=True)
        if sys.argv[1] == "crash":
            1 / 0
        if sys.argv[1] == "interrupt":
            raise KeyboardInterrupt
        if sys.argv[1] == "term":
            os.kill(os.getpid(), signal.SIGTERM)
        """,
    )
    expected = {
        "crash": ("failed", "ZeroDivisionError: division by zero", 1),
        "interrupt": ("cancelled", "interrupted (KeyboardInterrupt)", -2),  # re-raised SIGINT
        "term": ("cancelled", "terminated by SIGTERM", 143),
    }
    for how, (status, error, code) in expected.items():
        done = subprocess.run(
            [sys.executable, str(cell), how], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == code, done.stderr
        record = naga.load(done.stdout.split()[0])
        assert (record.status, record.meta["error"]) == (status, error)
        assert record.summary["loss"]["count"] == 1
    assert "1 / 0" in naga.load("crash").meta["traceback"]


def test_text_inequality_in_where(store: Path) -> None:
    for opt in ("adam", "sgd"):
        with naga.run(name=opt, params={"opt": opt}):
            pass
    assert [r.name for r in naga.runs(where="opt!=adam")] == ["sgd"]
    assert [r.name for r in naga.runs(where="opt='adam'")] == ["adam"]


def test_sequential_processes_under_one_naga_run_share_the_run(
    naga_cli: Naga, tmp_path: Path
) -> None:
    prep = script(
        tmp_path, "import naga\nnaga.log_params({'stage': 'prep'})\nnaga.log({'rows': 10})\n"
    )
    train = script(
        tmp_path,
        """
        import naga
        with naga.run(params={"lr": 0.1}):
            naga.log({"loss": 0.5})
            naga.fail("diverged")
        """,
        name="train2.py",
    )
    line = f"{sys.executable} {prep} && {sys.executable} {train}"
    assert naga_cli("run", "--name", "seq", "sh", "-c", line).returncode == 0
    run = json.loads(naga_cli("show", "--json", "seq").stdout)
    assert run["params"] == {"stage": "prep", "lr": 0.1}
    assert run["metrics"] == {"rows": 10.0, "loss": 0.5}
    assert (run["status"], run["error"]) == ("failed", "diverged")
    assert naga.load("seq").streams() == ["main"]


def test_workers_that_start_with_params_keep_their_points(tmp_path: Path) -> None:
    train = script(
        tmp_path,
        """
        import multiprocessing as mp, naga

        def worker(k):
            naga.log_params({"worker": k})
            for i in range(100):
                naga.log({"w": float(k)}, step=i)

        with naga.run() as run:
            ctx = mp.get_context("fork")
            procs = [ctx.Process(target=worker, args=(k,)) for k in range(2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            print(run.id)
        """,
    )
    done = subprocess.run([sys.executable, str(train)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    record = naga.load(done.stdout.strip())
    streams = [s for s in record.streams() if s.startswith("pid")]
    assert len(streams) == 2
    assert all(len(record.metrics("w", stream=s)) == 100 for s in streams)


def test_implicit_attach_in_a_pool_worker_never_takes_the_main_stream(
    naga_cli: Naga, tmp_path: Path
) -> None:
    train = script(
        tmp_path,
        """
        import multiprocessing as mp, naga

        def work(k):
            naga.log({"w": float(k)})
            return k

        with mp.get_context("fork").Pool(2) as pool:
            pool.map(work, range(4))  # the workers log before the main process does
        naga.log({"loss": 1.0})
        """,
    )
    assert naga_cli("run", "--name", "pool", sys.executable, str(train)).returncode == 0
    run = json.loads(naga_cli("show", "--json", "pool").stdout)
    assert run["metrics"] == {"loss": 1.0}


def test_with_pool_keeps_every_point_its_workers_logged(naga_cli: Naga, tmp_path: Path) -> None:
    """``with Pool(...)`` ends with ``terminate()``: its SIGTERM often reaches a worker already
    leaving, whose finalizer is writing its points. Raised there, it lost a worker's points in
    about one run in three; the worker now finishes writing first. Three runs, every point."""
    train = script(
        tmp_path,
        """
        import multiprocessing as mp, naga

        def work(k):
            for i in range(20000):
                naga.log({"v": float(i)})
            return k

        with mp.get_context("fork").Pool(2) as pool:
            pool.map(work, range(4))
        naga.log({"loss": 1.0})
        """,
    )
    for attempt in range(3):
        name = f"pool{attempt}"
        assert naga_cli("run", "--name", name, sys.executable, str(train)).returncode == 0
        run_id = json.loads(naga_cli("show", "--json", name).stdout)["id"]
        record = naga.load(run_id)
        workers = [s for s in record.streams() if s.startswith("pid")]
        logged = sum(len(history_points(record, s)) for s in workers)
        assert logged == 4 * 20000, (attempt, workers, logged)


def test_a_sigterm_the_main_thread_slept_through_still_ends_a_worker(
    naga_cli: Naga, tmp_path: Path
) -> None:
    """A stop signal that lands just before the main thread blocks (or on another thread)
    interrupts nothing, and Python runs its handler only when the main thread wakes: a pool
    worker waiting for its next task never did, and ``with Pool(...)`` hung in terminate().
    Here the signal lands on a thread of the worker's own while its main thread sleeps in a
    read nothing answers; naga's writer thread sends it again, and the worker ends at once,
    with its points."""
    train = script(
        tmp_path,
        """
        import multiprocessing as mp, os, signal, threading, time, naga

        def stray():
            main = threading.main_thread().native_id
            for _ in range(1000):  # until the main thread sleeps in its read (10 s at most)
                try:
                    with open(f"/proc/self/task/{main}/wchan") as f:
                        if "pipe" in f.read():
                            break
                except OSError:
                    pass
                time.sleep(0.01)
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

        def work():
            naga.log({"w": 1.0})  # attaches: naga's handler takes SIGTERM from here on
            threading.Thread(target=stray).start()
            r, _ = os.pipe()
            os.read(r, 1)  # nothing is ever written: only the signal can end this wait

        if __name__ == "__main__":
            worker = mp.get_context("spawn").Process(target=work)
            worker.start()
            worker.join(25)
            if worker.exitcode is None:  # it slept through the signal
                worker.kill()
                worker.join()
            print("worker", worker.exitcode)
            naga.log({"loss": 1.0})
        """,
    )
    done = naga_cli("run", "--name", "slept", sys.executable, str(train))
    assert done.returncode == 0, done.stderr
    assert b"worker 143" in done.stdout, done.stdout  # ended by the signal, not killed
    record = naga.load(json.loads(naga_cli("show", "--json", "slept").stdout)["id"])
    (worker,) = [s for s in record.streams() if s.startswith("pid")]
    assert len(record.metrics("w", stream=worker)) == 1


def history_points(record: Any, stream: str) -> Any:
    """The stream's points of ``v`` (none: a worker that wrote nothing)."""
    try:
        return record.metrics("v", stream=stream)
    except naga.NagaError:
        return []


def test_a_second_sigterm_while_finishing_still_records_the_end(
    naga_cli: Naga, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    slow_smi = bin_dir / "nvidia-smi"
    slow_smi.write_text("#!/bin/sh\nsleep 3\n")  # keeps the sampler, and so the finish, busy
    slow_smi.chmod(0o755)
    train = script(
        tmp_path,
        """
        import time, naga
        with naga.run(name="twice", sys_interval=0.2) as run:
            for i in range(100):
                run.log({"loss": float(i)}, step=i)
            time.sleep(0.5)
            print("ready", flush=True)
            time.sleep(60)
        """,
    )
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [sys.executable, str(train)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    run = json.loads(naga_cli("show", "--json", "twice").stdout)
    assert run["status"] == "cancelled" and run["metric_stats"]["loss"]["count"] == 100


def test_sigterm_to_the_script_under_naga_run_reads_cancelled(
    naga_cli: Naga, tmp_path: Path
) -> None:
    train = script(
        tmp_path,
        """
        import os, signal, naga
        with naga.run():
            naga.log({"loss": 1.0})
            os.kill(os.getpid(), signal.SIGTERM)  # what torchrun or `kill <pid>` would send
        """,
    )
    done = naga_cli("run", "--name", "killed", sys.executable, str(train))
    assert done.returncode == 143
    run = json.loads(naga_cli("show", "--json", "killed").stdout)
    assert (run["status"], run["error"]) == ("cancelled", "terminated by SIGTERM")


def test_bad_system_metric_settings_create_no_run(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAGA_SYS_INTERVAL", "soon")
    with pytest.raises(naga.NagaError, match="NAGA_SYS_INTERVAL"), naga.run(name="never"):
        pass
    monkeypatch.delenv("NAGA_SYS_INTERVAL")
    with pytest.raises(naga.NagaError, match=r"at least 0\.1"), naga.run(sys_interval=1e-9):
        pass
    assert not (store / "runs").exists() or not any((store / "runs").iterdir())


def test_reading_commands_give_one_line_errors(naga_cli: Naga) -> None:
    with naga.run(name="errs") as run:
        run.log({"loss": 1.0})
    for args, expected in (
        (("metrics", "errs", "--key", "nope"), "has no metric 'nope' (its metrics: loss)"),
        (("metrics", "nothere"), "no run matches 'nothere'"),
        (("ls", "--columns", "param."), "--columns 'param.' names no key"),
        (("compare", "errs", "nothere"), "no run matches 'nothere'"),
        (("plot", "errs", "--metric", "acc", "-o", "/nonexistent-dir/x.png"), "no metric 'acc'"),
    ):
        done = naga_cli(*args)
        err = done.stderr.decode()
        assert done.returncode in (1, 2), args
        assert err.count("\n") == 1 and err.startswith("naga: error: ") and expected in err, err
