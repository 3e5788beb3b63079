"""How ``naga export mlflow`` sends points: JSON straight to a real ``mlflow server``, a bulk
insert into a ``sqlite:`` tracking store, several runs at once. Each fast path must leave
MLflow holding exactly what MLflow's own ``log_batch`` leaves: the same history of every
metric and the same latest values (``run.data.metrics``), NaN and infinities included."""

from __future__ import annotations

import math
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, naga_cmd
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow_server import MlflowServer, mlflow_server
from postgres_server import postgres_server

import naga
from naga.integrations.mlflow_export import Exporter
from naga.integrations.mlflow_transport import ClientSink, RestSink, SqlSink

# SQLAlchemy 2.1's deprecations, raised inside MLflow's own store
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow puts a database store's artifacts under ./mlruns: here, not in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server"), workers=2) as started:
        yield started


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A real PostgreSQL server's URI, as a tracking store (MLflow creates its tables)."""
    with postgres_server() as uri:
        yield uri


def record_awkward_run() -> Any:
    """A run whose series test every rule of MLflow's storage: NaN, infinities, steps that go
    back, the same point logged twice, several keys, more points than one chunk."""
    with naga.run(name="awkward", sys_interval=0) as run:
        for step in range(2500):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 2500}, step=step)
        for step, value in enumerate([math.nan, math.inf, -math.inf, 2.0, math.nan]):
            run.log({"odd": value}, step=step)
        for step in [*range(8), *range(4)]:
            run.log({"replay": float(step % 3)}, step=step)
        run.log({"late": 5.0}, step=100)
        run.log({"late": 7.0}, step=3)  # not the latest: an earlier step
    return naga.load(run.id)


def exported_state(exporter: Exporter, naga_id: str) -> dict[str, Any]:
    """What MLflow holds for one naga run: each metric's history and latest value."""
    run = exporter.client.get_run(exporter.known[naga_id].info.run_id)
    histories = {
        key: sorted(
            (m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value)
            for m in exporter.client.get_metric_history(run.info.run_id, key)
        )
        for key in run.data.metrics
    }
    latest = {k: "nan" if math.isnan(v) else v for k, v in run.data.metrics.items()}
    return {"histories": histories, "latest": latest}


def export_with(exporter: Exporter, record: Any) -> dict[str, Any]:
    ((_, result),) = list(exporter.export_many([record]))
    assert result.created
    return exported_state(exporter, record.id)


def test_each_store_gets_its_fastest_path(
    server: MlflowServer, postgres: str, tmp_path: Path
) -> None:
    assert isinstance(Exporter(server.uri).sink, RestSink)
    assert isinstance(Exporter(f"sqlite:///{tmp_path}/m.db").sink, SqlSink)
    assert isinstance(Exporter(postgres).sink, SqlSink)


def test_server_and_databases_hold_what_log_batch_leaves(
    server: MlflowServer, postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SqlSink, "chunk", 700)  # the latest values carried across chunks
    record = record_awkward_run()
    reference = Exporter(f"sqlite:///{tmp_path}/reference.db")
    reference.sink = ClientSink(reference.client)  # MLflow's own log_batch, 1000 a call
    expected = export_with(reference, record)
    assert expected["latest"] == {
        "loss": 1 / 2500, "acc": 2499 / 2500, "odd": "nan", "replay": 1.0, "late": 5.0,
    }  # fmt: skip
    assert len(expected["histories"]["replay"]) == 8  # MLflow keeps one of identical points

    rest = Exporter(server.uri, experiment=f"rest-{time.time_ns()}")
    sqlite = Exporter(f"sqlite:///{tmp_path}/bulk.db")
    postgresql = Exporter(postgres, experiment=f"bulk-{time.time_ns()}")
    assert isinstance(rest.sink, RestSink)
    assert isinstance(sqlite.sink, SqlSink) and isinstance(postgresql.sink, SqlSink)
    assert export_with(rest, record) == expected
    assert export_with(sqlite, record) == expected
    assert export_with(postgresql, record) == expected


def test_an_export_that_adds_to_a_run_keeps_the_latest_values_right(tmp_path: Path) -> None:
    """Points after a first export, some newer and some older than what MLflow has."""
    live = naga.run(name="growing", sys_interval=0).start()
    for step in range(50):
        live.log({"a": float(step), "b": -float(step)}, step=step)
    live.flush()
    sql = Exporter(f"sqlite:///{tmp_path}/m.db")
    list(sql.export_many([naga.load(live.id)]))
    live.log({"a": 1000.0}, step=500)  # newer: becomes the latest
    live.log({"b": 1000.0}, step=10)  # older: the latest stays step 49's
    live.complete()
    again = Exporter(f"sqlite:///{tmp_path}/m.db")
    ((_, result),) = list(again.export_many([naga.load(live.id)]))
    assert result.points == 2
    state = exported_state(again, live.id)
    assert state["latest"] == {"a": 1000.0, "b": -49.0}
    assert len(state["histories"]["a"]) == 51 and len(state["histories"]["b"]) == 51


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_point_the_database_already_holds_is_kept_once(
    database: str, postgres: str, tmp_path: Path
) -> None:
    """The bulk insert fails whole on it (a transaction PostgreSQL then refuses to go on
    with); the chunk goes again through log_batch, which skips it."""
    client = MlflowClient(postgres if database == "postgresql" else f"sqlite:///{tmp_path}/m.db")
    run_id = client.create_run(client.create_experiment(f"x-{time.time_ns()}")).info.run_id
    client.log_batch(run_id, metrics=[Metric("m", 1.0, 1000, 1)])
    sink = SqlSink(client._tracking_client.store, ClientSink(client))
    sink.send(run_id, [("m", 1.0, 1000, 1), ("m", 2.0, 2000, 2), ("m", 2.0, 2000, 2)])
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "m"))
    assert history == [(1, 1.0), (2, 2.0)]
    assert client.get_run(run_id).data.metrics == {"m": 2.0}


