"""``with naga.run()``: lifecycle, logging, params, artifacts, threads, in this process."""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path

import numpy as np
import pytest

import naga
from naga.sdk import series


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs recorded in-process take the cwd's git state: not this repository's."""
    monkeypatch.chdir(tmp_path)


def read_meta(store: Path, run_id: str) -> dict:
    return json.loads((store / "runs" / run_id / "meta.json").read_text())


def test_completed_run_records_params_metrics_and_summary(store: Path) -> None:
    with naga.run(name="base", params={"model": {"lr": 0.1, "layers": [2, 3]}}, tags=["t"]) as run:
        assert run.status == "running"
        for i in range(5):
            run.log({"loss": 1.0 / (i + 1), "acc": i / 10})
        run.log({"loss": 0.05}, step=100)
        run.log({"loss": 0.04})  # auto step continues from the last given one
        assert naga.get_params() == {"model.lr": 0.1, "model.layers": [2, 3]}
        assert naga.get_param("model.lr") == 0.1
        assert naga.get_param("model") == {"lr": 0.1, "layers": [2, 3]}
        assert naga.get_param("missing", 7) == 7
    assert run.status == "completed"
    record = naga.load(run.id)
    assert record.status == "completed" and record.name == "base" and record.tags == ["t"]
    assert record.params == {"model.lr": 0.1, "model.layers": [2, 3]}
    loss = record.metrics("loss")
    assert list(loss.step) == [0, 1, 2, 3, 4, 100, 101]
    assert loss.value.dtype == np.float64 and loss.value[-1] == 0.04
    assert np.all(np.diff(loss.time) >= 0) and loss.time[0] > 1.7e9
    stats = record.summary["loss"]
    assert stats == {"last": 0.04, "min": 0.04, "max": 1.0, "count": 7, "step": 101}
    meta = read_meta(store, run.id)
    assert meta["status"] == "completed" and meta["source"] == "sdk"
    assert meta["finished_at"] and meta["duration_s"] >= 0 and meta["resources"]["cpu_user_s"] >= 0


def test_exception_fails_the_run_saves_traceback_and_propagates(store: Path) -> None:
    with pytest.raises(ZeroDivisionError), naga.run() as run:
        run.log({"x": 1})
        _ = 1 / 0
    meta = read_meta(store, run.id)
    assert meta["status"] == "failed"
    assert meta["error"] == "ZeroDivisionError: division by zero"
    assert "Traceback" in meta["traceback"] and "1 / 0" in meta["traceback"]
    assert naga.load(run.id).summary["x"]["count"] == 1  # what was logged before stays


def test_keyboard_interrupt_cancels(store: Path) -> None:
    with pytest.raises(KeyboardInterrupt), naga.run() as run:
        raise KeyboardInterrupt
    assert read_meta(store, run.id)["status"] == "cancelled"


def test_manual_endings(store: Path) -> None:
    with naga.run() as run:
        naga.fail("diverged at step 3")
        assert run.status == "failed"
        with pytest.raises(naga.NoActiveRun, match="ended"):
            run.log({"loss": 1})
    assert read_meta(store, run.id)["status"] == "failed"
    assert read_meta(store, run.id)["error"] == "diverged at step 3"
    with naga.run() as run2:
        naga.cancel("not needed")
    assert read_meta(store, run2.id)["status"] == "cancelled"
    with naga.run() as run3:
        naga.complete()
        raise_later = run3.status
    assert raise_later == "completed" == read_meta(store, run3.id)["status"]


def test_decorator_gives_each_call_its_own_run(store: Path) -> None:
    @naga.run(params={"seed": 1})
    def train(n: int) -> str:
        naga.log({"n": n})
        return naga.active_run().id  # type: ignore[union-attr]

    first, second = train(1), train(2)
    assert first != second
    assert naga.load(first).name == "train" and naga.load(first).params == {"seed": 1}

    @naga.run
    def bare() -> str:
        return naga.active_run().id  # type: ignore[union-attr]

    assert naga.load(bare()).status == "completed"


def test_nested_run_is_a_child(store: Path, naga_cli) -> None:  # type: ignore[no-untyped-def]
    with naga.run(name="parent") as parent, naga.run(name="child") as child:
        child.log({"a": 1})
        naga.log({"b": 2})  # the innermost run
    assert read_meta(store, child.id)["parent_id"] == parent.id
    assert set(naga.load(child.id).summary) == {"a", "b"}
    listing = naga_cli("ls").stdout.decode().splitlines()
    assert listing[1].split()[0] == parent.id
    assert listing[2].split()[:2] == ["└", child.id]
    shown = naga_cli("show", parent.id).stdout.decode()
    assert f"Children  {child.id}  child" in shown


def test_outside_a_run(store: Path) -> None:
    with pytest.raises(naga.NoActiveRun, match=r"naga\.run"):
        naga.log({"loss": 1})
    with pytest.raises(naga.NoActiveRun):
        naga.get_params()
    run = naga.run()
    with pytest.raises(naga.NoActiveRun, match="not started"):
        run.log({"x": 1})
    with run:
        pass
    with pytest.raises(naga.NagaError, match="only once"), run:
        pass


def test_disabled_sdk_is_a_no_op(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAGA_DISABLED", "1")
    naga.log({"loss": 1})  # no run, no error
    with naga.run(name="x", params={"a": {"b": 1}}) as run:
        run.log({"loss": "not even checked"})
        naga.log({"loss": 2})
        assert run.get_param("a.b") == 1 and run.id is None
        path = run.artifact_path("model.pt")
        path.write_text("weights")
    assert run.status == "disabled"
    assert not store.exists()


def test_metric_types(store: Path, caplog: pytest.LogCaptureFixture) -> None:
    with naga.run() as run:
        run.log(
            {
                "int": 3,
                "bool": True,
                "np64": np.float64(0.5),
                "np32": np.float32(0.25),
                "npint": np.int64(7),
                "zero_d": np.array(1.5),
                "nan": math.nan,
                "inf": -math.inf,
                "big": 10**400,
            }
        )
        with pytest.raises(TypeError, match=r"'name'.*str"):
            run.log({"ok": 1.0, "name": "resnet"})
        with pytest.raises(TypeError, match=r"'vec'.*single number"):
            run.log({"vec": np.array([1.0, 2.0])})
        with pytest.raises(TypeError, match="'none'"):
            run.log({"none": None})
        with pytest.raises(TypeError, match="dict"):
            run.log([("loss", 1.0)])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="step must be an integer"):
            run.log({"x": 1.0}, step=1.5)  # type: ignore[arg-type]
        # Keys are checked by the writer: a bad one is dropped, once said, the others kept.
        run.log({1: 1.0, "kept": 2.0})  # type: ignore[dict-item]
        run.log({1: 3.0, "kept": 4.0})  # type: ignore[dict-item]
        run.log({"sys/cpu": 1.0})
        run.log({"ü" * 90: 1.0})
        run.log({"later": 1.0}, step=np.int64(9))  # type: ignore[arg-type]
    record = naga.load(run.id)
    value = {k: record.metrics(k).value[0] for k in record.metric_keys()}
    assert value["int"] == 3 and value["bool"] == 1 and value["np64"] == 0.5
    assert value["np32"] == 0.25 and value["npint"] == 7 and value["zero_d"] == 1.5
    assert math.isnan(value["nan"]) and value["inf"] == -math.inf and value["big"] == math.inf
    assert "ok" not in value and "name" not in value  # a rejected call logs nothing
    assert list(record.metrics("later").step) == [9]
    assert math.isnan(record.summary["nan"]["last"])
    assert list(record.metrics("kept").value) == [2.0, 4.0]
    assert not any(k.startswith(("sys/", "ü")) for k in record.metric_keys())
    warnings = [r.getMessage() for r in caplog.records if r.name == "naga"]
    assert len(warnings) == 3, warnings
    assert "metric keys must be strings, not int (1)" in warnings[0]
    assert "sys/ is naga's system metrics" in warnings[1]
    assert "too long" in warnings[2]
    assert all(w.endswith("its values are not recorded") for w in warnings)


def test_threads_logging_at_once(store: Path) -> None:
    per_thread, threads = 20_000, 4
    with naga.run() as run:

        def work(k: int) -> None:
            for i in range(per_thread):
                run.log({f"t{k}": float(i), "shared": float(k)}, step=i)

        pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    record = naga.load(run.id)
    for k in range(threads):
        own = record.metrics(f"t{k}")
        assert list(own.value) == [float(i) for i in range(per_thread)]  # nothing torn or lost
        assert list(own.step) == list(range(per_thread))
    shared = record.metrics("shared")
    assert len(shared) == per_thread * threads
    assert sorted(np.unique(shared.value, return_counts=True)[1]) == [per_thread] * threads


def test_threads_started_inside_a_run_log_to_it(store: Path) -> None:
    with naga.run() as run:
        t = threading.Thread(target=lambda: naga.log({"from_thread": 1.0}))
        t.start()
        t.join()
    assert naga.load(run.id).summary["from_thread"]["count"] == 1


def test_artifacts(store: Path, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"\x00weights")
    folder = tmp_path / "ckpt"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a")
    with naga.run() as run:
        assert run.log_artifact(source).read_bytes() == b"\x00weights"
        run.log_artifact(folder, name="checkpoints/last")
        run.log_text("notes ✓", "notes/readme.md")
        target = run.artifact_path("preds/out.csv")
        target.write_text("1,2\n")
        for bad in ("../escape", "/etc/passwd", "a/../../b", "", "..", "~/x"):
            with pytest.raises(naga.BadArtifactName):
                run.artifact_path(bad)
            with pytest.raises(ValueError):  # BadArtifactName is a ValueError too
                run.log_text("x", bad)
        outside = tmp_path / "outside"
        outside.mkdir()
        (run.dir / "artifacts" / "link").symlink_to(outside)
        with pytest.raises(naga.BadArtifactName, match="outside"):
            run.artifact_path("link/evil.txt")
        with pytest.raises(naga.NagaError, match="no such file"):
            run.log_artifact(tmp_path / "missing.txt")
    assert not (outside / "evil.txt").exists()
    names = [name for name, _ in naga.load(run.id).artifacts()]
    assert names == [
        "checkpoints/last/sub/a.txt",
        "model.bin",
        "notes/readme.md",
        "preds/out.csv",
    ]


def test_log_figure(store: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([1, 2, 3])
    with naga.run() as run:
        path = run.log_figure(figure, "plots/curve")
        with pytest.raises(TypeError, match="Figure"):
            run.log_figure("not a figure", "x")
    plt.close(figure)
    assert path.name == "curve.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_flush_makes_everything_durable(store: Path) -> None:
    with naga.run() as run:
        for i in range(1000):
            run.log({"loss": float(i)}, step=i)
        run.flush()
        points = series.read_points(str(run.dir / "metrics" / "main" / "loss.bin"))
        assert len(points) == 1000


def test_runs_query_and_pandas(store: Path) -> None:
    for lr in (0.1, 0.01, 0.001):
        with naga.run(name=f"lr{lr}", params={"lr": lr, "opt": "adam"}, tags=["sweep"]) as run:
            for i in range(3):
                run.log({"loss": lr * (3 - i)}, step=i)
    found = naga.runs(where=["lr<0.05"], tags="sweep")
    assert sorted(r.name for r in found) == ["lr0.001", "lr0.01"]
    assert [r.name for r in naga.runs(where="loss>0.05")] == ["lr0.1"]
    assert len(naga.runs(where=["opt=adam"], status="completed")) == 3
    with pytest.raises(naga.NagaError, match="cannot read --where"):
        naga.runs(where="lr<<1")
    frame = naga.load("lr0.1").to_pandas()
    assert list(frame.index) == [0, 1, 2] and list(frame["loss"]) == pytest.approx([0.3, 0.2, 0.1])
    series_frame = naga.load("lr0.1").metrics("loss").to_pandas()
    assert list(series_frame.columns) == ["step", "value", "time"]
    with pytest.raises(naga.NagaError, match="no metric 'acc'"):
        naga.load("lr0.1").metrics("acc")


def test_series_reader_ignores_a_torn_tail(tmp_path: Path) -> None:
    from array import array

    path = tmp_path / "m.bin"
    chunk = series.encode_chunk(array("q", [0, 1]), array("d", [1.0, 2.0]), array("d", [5, 6]))
    path.write_bytes(chunk + chunk[:30])  # a second write cut short
    points = series.read_points(str(path))
    assert list(points.values) == [5.0, 6.0]


def test_key_file_names_round_trip() -> None:
    for key in ("loss", "train/loss", "val.acc", ".hidden", "ünï code", "a%b", "x" * 150):
        name = series.file_name(key)
        assert "/" not in name and not name.startswith(".")
        assert series.key_of(name) == key
    with pytest.raises(ValueError):
        series.check_key("x" * 300)
    assert os.sep not in series.file_name("../../etc")


def test_a_slow_loggers_many_chunks_are_compacted_at_the_end(store: Path) -> None:
    with naga.run() as run:
        for i in range(100):
            run.log({"slow": float(i)}, step=i)
            run.flush()  # one chunk each, as a run logging once a second would leave
        path = str(run.dir / "metrics" / "main" / "slow.bin")
        assert len(series.read_chunks(path)[1]) == 100
        assert list(naga.load(run.id).metrics("slow").value) == [float(i) for i in range(100)]
    assert len(series.read_chunks(path)[1]) == 1
    loaded = naga.load(run.id).metrics("slow")
    assert list(loaded.value) == [float(i) for i in range(100)]
    assert list(loaded.step) == list(range(100))


def test_logging_the_project_directory_leaves_the_store_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "train.py").write_text("print(1)\n")
    monkeypatch.setenv("NAGA_HOME", str(project / ".naga"))  # the default place: in the project
    with naga.run() as run:
        copied = run.log_artifact(project, name="code")
    assert sorted(p.name for p in copied.iterdir()) == ["src"]
    assert (copied / "src" / "train.py").read_text() == "print(1)\n"


def test_figure_format_follows_the_name(store: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, _ = plt.subplots()
    with naga.run() as run:
        pdf = run.log_figure(figure, "curve.pdf")
        svg = run.log_figure(figure, "curve.svg")
    plt.close(figure)
    assert pdf.read_bytes()[:5] == b"%PDF-" and b"<svg" in svg.read_bytes()[:400]


def test_many_keys_do_not_use_up_file_descriptors(store: Path) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
    try:
        with naga.run() as run:
            for step in range(3):
                run.log({f"grad/layer{k}": float(step) for k in range(600)}, step=step)
                run.flush()
            with open(run.dir / "user-file", "w") as f:  # the program's own files still open
                f.write("ok")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    record = naga.load(run.id)
    assert len(record.summary) == 600
    assert list(record.metrics("grad/layer599").value) == [0.0, 1.0, 2.0]


def test_huge_values_and_steps(store: Path, naga_cli, caplog) -> None:  # type: ignore[no-untyped-def]
    with naga.run(name="huge", params={"seed": 10**400, "lr": math.nan}) as run:
        run.log({"x": 1.0, "inf": math.inf}, step=0)
        with pytest.raises(ValueError, match="64 bits"):
            run.log({"x": 2.0}, step=np.uint64(2**63))  # type: ignore[arg-type]
        run.log({"y": 2.0}, step=2**70)
    assert "steps beyond 64 bits were logged" in caplog.text  # the naga logger's warning
    assert naga.load("huge").metrics("y").step.tolist() == [2**63 - 1]
    listed = naga_cli("ls", "--json")
    assert listed.returncode == 0, listed.stderr
    (doc,) = json.loads(listed.stdout, parse_constant=_reject)  # strict JSON: no bare NaN
    assert doc["params"]["lr"] == "NaN" and doc["metrics"]["inf"] == "Infinity"
    shown = naga_cli("show", "--json", "huge")
    assert json.loads(shown.stdout, parse_constant=_reject)["params"]["seed"] == 10**400
    assert naga_cli("ls", "--where", "seed>1").returncode == 0
    assert naga.load("huge").metrics("x").step.tolist() == [0]


def _reject(name: str) -> None:
    raise AssertionError(f"not strict JSON: {name}")
