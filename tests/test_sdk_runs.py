"""``naga.runs()`` gives what ``naga.load()`` does, whatever is read first."""

from __future__ import annotations

from pathlib import Path

import pytest

import naga


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_runs_match_load_field_by_field(store: Path) -> None:
    with naga.run(name="first", params={"lr": 0.1}, tags=["a"]) as first:
        first.log({"loss": 0.5})
    with naga.run(name="second", params={"lr": 0.2}) as live:
        found = {r.id: r for r in naga.runs()}
        assert set(found) == {first.id, live.id}
        # Read in different orders: the cheap fields first, then the whole record.
        done = found[first.id]
        assert (done.id, done.name, done.status) == (first.id, "first", "completed")
        assert done.params == {"lr": 0.1} and done.tags == ["a"]
        assert done.summary["loss"]["last"] == 0.5
        full = naga.load(first.id).meta  # the whole meta.json: runs() gives the index's part
        assert done.meta == {key: full[key] for key in done.meta}
        running = found[live.id]
        assert running["status"] == "running" and running.name == "second"
        assert isinstance(running.meta["duration_s"], float)  # elapsed, as `naga show` gives
        assert repr(running) == f"<naga.RunRecord {live.id} second running>"
    assert [r.name for r in naga.runs(status="completed", limit=1)] == ["second"]
