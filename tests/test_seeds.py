"""Seed groups (``naga compare --over seed``, ``naga plot --over seed``, the dashboard's ``o``):
real runs recorded through the SDK in the test's store, numbers checked against values worked
out by hand from a printed t table, the statistics and the grouping held to their properties
by Hypothesis, docs/seeds.md run as written."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga
from hypothesis import given, settings
from hypothesis import strategies as st

import naga
from naga.analysis.seeds import compare_over, group_runs, overlap, summarize
from naga.store.layout import StoreLayout

DOC = Path(__file__).resolve().parent.parent / "docs" / "seeds.md"
# Student's t at 0.975 for 1, 2 and 3 degrees of freedom, from a printed table (not scipy)
T1, T2, T3 = 12.7062047, 4.3026527, 3.1824463

# lr -> final loss per seed: four groups of 3, 2, 4 and 1 runs
LOSSES = {0.1: [1.0, 2.0, 3.0], 0.01: [10.0, 12.0], 0.001: [100.0, 101.0, 102.0, 103.0], 0.5: [7.0]}


def record(lr: float, seed: int | None, loss: float, tags: tuple[str, ...] = ()) -> str:
    params: dict[str, Any] = {"lr": lr, "opt": "adam"}
    if seed is not None:
        params["seed"] = seed
    with naga.run(params=params, tags=list(tags)) as run:
        for step in range(3):  # the final value is the last one: loss itself at step 2
            run.log({"loss": loss * (step + 1) / 3, "acc": 0.5}, step=step)
        if seed == 0:
            run.log({"extra": 1.0})  # not in every run: left out, and said so
    return run.id


def seeded_runs() -> None:
    for lr, losses in LOSSES.items():
        for seed, loss in enumerate(losses):
            record(lr, seed, loss, ("good",))


def close(found: list[float] | None, expected: list[float]) -> bool:
    assert found is not None
    pairs = zip(found, expected, strict=True)
    return all(math.isclose(f, e, rel_tol=1e-6, abs_tol=1e-6) for f, e in pairs)


def test_compare_over_seed_gives_hand_computed_intervals(naga_cli: Naga) -> None:
    seeded_runs()
    done = naga_cli("compare", "--over", "seed", "--all", "--json")
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    doc = json.loads(done.stdout)
    assert list(doc) == ["groups"]
    groups = doc["groups"]
    assert [(g["params"], g["n"]) for g in groups] == [
        ({"lr": lr, "opt": "adam"}, n) for lr, n in ((0.001, 4), (0.01, 2), (0.1, 3), (0.5, 1))
    ]
    for group in groups:
        assert set(group) == {"params", "n", "metrics"}
        assert set(group["metrics"]) == {"acc", "loss"}  # extra: not in every run
        assert all(set(m) == {"mean", "std", "ci95"} for m in group["metrics"].values())
    c, b, a, d = (g["metrics"]["loss"] for g in groups)
    # a: 1 2 3 -> mean 2, std 1, half-width t(2) / sqrt(3)
    assert a["mean"] == 2.0 and a["std"] == 1.0
    assert close(a["ci95"], [2 - T2 / math.sqrt(3), 2 + T2 / math.sqrt(3)])
    # b: 10 12 -> mean 11, std sqrt(2), half-width t(1) * sqrt(2) / sqrt(2)
    assert b["mean"] == 11.0 and math.isclose(b["std"], math.sqrt(2))
    assert close(b["ci95"], [11 - T1, 11 + T1])
    # c: 100..103 -> mean 101.5, std sqrt(5/3), half-width t(3) * std / 2
    half = T3 * math.sqrt(5 / 3) / 2
    assert c["mean"] == 101.5 and close(c["ci95"], [101.5 - half, 101.5 + half])
    assert d == {"mean": 7.0, "std": None, "ci95": None}  # one run: no spread claimed
    assert groups[0]["metrics"]["acc"] == {"mean": 0.5, "std": 0.0, "ci95": [0.5, 0.5]}

    text = naga_cli("compare", "--over", "seed", "--all").stdout.decode()
    loss = text.split("\nloss\n", 1)[1]
    assert "within seed noise (intervals overlap): G2–G3\n" in loss  # lr 0.01 vs 0.1
    assert "beyond seed noise (intervals apart): G1–G2, G1–G3\n" in loss
    assert re.search(r"^G4\s+1\s+7\s+-\s+- \(one run\)$", loss, flags=re.M), loss
    assert "a group of one run has no std and no interval, and is not judged" in text
    assert "not logged by every run, left out: extra" in text

    only = naga_cli("compare", "--over", "seed", "--where", "lr<0.05", "--json", "-m", "loss")
    assert [g["params"]["lr"] for g in json.loads(only.stdout)["groups"]] == [0.001, 0.01]


def test_plot_over_seed_draws_each_group_as_a_band(naga_cli: Naga, tmp_path: Path) -> None:
    import matplotlib.image
    import numpy

    seeded_runs()
    out = tmp_path / "loss.png"
    done = naga_cli("plot", "--over", "seed", "--tag", "good", "-m", "loss", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == f"{out}\n" and out.read_bytes()[:4] == b"\x89PNG"
    # the first group's band: matplotlib's first colour at alpha 0.25 on white; a plot of lines
    # alone has only their anti-aliased edges in that colour (40 pixels, measured)
    pixels = (matplotlib.image.imread(out)[..., :3] * 255).round()
    band = (abs(pixels - numpy.array([199, 221, 236])).max(axis=-1) <= 3).sum()
    assert band > 1000


def test_bad_input_is_one_line_and_a_non_zero_exit(naga_cli: Naga, tmp_path: Path) -> None:
    for seed, loss in enumerate((1.0, 2.0)):
        record(0.1, seed, loss, ("good",))
    record(0.1, 2, math.nan, ("diverged",))
    record(0.1, None, 1.0, ("seedless",))
    cases = [
        (("compare", "--over", "sed", "--tag", "good"), 2, "did you mean seed?"),
        (("compare", "--over", "seed", "--all"), 2, "1 of the 4 runs has no param 'seed'"),
        (("compare", "--over", "seed", "--tag", "nothing"), 1, "no run to compare"),
        (("compare", "--over", "seed", "--tag", "diverged"), 1, "final loss is nan, not a finite"),
        (("compare", "--over", "seed", "--tag", "good", "-m", "nope"), 2, "no run has a metric"),
        (("compare", "--over", "seed"), 2, "name the runs to compare"),
        (("compare", "--tag", "good", "-m", "loss"), 2, "--metric goes with --over"),
        (("plot", "--over", "seed", "--tag", "good", "-m", "loss", "--x", "time"), 2, "--x step"),
        (("plot", "--over", "seed", "--tag", "good", "-m", "nope"), 1, "has no metric 'nope'"),
    ]
    for args, code, message in cases:
        done = naga_cli(*args, cwd=tmp_path)
        err = done.stderr.decode()
        assert done.returncode == code, (args, err)
        assert err.startswith("naga: error: ") and err.count("\n") == 1, (args, err)
        assert message in err, (args, err)

    with pytest.raises(RuntimeError), naga.run(params={"lr": 0.1, "opt": "adam", "seed": 5}) as run:
        run.log({"loss": 3.0, "acc": 0.5})
        raise RuntimeError("a seed that failed half way")
    done = naga_cli("compare", "--over", "seed", "--where", "seed>=0", "--where", "loss<5")
    assert done.returncode == 0 and "3 runs in 1 group" in done.stdout.decode()
    assert done.stderr.decode() == (
        f"naga: note: 1 of the 3 runs did not complete ({run.id} failed): their last values are"
        " counted; --status completed leaves them out\n"
    )


def test_missing_scipy_names_the_extra(naga_cli: Naga, tmp_path: Path) -> None:
    for seed in range(2):
        record(0.1, seed, 1.0 + seed)
    shadow = tmp_path / "shadow" / "scipy"
    shadow.mkdir(parents=True)  # stands for an environment without scipy
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'scipy'\")\n")
    path = [str(shadow.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    done = naga_cli("compare", "--over", "seed", "--all", env=env)
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "naga: error: confidence intervals need scipy: pip install 'naga-runs[analysis]'\n"
    )


# -- the statistics and the grouping, held to their properties --------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)  # a record may hold 1e308


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_summary_holds_its_mean_and_ignores_order(values: list[float], rnd: Any) -> None:
    stats = summarize(values)
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert summarize(shuffled) == stats  # exactly: sums are exactly rounded
    tol = 1e-12 * max(1.0, *map(abs, values))
    assert stats.n == len(values) and min(values) - tol <= stats.mean <= max(values) + tol
    if len(values) == 1:
        assert stats.std is None and stats.ci95 is None
    else:
        assert stats.std is not None and stats.std >= 0 and stats.ci95 is not None
        assert stats.ci95[0] <= stats.mean <= stats.ci95[1]
        low, high = stats.mean - stats.ci95[0], stats.ci95[1] - stats.mean
        assert math.isclose(low, high, rel_tol=1e-9, abs_tol=1e-6) or math.isinf(high)


small = st.sampled_from([0, 1, 2.5, "a", "b", None, [1, 2]])
param_names = ["lr", "opt", "seed", "split"]


@st.composite
def run_records(draw: Any) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=12))
    runs = []
    for i in range(count):
        params = {k: draw(small) for k in param_names if draw(st.booleans())}
        params["seed"] = draw(st.integers(0, 3))
        params.update({"sweep.id": f"sw-{draw(st.integers(0, 1))}", "sweep.task": i})
        runs.append({"id": f"run{i:02d}", "params": params, "metrics": {"loss": draw(finite)}})
    return runs


@settings(max_examples=100, deadline=None)
@given(run_records(), st.sampled_from([("seed",), ("seed", "opt")]), st.randoms())
def test_groups_differ_only_in_the_over_params(
    runs: list[dict[str, Any]], over: tuple[str, ...], rnd: Any
) -> None:
    if "opt" in over:
        for run in runs:
            run["params"].setdefault("opt", "adam")  # every run needs every --over param
    found = compare_over(runs, over)
    ignored = {*over, "sweep.id", "sweep.task"}

    def rest(run: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in run["params"].items() if k not in ignored}

    by_id = {run["id"]: run for run in runs}
    placed = [i for g in found.groups for i in g.run_ids]
    assert sorted(placed) == sorted(by_id)  # a partition: every run once
    group_of = {i: n for n, g in enumerate(found.groups) for i in g.run_ids}
    for a in runs:
        for b in runs:
            same = group_of[a["id"]] == group_of[b["id"]]
            assert same == (rest(a) == rest(b))
    for group in found.groups:
        losses = [by_id[i]["metrics"]["loss"] for i in group.run_ids]
        assert group.metrics["loss"].mean == math.fsum(losses) / len(losses)
        assert group.params == rest(by_id[group.run_ids[0]])
    noise, apart = found.pairs("loss")
    for i, j in noise + apart:
        a_ci, b_ci = found.groups[i].metrics["loss"].ci95, found.groups[j].metrics["loss"].ci95
        assert a_ci is not None and b_ci is not None
        assert ((i, j) in noise) == overlap(a_ci, b_ci) == overlap(b_ci, a_ci)
    shuffled = list(runs)
    rnd.shuffle(shuffled)
    assert compare_over(shuffled, over) == found  # the order runs were listed in changes nothing
    assert [g.run_ids for g in group_runs(shuffled, over)] == [g.run_ids for g in found.groups]


# -- the dashboard and the docs ---------------------------------------------------------------


def test_dashboard_plot_groups_over_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from naga.store import Store
    from naga.tui.app import NagaApp
    from naga.tui.plot import PlotScreen

    monkeypatch.chdir(tmp_path)
    ids = [record(lr, seed, loss) for lr in (0.1, 0.01) for seed, loss in enumerate((1.0, 2.0))]
    seedless = record(0.1, None, 1.0)
    layout: StoreLayout = Store.open().layout

    def title(app: NagaApp) -> str:
        return str(app.screen.query_one("#plot-title").render())

    async def walk() -> None:
        async with NagaApp().run_test(size=(120, 30)) as pilot:
            app = pilot.app
            assert isinstance(app, NagaApp)
            screen = PlotScreen(layout, ids)
            app.push_screen(screen)
            await pilot.pause(0.2)
            screen.metric = "loss"
            await pilot.press("o")
            await pilot.pause(0.1)
            assert "loss: 2 groups over seed" in title(app), title(app)
            await pilot.press("o")
            assert "loss: 4 runs" in title(app)
            mixed = PlotScreen(layout, [*ids, seedless])
            app.push_screen(mixed)
            await pilot.pause(0.2)
            mixed.metric = "loss"
            await pilot.press("o")
            await pilot.pause(0.1)
            assert "1 of the 5 runs has no param 'seed'" in title(app), title(app)

    asyncio.run(walk())


@pytest.mark.timeout(120)
def test_the_docs_examples_run(tmp_path: Path) -> None:
    text = DOC.read_text()
    for name, body in re.findall(r"```\w+ file=(\S+)\n(.*?)```", text, flags=re.S):
        (tmp_path / name).write_text(body)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, command in (("python", sys.executable), ("naga", f"{sys.executable} -m naga")):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    outputs = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        done = subprocess.run(
            ["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=100, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout)
    table, _ = outputs
    assert "\n9 runs in 3 groups over seed" in table  # after the sweep's own output
    assert "within seed noise (intervals overlap): G1–G2" in table  # as the page says
    assert "beyond seed noise (intervals apart): G1–G3, G2–G3" in table
    groups = json.loads((tmp_path / "groups.json").read_text())["groups"]
    assert [(g["params"], g["n"]) for g in groups] == [
        ({"lr": lr}, 3) for lr in (0.1, 0.11, 0.3)
    ]  # sweep.id and sweep.task, different in every run, set aside
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_hostile_records_stay_inert_and_never_crash(naga_cli: Naga, store: Path) -> None:
    """Records are untrusted: escapes in keys and values, 1e308, a metric that is text."""
    model = record(0.1, 0, 1.0)
    meta = json.loads((store / "runs" / model / "meta.json").read_text())
    evil = {"seed": 0, "\x1b[31mkey": "\x1b]0;title\x07", "lr": 0.1}
    for run_id, seed, loss in (("hostile1", 1, 1e308), ("hostile2", 2, 1.7e308)):
        planted = {**meta, "id": run_id, "params": {**evil, "seed": seed}}
        planted["metrics"] = {"loss": loss}
        (store / "runs" / run_id).mkdir()
        (store / "runs" / run_id / "meta.json").write_text(json.dumps(planted))
    done = naga_cli("compare", "--over", "seed", "hostile1", "hostile2", "--json")
    assert done.returncode == 0, done.stderr
    (group,) = json.loads(done.stdout, parse_constant=pytest.fail)["groups"]  # strict JSON
    assert group["n"] == 2 and group["metrics"]["loss"]["ci95"] == ["-Infinity", "Infinity"]
    text = naga_cli("compare", "--over", "seed", "hostile1", "hostile2").stdout
    assert b"\x1b" not in text and b"\x07" not in text and b"2 runs in 1 group" in text

    planted = {**meta, "id": "textual1", "params": {"seed": 9, "lr": 0.1, "opt": "adam"}}
    planted["metrics"] = {"loss": "\x1b[2Jhigh"}
    (store / "runs" / "textual1").mkdir()
    (store / "runs" / "textual1" / "meta.json").write_text(json.dumps(planted))
    done = naga_cli("compare", "--over", "seed", model, "textual1", "-m", "loss")
    err = done.stderr.decode()
    assert done.returncode == 1 and err.count("\n") == 1 and "\x1b" not in err, err
    assert "final loss is" in err and "not a finite number" in err
