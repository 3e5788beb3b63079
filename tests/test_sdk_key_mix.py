"""Metrics logged in any mix of keys per call come back per key, in the order they were logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naga
from naga.sdk.stream import by_key

KEYS = st.sampled_from(["loss", "acc", "lr", "val/loss", "grad"])
CALL = st.dictionaries(KEYS, st.floats(allow_nan=False), min_size=1, max_size=3)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def flat_of(calls: list[dict[str, float]]) -> list[Any]:
    flat: list[Any] = []
    for i, call in enumerate(calls):
        flat.extend((i, i / 2, call))
    return flat


def reference(calls: list[dict[str, float]]) -> dict[str, tuple[list, list, list]]:
    """The obvious per-value loop by_key must agree with."""
    out: dict[str, tuple[list, list, list]] = {}
    for i, call in enumerate(calls):
        for key, value in call.items():
            steps, times, values = out.setdefault(key, ([], [], []))
            steps.append(i)
            times.append(i / 2)
            values.append(value)
    return out


def as_lists(grouped: dict[Any, tuple[list, list, list]]) -> dict[Any, tuple[list, list, list]]:
    return {k: (list(s), list(t), list(v)) for k, (s, t, v) in grouped.items()}


@given(st.lists(CALL, max_size=60))
@settings(max_examples=300, deadline=None)
def test_any_mix_of_keys(calls: list[dict[str, float]]) -> None:
    assert as_lists(by_key(flat_of(calls))) == reference(calls)


@given(st.lists(CALL, min_size=1, max_size=8), st.integers(4, 40), st.integers(0, 7))
@settings(max_examples=300, deadline=None)
def test_keys_in_a_cycle_cut_anywhere(
    cycle: list[dict[str, float]], repeats: int, cut: int
) -> None:
    """A training loop's cycle (a key at several places in it too), the batch cut mid-cycle."""
    calls = [dict(c) for c in (cycle * repeats)[cut % len(cycle) :]]
    assert as_lists(by_key(flat_of(calls))) == reference(calls)


def test_alternating_keys_read_back_in_order(store: Path) -> None:
    with naga.run() as run:
        for i in range(3000):
            run.log({"loss": i}, step=i)
            run.log({"acc": -i}, step=i)
            if i % 7 == 0:
                run.log({"loss": 0.5, "val": i}, step=i)
    record = naga.load(run.id)
    loss = record.metrics("loss")
    expected = [(s, v) for i in range(3000) for s, v in [(i, i)] + [(i, 0.5)] * (i % 7 == 0)]
    assert list(zip(loss.step, loss.value, strict=True)) == expected
    acc = record.metrics("acc")
    assert list(acc.value) == [-i for i in range(3000)]
    assert list(record.metrics("val").step) == list(range(0, 3000, 7))
    assert record.summary["loss"]["count"] == len(expected)
    assert record.summary["acc"]["min"] == -2999
