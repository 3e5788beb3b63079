"""``naga.mlflow_lock`` and ``naga export mlflow`` against a real MLflow tracking server
(``mlflow server`` on SQLite, started here), read back with ``MlflowClient``; and against a
plain ``sqlite:`` tracking URI with no server."""

from __future__ import annotations

import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from conftest import HOSTILE, Naga, git, naga_cmd
from mlflow import MlflowClient
from mlflow_server import MlflowServer, mlflow_server

import naga
from naga.integrations.mlflow_metrics import missing_points, sent_prefix
from naga.sdk.series import Points


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as started:
        yield started


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> str:
    """An experiment name of this test's own, so tests sharing the server never meet."""
    return f"{request.node.name}-{time.time_ns()}"


def export(naga_cli: Naga, uri: str, experiment: str, *args: str, **kw: Any) -> Any:
    return naga_cli(
        "export", "mlflow", *args, "--tracking-uri", uri, "--experiment", experiment, **kw
    )


def runs_by_naga_id(client: MlflowClient, experiment: str) -> dict[str, list[Any]]:
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    runs: dict[str, list[Any]] = {}
    for run in client.search_runs([found.experiment_id], max_results=1000):
        runs.setdefault(run.data.tags.get("naga.id", "-"), []).append(run)
    return runs


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, int, float]]:
    points = client.get_metric_history(run_id, key)
    return sorted((m.step, m.timestamp, m.value) for m in points)


def naga_points(run_id: str, key: str) -> list[tuple[int, int, float]]:
    series = naga.load(run_id).metrics(key)
    return sorted(
        (int(s), int(t * 1000), float(v))
        for s, t, v in zip(series.step, series.time, series.value, strict=True)
    )


# -- naga.mlflow_lock -------------------------------------------------------------------------