def record_runs(count: int, points: int, keys: int = 3) -> list[str]:
    ids = []
    for r in range(count):
        with naga.run(name=f"r{r}", sys_interval=0) as run:
            for step in range(points):
                run.log({f"k{k}": float(step * (k + 1)) for k in range(keys)}, step=step)
        ids.append(run.id)
    return ids


def assert_complete(uri: str, experiment: str, ids: list[str], points: int, keys: int) -> None:
    """Every run once, every series whole and without duplicates."""
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    runs = client.search_runs([found.experiment_id], max_results=1000)
    runs = [run for run in runs if run.data.tags["naga.id"] in ids]
    assert sorted(r.data.tags["naga.id"] for r in runs) == sorted(ids)
    for run in runs:
        assert run.info.status == "FINISHED"
        for k in range(keys):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, f"k{k}")]
            assert sorted(steps) == list(range(points))


def test_runs_go_several_at_a_time(server: MlflowServer, naga_cli: Naga) -> None:
    with naga.run(name="parent") as parent:
        parent.log({"k0": 1.0})
        with naga.run(name="child") as child:
            child.log({"k0": 2.0})
    ids = record_runs(3, 1500)
    experiment = f"jobs-{time.time_ns()}"
    done = naga_cli(
        "export", "mlflow", "--all", "--jobs", "3",
        "--tracking-uri", server.uri, "--experiment", experiment,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    order = [parent.id, child.id, *ids]  # oldest first, whatever finished first
    assert [line.split()[0] for line in lines] == order
    assert all("new: " in line for line in lines)
    client = MlflowClient(server.uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    by_id = {r.data.tags["naga.id"]: r for r in client.search_runs([found.experiment_id])}
    assert by_id[child.id].data.tags["mlflow.parentRunId"] == by_id[parent.id].info.run_id
    assert len(by_id) == 5
    assert_complete(server.uri, experiment, ids, 1500, 3)


def test_bad_jobs_is_one_line(naga_cli: Naga) -> None:
    done = naga_cli("export", "mlflow", "--all", "--jobs", "0", "--tracking-uri", "x")
    assert done.returncode == 2
    (line,) = done.stderr.decode().splitlines()
    assert line.startswith("naga: error: ") and "--jobs" in line


def wait_for_points(server: MlflowServer, at_least: int, proc: subprocess.Popen[bytes]) -> None:
    from test_mlflow import points_on

    while points_on(server) < at_least and proc.poll() is None:
        time.sleep(0.05)


def test_server_down_mid_parallel_export_then_resumed(tmp_path: Path, naga_cli: Naga) -> None:
    """The server goes down while two runs are being sent at once: one line, and the next
    export sends exactly what is missing (every series was left a prefix)."""
    ids = record_runs(4, 3000)
    experiment = "down"
    with mlflow_server(tmp_path / "srv", workers=2) as server:
        command = [
            *naga_cmd("export", "mlflow", "--all", "--jobs", "2"),
            "--tracking-uri", server.uri, "--experiment", experiment,
        ]  # fmt: skip
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            wait_for_points(server, 6000, proc)
            server.stop()
            out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out
        (line,) = err.decode().splitlines()
        assert line.startswith("naga: error: cannot reach the MLflow server at")
        server.start()
        resumed = naga_cli(
            "export", "mlflow", "--all", "--tracking-uri", server.uri, "--experiment", experiment
        )
        assert resumed.returncode == 0, resumed.stderr
        assert_complete(server.uri, experiment, ids, 3000, 3)


def test_ctrl_c_stops_every_run_and_the_next_export_resumes(tmp_path: Path, naga_cli: Naga) -> None:
    ids = record_runs(4, 3000)
    with mlflow_server(tmp_path / "srv", workers=2) as server:
        command = [
            *naga_cmd("export", "mlflow", "--all", "--jobs", "2"),
            "--tracking-uri", server.uri, "--experiment", "ctrl-c",
        ]  # fmt: skip
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            wait_for_points(server, 6000, proc)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, (out, err)
        assert err.decode().splitlines() == ["naga: export interrupted; run it again to resume"]
        resumed = naga_cli(
            "export", "mlflow", "--all", "--tracking-uri", server.uri, "--experiment", "ctrl-c"
        )
        assert resumed.returncode == 0, resumed.stderr
        assert_complete(server.uri, "ctrl-c", ids, 3000, 3)
