"""What the Lightning logger and the Hydra callback make of hyperparameters and configs:
plain JSON values, whatever shape they came in (``naga.integrations.plain``)."""

from __future__ import annotations

import enum
import json
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from naga.integrations.plain import TEXT_LIMIT, plain_params


class Mode(enum.Enum):
    FAST = "fast"


@dataclass
class Optim:
    name: str = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    extra: dict[str, int] = field(default_factory=lambda: {"warmup": 10})


class Huge:
    def __str__(self) -> str:
        return "layer\n" * 1000


def test_every_shape_becomes_plain_json() -> None:
    params = Namespace(
        optim=Optim(),
        mode=Mode.FAST,
        root=Path("/data/x"),
        scale=np.float32(0.5),
        one=np.array([3]),
        many=np.arange(4),
        tags={"a"},
        fn=json.dumps,
        cls=Optim,
        model=Huge(),
        text="x" * (TEXT_LIMIT + 10),
    )
    plain = plain_params(params)
    assert json.loads(json.dumps(plain)) == plain
    assert plain["optim"] == {"name": "adam", "betas": [0.9, 0.999], "extra": {"warmup": 10}}
    assert [plain[k] for k in ("mode", "root", "scale", "one")] == ["fast", "/data/x", 0.5, 3]
    assert plain["many"] == "[0 1 2 3]" and plain["tags"] == ["a"]
    assert plain["fn"] == "json.dumps"
    assert plain["cls"] == "test_integration_params.Optim"
    assert len(plain["model"]) == TEXT_LIMIT and plain["model"].endswith("...")  # a repr, cut
    assert plain["text"] == params.text  # the user's own text, whole


def test_configs_are_resolved_or_kept_as_written() -> None:
    config = OmegaConf.create({"depth": 2, "width": "${depth}", "missing": "???"})
    assert plain_params(config) == {"depth": 2, "width": 2, "missing": "???"}
    broken = OmegaConf.create({"data": "${oc.env:NAGA_TEST_SURELY_UNSET}", "n": 1})
    assert plain_params(broken) == {"data": "${oc.env:NAGA_TEST_SURELY_UNSET}", "n": 1}


def test_not_a_mapping_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="params must be a dict"):
        plain_params([1, 2])