def test_mlflow_lock_supersedes_the_stage_s_previous_run(
    server: MlflowServer, experiment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    mlflow.set_experiment(experiment)
    stage = tmp_path / HOSTILE / "stage"  # quotes in the path: the logical run id
    naga.runlock({"save_dir": str(stage), "model": {"lr": 0.1, "layers": [1, 2]}})
    (stage / "experiment.log").write_text("epoch 1\n")
    client = MlflowClient(server.uri)

    with naga.mlflow_lock(stage) as first:
        assert mlflow.active_run().info.run_id == first.info.run_id
        mlflow.log_metric("loss", 0.5)
    one = client.get_run(first.info.run_id)
    assert one.info.status == "FINISHED"
    assert one.data.tags["naga.logical_run_id"] == str(stage)
    assert one.data.tags["naga.run_status"] == "active"
    assert one.data.params == {"save_dir": str(stage), "model.lr": "0.1", "model.layers": "[1, 2]"}
    assert {f.path for f in client.list_artifacts(first.info.run_id)} == {
        "run.lock",
        "experiment.log",
    }
    assert "naga.id" not in one.data.tags  # no naga run was active

    with pytest.raises(ValueError, match="diverged"), naga.mlflow_lock(stage) as second:
        raise ValueError("loss diverged")
    two = client.get_run(second.info.run_id)
    assert two.info.status == "FAILED"
    assert two.data.tags["naga.error"] == "ValueError: loss diverged"
    old = client.get_run(first.info.run_id).data.tags
    assert old["naga.run_status"] == "deprecated"
    assert old["naga.superseded_by_run_id"] == second.info.run_id
    assert mlflow.active_run() is None

    with naga.run(name="third") as naga_run, naga.mlflow_lock(str(stage)) as third:
        pass
    assert client.get_run(third.info.run_id).data.tags["naga.id"] == naga_run.id
    assert client.get_run(second.info.run_id).data.tags["naga.superseded_by_run_id"] == (
        third.info.run_id
    )
    exp_id = one.info.experiment_id
    active = client.search_runs([exp_id], "tags.`naga.run_status` = 'active'")
    assert [r.info.run_id for r in active] == [third.info.run_id]


def test_mlflow_lock_without_a_lock_or_log_and_on_ctrl_c(
    server: MlflowServer, experiment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    mlflow.set_experiment(experiment)
    with pytest.raises(KeyboardInterrupt), naga.mlflow_lock(tmp_path / "empty") as run:
        raise KeyboardInterrupt
    done = MlflowClient(server.uri).get_run(run.info.run_id)
    assert done.info.status == "KILLED" and done.data.params == {}
    assert MlflowClient(server.uri).list_artifacts(run.info.run_id) == []


def test_mlflow_lock_a_lock_broken_in_the_block(
    server: MlflowServer,
    experiment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The block's own exception wins over a run.lock it broke (one warning line); with no
    exception, the broken lock is the error. The MLflow run is ended either way."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    mlflow.set_experiment(experiment)
    client = MlflowClient(server.uri)
    with pytest.raises(ValueError, match="bad step"), naga.mlflow_lock(tmp_path) as run:
        (tmp_path / "run.lock").write_text("{not yaml")
        raise ValueError("bad step")
    assert "not a valid run.lock" in caplog.text
    assert client.get_run(run.info.run_id).info.status == "FAILED"
    naga.runlock({"save_dir": str(tmp_path), "lr": 0.1})
    broken = pytest.raises(naga.LockError, match=r"not a valid run\.lock")
    with broken, naga.mlflow_lock(tmp_path) as second:
        (tmp_path / "run.lock").write_text("{not yaml")
    assert client.get_run(second.info.run_id).info.status == "FINISHED"
    assert mlflow.active_run() is None


def test_mlflow_lock_failing_as_it_begins_still_supersedes(
    server: MlflowServer, experiment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run.lock that cannot be read at enter: the attempt ends FAILED with its error and the
    stage's previous run is superseded, so the stage keeps exactly one active run."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    mlflow.set_experiment(experiment)
    client = MlflowClient(server.uri)
    with naga.mlflow_lock(tmp_path) as first:
        pass
    (tmp_path / "run.lock").write_text("config: {lr: 0.1}\n")  # not a naga lock
    with pytest.raises(naga.LockError), naga.mlflow_lock(tmp_path):
        raise AssertionError("the block never runs")
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    second = [
        r for r in client.search_runs([found.experiment_id]) if r.info.run_id != first.info.run_id
    ]
    (failed,) = second
    assert failed.info.status == "FAILED"
    assert "LockError" in failed.data.tags["naga.error"]
    old = client.get_run(first.info.run_id).data.tags
    assert old["naga.run_status"] == "deprecated"
    assert old["naga.superseded_by_run_id"] == failed.info.run_id
    assert mlflow.active_run() is None


def test_mlflow_lock_gives_up_quickly_on_a_server_that_is_down(tmp_path: Path) -> None:
    """MLflow alone retries for about 4 minutes and raises; the block runs without it (the
    run is None), its exit tries for a few seconds, one warning is logged, and the process's
    own retry settings are left as they were."""
    code = (
        "import os, time, naga\n"
        "start = time.monotonic()\n"
        "with naga.mlflow_lock('stage') as run:\n"
        "    print('run', run)\n"
        "print('retries', os.environ.get('MLFLOW_HTTP_REQUEST_MAX_RETRIES'))\n"
        "print('seconds', time.monotonic() - start)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:9"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, second, third = done.stdout.splitlines()
    assert (first, second) == ("run None", "retries None")
    assert float(third.split()[1]) < 15
    assert done.stderr.splitlines() == [
        "naga.mlflow_lock: cannot reach the MLflow server at http://127.0.0.1:9; the training"
        " goes on (MLflow misses this attempt)"
    ]


# -- naga export mlflow -----------------------------------------------------------------------

TRAIN = """
import naga
naga.log_params({"model": {"lr": 0.01, "name": "mlp"}})
for step in range(1500):
    naga.log({"loss": 1 / (step + 1), "train/acc": step / 1500}, step=step)
naga.log_text("weights", "model/final.txt")
print("trained")
"""


def test_export_sends_real_runs_once(
    server: MlflowServer, experiment: str, naga_cli: Naga, git_repo: Path
) -> None:
    (git_repo / "train.py").write_text(TRAIN)
    git(git_repo, "commit", "-qam", "train")
    wrapped = naga_cli(
        "run", "--name", "wrapped", "--tag", "sweep1", "--", sys.executable, "train.py",
        cwd=git_repo,
    )  # fmt: skip
    assert wrapped.returncode == 0, wrapped.stderr
    failed = naga_cli("run", "--name", "broken", "--", sys.executable, "-c", "raise SystemExit(3)")
    assert failed.returncode == 3
    with naga.run(name="sdk", params={"seed": 7, "opt": {"name": "adam"}}) as sdk:
        for step in range(10):
            sdk.log({"odd key!": step * 0.5, "nan": math.nan}, step=step * 10)
        sdk.log_text("kept", "notes/a file with 'quotes' ü.txt")
    ids = {r.name: r.id for r in naga.runs()}

    first = export(naga_cli, server.uri, experiment, "--all")
    assert first.returncode == 0, first.stderr
    assert first.stderr.decode().splitlines()[-1].endswith("3 new, 0 updated, 0 already up to date")
    client = MlflowClient(server.uri)
    runs = runs_by_naga_id(client, experiment)
    assert sorted(runs) == sorted(ids.values())
    (run,) = runs[ids["wrapped"]]
    tags, info = run.data.tags, run.info
    assert info.status == "FINISHED" and info.run_name == "wrapped"
    record = naga.load(ids["wrapped"])
    started, finished = (record.meta[k] for k in ("started_at", "finished_at"))
    assert (info.start_time, info.end_time) == (ms_of(started), ms_of(finished))
    assert tags["mlflow.source.git.commit"] == git(git_repo, "rev-parse", "HEAD")
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["naga.git.dirty"] == "false" and tags["naga.tags"] == "sweep1"
    assert tags["naga.command"].endswith("train.py") and tags["naga.status"] == "completed"
    assert run.data.params == {"model.lr": "0.01", "model.name": "mlp"}
    for key in ("loss", "train/acc"):
        assert history(client, info.run_id, key) == naga_points(record.id, key)
    files = {f.path for f in client.list_artifacts(info.run_id, "naga")}
    assert {"naga/output.log", "naga/meta.json"} <= files
    assert client.list_artifacts(info.run_id, "model")[0].path == "model/final.txt"
    local = client.download_artifacts(info.run_id, "naga/output.log", str(git_repo.parent))
    assert Path(local).read_text().strip() == "trained"

    (broken,) = runs[ids["broken"]]
    assert broken.info.status == "FAILED" and broken.data.tags["naga.exit_code"] == "3"
    (sdk_run,) = runs[ids["sdk"]]
    assert sdk_run.data.params == {"seed": "7", "opt.name": "adam"}
    odd = client.get_metric_history(sdk_run.info.run_id, "odd key_")  # "!" is not MLflow's
    assert [(m.step, m.value) for m in odd] == [(s * 10, s * 0.5) for s in range(10)]
    assert all(math.isnan(m.value) for m in client.get_metric_history(sdk_run.info.run_id, "nan"))
    (note,) = client.list_artifacts(sdk_run.info.run_id, "notes")
    assert note.path == "notes/a file with 'quotes' ü.txt" and note.file_size == 4

    again = export(naga_cli, server.uri, experiment, "--all")
    assert again.returncode == 0, again.stderr
    assert again.stdout.decode().count("up to date (") == 3
    after = runs_by_naga_id(client, experiment)
    assert {k: len(v) for k, v in after.items()} == {k: 1 for k in ids.values()}
    assert len(client.get_metric_history(info.run_id, "loss")) == 1500


def ms_of(iso: str) -> int:
    from naga.store.timefmt import parse_iso

    seconds = parse_iso(iso)
    assert seconds is not None
    return int(seconds * 1000)


def test_export_is_incremental_for_a_run_still_running(
    server: MlflowServer, experiment: str, naga_cli: Naga
) -> None:
    live = naga.run(name="live", params={"lr": 0.1}, sys_interval=0).start()
    for step in range(1200):
        live.log({"loss": 1 / (step + 1)}, step=step)
    for step in [*range(10), *range(5)]:  # steps that go back: the server's latest is ambiguous
        live.log({"replay": float(step)}, step=step)
    live.flush()
    first = export(naga_cli, server.uri, experiment, "live")
    assert first.returncode == 0, first.stderr
    assert "new: 1,215 points, 1 params" in first.stdout.decode()
    client = MlflowClient(server.uri)
    (run,) = runs_by_naga_id(client, experiment)[live.id]
    assert run.info.status == "RUNNING"

    for step in range(1200, 1500):
        live.log({"loss": 1 / (step + 1)}, step=step)
    for step in range(5, 8):
        live.log({"replay": float(step)}, step=step)
    live.log_params({"lr": 0.2})  # MLflow's params cannot change: kept, with a warning
    live.complete()
    second = export(naga_cli, server.uri, experiment, live.id[:4])
    assert second.returncode == 0, second.stderr
    assert second.stderr.decode().splitlines()[0] == (
        f"naga: warning: run {live.id}: param lr is '0.2' in naga but '0.1' in MLflow, where"
        " params never change: kept MLflow's"
    )
    assert f"{live.id}  {run.info.run_id}  updated: 303 points" in second.stdout.decode()
    finished = client.get_run(run.info.run_id)
    assert finished.info.status == "FINISHED"
    for key in ("loss", "replay"):  # MLflow keeps one of identical points (replay's 0-4)
        assert history(client, run.info.run_id, key) == sorted(set(naga_points(live.id, key)))
    third = export(naga_cli, server.uri, experiment, "--status", "completed")
    assert "up to date (FINISHED)" in third.stdout.decode()
    assert len(runs_by_naga_id(client, experiment)[live.id]) == 1


def test_export_fills_the_mlflow_run_of_mlflow_lock(
    server: MlflowServer,
    experiment: str,
    naga_cli: Naga,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under a naga run, mlflow_lock's MLflow run gets naga's metrics when the block ends, and
    is the one export fills later: no second run, no point twice."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    mlflow.set_experiment(experiment)
    with naga.run(name="stage") as run:
        with naga.mlflow_lock(tmp_path / "out") as mlflow_run:
            for step in range(20):
                run.log({"loss": 1 / (step + 1)}, step=step)
        run.log({"late": 1.0})  # after the block: only the export sends it
    client = MlflowClient(server.uri)
    assert len(client.get_metric_history(mlflow_run.info.run_id, "loss")) == 20
    done = export(naga_cli, server.uri, experiment, run.id)
    assert done.returncode == 0, done.stderr
    assert "updated: 1 points" in done.stdout.decode()
    (only,) = runs_by_naga_id(client, experiment)[run.id]
    assert only.info.run_id == mlflow_run.info.run_id
    assert only.data.metrics == {"loss": 1 / 20, "late": 1.0}
    assert len(client.get_metric_history(only.info.run_id, "loss")) == 20


def test_server_down_mid_export_then_resumed(server: MlflowServer, naga_cli: Naga) -> None:
    """The module's server goes down part-way through an export and comes back (same port,
    same database); a second export completes the run, sending each point once."""
    with naga.run(name="big", sys_interval=0) as run:
        for step in range(4000):
            run.log({f"m{k}": step * k for k in range(6)}, step=step)
    total = 24_000
    before = points_on(server)
    command = [*naga_cmd("export", "mlflow", run.id), "--tracking-uri", server.uri]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        while points_on(server) < before + 1000 and proc.poll() is None:
            time.sleep(0.05)
        server.stop()  # down with part of the run sent
        out, err = proc.communicate(timeout=60)
        server.start()
    assert proc.returncode == 1, out
    assert err.decode().splitlines() == [
        f"naga: error: cannot reach the MLflow server at {server.uri}: is it running? (check"
        " the URI; `naga export mlflow` resumes where it stopped when run again)"
    ]
    partial = points_on(server) - before
    assert 0 < partial < total
    resumed = naga_cli("export", "mlflow", run.id, "--tracking-uri", server.uri)
    assert resumed.returncode == 0, resumed.stderr
    assert f"updated: {total - partial:,} points" in resumed.stdout.decode()
    client = MlflowClient(server.uri)
    (mlflow_run,) = runs_by_naga_id(client, "Default")[run.id]
    assert mlflow_run.info.status == "FINISHED"
    for k in range(6):
        steps = [m.step for m in client.get_metric_history(mlflow_run.info.run_id, f"m{k}")]
        assert sorted(steps) == list(range(4000))


def test_progress_bar_on_a_terminal_only(
    server: MlflowServer, experiment: str, naga_cli: Naga
) -> None:
    """stderr a terminal (a real pty): a progress bar of runs and points; a pipe: none."""
    import pty

    with naga.run(name="shown", sys_interval=0) as run:
        for step in range(3000):
            run.log({"loss": float(step)}, step=step)
    master, slave = pty.openpty()
    command = [*naga_cmd("export", "mlflow", run.id), "--tracking-uri", server.uri]
    with subprocess.Popen(
        [*command, "--experiment", experiment], stdout=subprocess.PIPE, stderr=slave
    ) as proc:
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            seen += chunk
        out, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0
    assert b"points sent" in seen and b"1/1" in seen
    assert b"points sent" not in out  # stdout keeps its one line per run
    piped = export(naga_cli, server.uri, experiment, run.id)
    assert b"points sent" not in piped.stderr and b"up to date" in piped.stdout


def points_on(server: MlflowServer) -> int:
    if not server.db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{server.db}?mode=ro", uri=True, timeout=5) as db:
            (count,) = db.execute("SELECT count(*) FROM metrics").fetchone()
    except sqlite3.OperationalError:  # no table yet, or busy
        return 0
    assert isinstance(count, int)
    return count


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["zzzz", "--tracking-uri", "URI"], 1, "naga: error: no run matches 'zzzz'"),
        (["--tracking-uri", "URI"], 2, "naga: error: name the runs to export"),
        (["--all"], 2, "naga: error: say where MLflow is: --tracking-uri"),
        (
            ["--all", "--tracking-uri", "foo://u:pw@host"],
            1,
            "naga: error: MLflow cannot use the tracking URI foo://u:***@",
        ),
        (["--all", "--tracking-uri", "file:///nowhere"], 1, "naga: error: MLflow at file:///"),
        (["--all", "--tracking-uri", "http://127.0.0.1:9"], 1, "naga: error: cannot reach"),
        (["--all", "--tracking-uri", "postgresql://u:pw@127.0.0.1:9/x"], 1, "naga: error: cannot"),
        (["--status", "bogus", "--tracking-uri", "URI"], 2, "naga: error: "),
    ],
)
def test_bad_input_is_one_line(
    naga_cli: Naga, server: MlflowServer, args: list[str], code: int, message: str
) -> None:
    assert naga_cli("run", "true").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    args = [server.uri if a == "URI" else a for a in args]
    done = naga_cli("export", "mlflow", *args, env=env)
    assert done.returncode == code
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert "pw" not in lines[0]


def test_a_deleted_experiment_is_one_line(
    server: MlflowServer, experiment: str, naga_cli: Naga
) -> None:
    assert naga_cli("run", "true").returncode == 0
    client = MlflowClient(server.uri)
    client.delete_experiment(client.create_experiment(experiment))
    done = export(naga_cli, server.uri, experiment, "--all")
    assert done.returncode == 1
    assert done.stderr.decode() == (
        f"naga: error: the MLflow experiment {experiment!r} is deleted: restore it in MLflow or"
        " export to another one with --experiment NAME\n"
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # SQLAlchemy 2.1, inside MLflow
def test_plain_sqlite_tracking_uri(tmp_path: Path, naga_cli: Naga) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with naga.run(name="local", params={"lr": 0.5}) as run:
        run.log({"loss": 0.25}, step=3)
        with naga.run(name="child") as child:
            child.log({"x": 1.0})
    done = naga_cli(
        "export", "mlflow", child.id, run.id, "--tracking-uri", uri, "--experiment", "local"
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode().splitlines() == [  # none of MLflow's INFO lines
        "2 runs in MLflow experiment 'local': 2 new, 0 updated, 0 already up to date"
    ]
    client = MlflowClient(uri)
    runs = runs_by_naga_id(client, "local")
    (exported,), (exported_child,) = runs[run.id], runs[child.id]
    assert exported.data.params == {"lr": "0.5"} and exported.data.metrics == {"loss": 0.25}
    assert exported_child.data.tags["mlflow.parentRunId"] == exported.info.run_id


def test_without_the_extra_one_line_names_it(tmp_path: Path) -> None:
    """mlflow made unimportable in a real interpreter: naga's own code is not touched."""
    block = "import sys; sys.modules['mlflow'] = None\n"
    lock = subprocess.run(
        [sys.executable, "-c", block + "import naga\nwith naga.mlflow_lock('.'):\n    pass"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert lock.returncode == 1
    assert lock.stderr.splitlines()[-1] == (
        "naga.errors.MissingExtra: this needs mlflow, which is not installed:"
        " pip install 'naga-runs[mlflow]'"
    )
    cli = block + "from naga.cli import main\nsys.argv = ['naga', *sys.argv[1:]]\nmain()"
    done = subprocess.run(
        [sys.executable, "-c", cli, "export", "mlflow", "--all", "--tracking-uri", "http://x"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (
        1,
        "naga: error: this needs mlflow, which is not installed: pip install 'naga-runs[mlflow]'\n",
    )


def series(*points: tuple[int, float]) -> Points:
    made = Points()
    for step, time_s in points:
        made.steps.append(step)
        made.times.append(time_s)
        made.values.append(0.0)
    return made


def test_where_the_server_s_prefix_ends() -> None:
    s = series((0, 1.0), (1, 2.0), (2, 3.0), (3, 4.0))
    assert sent_prefix(s, 1, 2000) == 2
    assert sent_prefix(s, 3, 4000) == 4
    assert sent_prefix(s, 7, 9000) is None  # not in the series: read the history
    again = series((0, 1.0), (1, 2.0), (0, 3.0), (1, 2.0))  # (1, 2.0) twice: ambiguous
    assert sent_prefix(again, 1, 2000) is None
    back = series((5, 1.0), (1, 2.0))  # the point after the latest is not later
    assert sent_prefix(back, 5, 1000) is None

    class Point:
        def __init__(self, step: int, timestamp: int) -> None:
            self.step, self.timestamp = step, timestamp

        value = 0.0

    assert missing_points(again, [Point(0, 1000), Point(1, 2000)]) == [2]


# -- the README's workflow and docs/mlflow.md -------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)\n```", text, flags=re.S)


def venv_env(**extra: str) -> dict[str, str]:
    """This interpreter's python and naga first on PATH; no MLflow settings from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


@pytest.mark.timeout(400)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # SQLAlchemy 2.1, inside MLflow
def test_the_workflow_as_the_readme_runs_it(tmp_path: Path) -> None:
    section = (ROOT / "README.md").read_text().split("## MLflow: ", 1)[1].split("\n## ", 1)[0]
    (commands,) = [b for b in sh_blocks(section) if "examples/workflow" in b]
    shutil.copytree(ROOT / "examples" / "workflow", tmp_path / "examples" / "workflow")
    done = subprocess.run(
        ["bash", "-ec", commands], cwd=tmp_path, env=venv_env(), capture_output=True, text=True,
        timeout=380,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    work = tmp_path / "examples" / "workflow"
    tree = done.stdout.splitlines()
    assert tree[0].startswith(f"{work}/runs/finetune  completed")
    assert tree[1].startswith(f"└── {work}/runs/pretrain  [init]  completed")

    client = MlflowClient(f"sqlite:///{work}/mlflow.db")
    runs = {r.data.tags["naga.logical_run_id"]: r for r in client.search_runs(["0"])}
    stages = {name: str(work / "runs" / name) for name in ("fit", "pretrain", "finetune")}
    assert sorted(runs) == sorted(stages.values())
    naga_ids = {r.name: r.id for r in naga.runs()}  # NAGA_HOME: this test's store
    assert len(naga_ids) == 1 and len(naga.runs()) == 3  # three runs named "train"
    for name, path in stages.items():
        run = runs[path]
        assert run.info.status == "FINISHED" and run.data.tags["naga.run_status"] == "active"
        assert run.data.params["save_dir"] == f"runs/{name}"
        loss = client.get_metric_history(run.info.run_id, "loss")
        assert [m.step for m in loss] == list(range(10))
        assert naga.load(run.data.tags["naga.id"]).params["name"] == name
    finetune = runs[stages["finetune"]]
    assert finetune.data.params["init"] == "runs/pretrain"
    lock_file = client.download_artifacts(finetune.info.run_id, "run.lock", str(tmp_path))
    lock = yaml.safe_load(Path(lock_file).read_text())
    assert lock["prevs"]["init"]["path"] == stages["pretrain"]
    assert {k: v["status"] for k, v in lock["data"].items()} == {"data": "done", "model": "done"}
    log_file = client.download_artifacts(finetune.info.run_id, "experiment.log", str(tmp_path))
    assert "w=" in Path(log_file).read_text()


@pytest.mark.timeout(300)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_docs_examples_run(tmp_path: Path, naga_cli: Naga) -> None:
    doc = (ROOT / "docs" / "mlflow.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    assert len(blocks) == 3
    done = subprocess.run(
        [sys.executable, "-c", "\n".join(blocks)], cwd=tmp_path, env=venv_env(),
        capture_output=True, text=True, timeout=200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = re.findall(r"```text\n(.*?)```", doc, flags=re.S)
    assert done.stdout.splitlines()[-4:] == [
        *shown[0].splitlines(),
        "None completed",
        "True 100 False",
    ]
    ours = [line for line in done.stderr.splitlines() if "naga" in line]
    assert ours == shown[1].splitlines()[:1]  # one warning (MLflow logs its own INFO lines)
    exports = [line.split("  #")[0] for line in sh_blocks(doc)[0].splitlines()[:2]]
    for line in exports:
        ran = subprocess.run(
            line, shell=True, cwd=tmp_path, env=venv_env(), capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    default = client.search_runs(["0"], "tags.`naga.id` LIKE '%'")
    assert sorted(r.info.run_name for r in default) == ["offline", "to-mlflow"]
    (offline,) = [r for r in default if r.info.run_name == "offline"]  # caught up by the export
    assert offline.info.status == "FINISHED" and offline.data.metrics == {"loss": 1 / 3}
