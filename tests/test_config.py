"""naga.clicfg: the command line and Python calls merge through one strict path.

Programs are real scripts run in subprocesses (the command-line path) and the same functions
imported and called with keyword arguments (the Python path); both must give the same config.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

import naga

PROGRAM = '''
import json, sys
from dataclasses import dataclass, field
from omegaconf import OmegaConf
import naga

@dataclass
class Model:
    lr: float = 0.01
    arch: str = "resnet"
    layers: list = field(default_factory=lambda: [64, 64])

@dataclass
class Config:
    """Train something."""
    model: Model = field(default_factory=Model)
    name: str = "mnist"
    epochs: int = 3
    debug: bool = False
    save_dir: str = "${{out}}/${{name}}/${{model.arch}}"
    out: str = "{out}"

DEFAULTS = {defaults}

@naga.clicfg(DEFAULTS, repos=None)
def main(cfg):
    """Train something.

    Longer text.
    """
    print("CONFIG " + json.dumps(OmegaConf.to_container(cfg, resolve=True)))
    return OmegaConf.to_container(cfg, resolve=True)

if __name__ == "__main__":
    main()
'''

DICT_DEFAULTS = """{
    "model": {"lr": 0.01, "arch": "resnet", "layers": [64, 64]},
    "name": "mnist", "epochs": 3, "debug": False,
    "save_dir": "${out}/${name}/${model.arch}", "out": "%s",
}"""


def write_program(folder: Path, kind: str = "dataclass") -> Path:
    out = folder / "out"
    if kind == "dataclass":
        defaults = "Config"
    elif kind == "dict":
        defaults = DICT_DEFAULTS % out
    else:  # a YAML file next to the program
        (folder / "defaults.yaml").write_text(
            yaml.safe_dump(
                {
                    "model": {"lr": 0.01, "arch": "resnet", "layers": [64, 64]},
                    "name": "mnist",
                    "epochs": 3,
                    "debug": False,
                    "save_dir": "${out}/${name}/${model.arch}",
                    "out": str(out),
                }
            )
        )
        defaults = '"defaults.yaml"'
    script = folder / f"prog_{kind}.py"
    script.write_text(PROGRAM.format(out=out, defaults=defaults))
    return script


def run_cli(script: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        cwd=cwd or script.parent,
        timeout=60,
        check=False,
    )


def cli_config(script: Path, *args: str) -> dict[str, Any]:
    done = run_cli(script, *args)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("CONFIG "))
    loaded: dict[str, Any] = json.loads(line[len("CONFIG ") :])
    return loaded


def import_main(script: Path) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(script.stem, script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.parametrize("kind", ["dataclass", "dict", "yaml"])
def test_command_line_and_python_calls_resolve_identically(tmp_path: Path, kind: str) -> None:
    script = write_program(tmp_path, kind)
    main = import_main(script)
    from_cli = cli_config(script, "model.lr=0.5", "--name", "cifar", "--model.layers=[1,2,3]")
    from_python = main(model={"lr": 0.5, "layers": [1, 2, 3]}, name="cifar")
    from_dotted = main(**{"model.lr": 0.5, "name": "cifar", "model.layers": [1, 2, 3]})
    assert from_cli == from_python == from_dotted
    assert from_cli["model"] == {"lr": 0.5, "arch": "resnet", "layers": [1, 2, 3]}
    assert from_cli["save_dir"] == f"{tmp_path}/out/cifar/resnet"
    assert (tmp_path / "out" / "cifar" / "resnet").is_dir()  # naga creates save_dir


def test_precedence_defaults_then_files_in_order_then_overrides(tmp_path: Path) -> None:
    script = write_program(tmp_path)
    (tmp_path / "a.yaml").write_text("model:\n  lr: 0.1\n  arch: vit\nepochs: 10\n")
    (tmp_path / "b.yaml").write_text("model:\n  lr: 0.2\n")
    cfg = cli_config(script, "--config", "a.yaml", "--config=b.yaml", "epochs=20")
    assert cfg["model"] == {"lr": 0.2, "arch": "vit", "layers": [64, 64]}
    assert cfg["epochs"] == 20
    main = import_main(script)
    assert main.compose("--config", str(tmp_path / "a.yaml"), epochs=20)["model"]["arch"] == "vit"


def test_bool_flags_and_added_keys(tmp_path: Path) -> None:
    script = write_program(tmp_path)
    assert cli_config(script, "--debug")["debug"] is True
    assert cli_config(script, "--debug", "false", "name=x")["debug"] is False
    assert cli_config(script, "+extra.depth=4")["extra"] == {"depth": 4}
    assert import_main(script)(**{"+extra": {"depth": 4}})["extra"] == {"depth": 4}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model.lrr=0.1"], "unknown config key model.lrr; did you mean model.lr?"),
        (["--epoch", "3"], "unknown config key epoch; did you mean epochs?"),
        (["model.lr=fast"], "model.lr expects a float, not 'fast'"),
        (["epochs=2.5"], "epochs expects an int, not 2.5"),
        (["debug=maybe"], "debug expects a bool, not 'maybe'"),
        (["model.lr"], "malformed override 'model.lr': write KEY=VALUE"),
        (["model..lr=1"], "malformed key 'model..lr'"),
        (["--epochs"], "--epochs needs a value"),
        (["-x"], "unknown option '-x'"),
        (["--config", "nope.yaml"], "config file nope.yaml does not exist"),
        (["model.lr.x=1"], "model.lr is a value, not a group"),
    ],
)
@pytest.mark.parametrize("kind", ["dataclass", "dict"])  # OmegaConf's path and the fast path
def test_strict_errors_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str, kind: str
) -> None:
    script = write_program(tmp_path, kind)
    done = run_cli(script, *args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"{script.name}: error: ")
    assert message in done.stderr
    assert "CONFIG" not in done.stdout  # main never ran


def test_errors_in_config_files_name_the_file(tmp_path: Path) -> None:
    script = write_program(tmp_path)
    (tmp_path / "bad.yaml").write_text("model:\n  lrr: 0.1\n")
    (tmp_path / "broken.yaml").write_text("model: [unclosed\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    for name, message in [
        ("bad.yaml", "unknown config key model.lrr (from bad.yaml); did you mean model.lr?"),
        ("broken.yaml", "config file broken.yaml is not valid YAML"),
        ("list.yaml", "must hold a mapping"),
    ]:
        done = run_cli(script, "--config", name)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1


def test_python_calls_raise_the_same_errors(tmp_path: Path) -> None:
    main = import_main(write_program(tmp_path))
    with pytest.raises(naga.ConfigError, match=r"did you mean model\.lr\?"):
        main(model={"lrr": 0.1})
    with pytest.raises(naga.ConfigError, match=r"model\.lr expects a float, not 'fast'"):
        main(**{"model.lr": "fast"})
    with pytest.raises(TypeError, match="takes config overrides as keywords"):
        main({"model": {"lr": 0.1}})


def test_missing_mandatory_value(tmp_path: Path) -> None:
    script = tmp_path / "needs.py"
    script.write_text(
        textwrap.dedent(
            """
            import naga
            @naga.clicfg({"model": {"arch": "???", "lr": 0.1}, "save_dir": "out/${model.arch}"})
            def main(cfg):
                print("ran", cfg.model.arch)
            main()
            """
        )
    )
    done = run_cli(script)
    assert done.returncode == 2
    assert "model.arch has no value: it is ??? in the defaults; set it with model.arch=VALUE" in (
        done.stderr
    )
    assert done.stderr.count("\n") == 1
    assert run_cli(script, "model.arch=vit").stdout == "ran vit\n"
    assert (tmp_path / "out" / "vit").is_dir()


def test_save_dir_template_with_naga_now_and_require_save_dir(tmp_path: Path) -> None:
    script = tmp_path / "timed.py"
    script.write_text(
        textwrap.dedent(
            """
            import naga
            STAMP = "${naga.now:%Y%m%d-%H%M%S}"
            @naga.clicfg(
                {"data": {"name": "cifar"}, "save_dir": "runs/${data.name}/" + STAMP,
                 "again": STAMP},
                require_save_dir=True,
            )
            def main(cfg):
                print(cfg.save_dir, cfg.again)
            main()
            """
        )
    )
    done = run_cli(script)
    assert done.returncode == 0, done.stderr
    save_dir, again = done.stdout.split()
    assert save_dir.startswith("runs/cifar/2") and save_dir.endswith(again)  # one instant
    assert (tmp_path / save_dir).is_dir()
    assert (tmp_path / save_dir / "run.lock").is_file()
    assert (tmp_path / save_dir / "experiment.log").is_file()

    script.write_text(
        "import naga\n@naga.clicfg({'lr': 0.1}, require_save_dir=True)\n"
        "def main(cfg):\n    print('ran')\nmain()\n"
    )
    done = run_cli(script)
    assert done.returncode == 2
    assert "needs an output directory and its config has no save_dir: add `save_dir:" in (
        done.stderr
    )


def test_help_shows_the_config_tree_with_types_and_defaults(tmp_path: Path) -> None:
    script = write_program(tmp_path)
    done = run_cli(script, "--help")
    assert done.returncode == 0
    out = done.stdout
    assert out.startswith(f"usage: {script.name} [--config FILE]...")
    assert "Train something.\n\nLonger text." in out
    assert "  model:\n    lr: float = 0.01\n    arch: str = resnet\n" in out
    assert "    layers: list = [64, 64]\n" in out
    assert "  epochs: int = 3\n" in out and "  debug: bool = False\n" in out
    assert "--print-config" in out
    assert not (tmp_path / "out").exists()  # nothing ran


def test_print_config_prints_the_resolved_config_and_exits(tmp_path: Path) -> None:
    script = write_program(tmp_path)
    done = run_cli(script, "--print-config", "model.arch=vit")
    assert done.returncode == 0, done.stderr
    printed = yaml.safe_load(done.stdout)
    assert printed["model"]["arch"] == "vit"
    assert printed["save_dir"] == f"{tmp_path}/out/mnist/vit"
    assert "CONFIG" not in done.stdout and not (tmp_path / "out").exists()


def test_hydra_zen_configs(tmp_path: Path) -> None:
    script = tmp_path / "zen.py"
    script.write_text(
        textwrap.dedent(
            """
            from hydra_zen import builds, make_config, instantiate
            import naga

            def make_model(width: int = 8, act: str = "relu"):
                return {"width": width, "act": act}

            Cfg = make_config(model=builds(make_model, populate_full_signature=True), seed=0)

            @naga.clicfg(Cfg)
            def main(cfg):
                print(instantiate(cfg.model), cfg.seed)

            if __name__ == "__main__":
                main()
            """
        )
    )
    done = run_cli(script, "model.width=32", "seed=3")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "{'width': 32, 'act': 'relu'} 3\n"
    done = run_cli(script, "model.width=wide")
    assert done.returncode == 2 and "model.width expects an int, not 'wide'" in done.stderr
    # make_config(seed=0) declares `seed: Any = 0`: the default's type holds all the same
    done = run_cli(script, "seed=abc")
    assert done.returncode == 2 and "seed expects an int, not 'abc'" in done.stderr, done.stderr


def test_bad_defaults_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(naga.ConfigError, match=r"config file .*missing\.yaml does not exist"):
        naga.clicfg("missing.yaml")(lambda cfg: cfg).compose()
    with pytest.raises(naga.ConfigError, match="must be a dataclass, a dict, a YAML file"):
        naga.clicfg(42)(lambda cfg: cfg).compose()


def test_config_recorded_as_params_of_the_naga_run(tmp_path: Path, naga_cli: Any) -> None:
    script = write_program(tmp_path)
    done = naga_cli("run", "--", sys.executable, str(script), "model.lr=0.3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = json.loads(naga_cli("show", "--json").stdout)
    assert shown["params"]["model.lr"] == 0.3
    assert shown["params"]["name"] == "mnist"
    assert "run.lock" in [a["name"] for a in shown["artifacts"]]
    lock = yaml.safe_load((tmp_path / "out" / "mnist" / "resnet" / "run.lock").read_text())
    assert lock["run_id"] == shown["id"] and lock["status"] == "completed"


def test_inside_naga_run_python(tmp_path: Path) -> None:
    main = import_main(write_program(tmp_path))
    with naga.run(name="outer") as run:
        main(model={"lr": 0.25})
    record = naga.load(run.id)
    assert record.params["model.lr"] == 0.25
    attached = Path(run.dir) / "artifacts" / "run.lock"
    assert yaml.safe_load(attached.read_text())["run_id"] == run.id


def test_run_option_records_each_call_once_the_config_is_valid(
    tmp_path: Path, naga_cli: Any
) -> None:
    script = tmp_path / "own.py"
    script.write_text(
        "import naga\n"
        "@naga.clicfg({'lr': 0.1, 'save_dir': 'out'}, run='fit')\n"
        "def main(cfg):\n    naga.log({'loss': cfg.lr}, step=0)\n"
        "main()\n"
    )
    assert run_cli(script, "lr=0.5").returncode == 0
    assert run_cli(script, "lr=oops").returncode == 2  # no run for a config that is refused
    runs = json.loads(naga_cli("ls", "--json").stdout)
    assert [(r["name"], r["status"], r["params"]["lr"]) for r in runs] == [
        ("fit", "completed", 0.5)
    ]
    assert runs[0]["metrics"]["loss"] == 0.5


TRICKY = {
    "a": 1.5,
    "s": "x",
    "t": True,
    "n": None,
    "whole": "${a}",
    "text": "x${a}y${s}${t}${n}",
    "chain": "${whole}",
    "chain_text": "<${text}>",
    "items": [1, "${a}", "${s}-${a}"],
    "group": {"inner": "${a}", "deep": {"x": "${group.inner}"}},
    "to_group": "${group.deep}",
    "escaped": "\\${a}",
    "relative": {"b": "${..a}"},
    "resolver": "${oc.env:NAGA_TEST_VALUE,fallback}",
    "nested": "${oc.env:NAGA_TEST_VALUE,${s}}",
}


def test_the_fast_path_resolves_exactly_as_omegaconf() -> None:
    from omegaconf import OmegaConf

    expected = OmegaConf.create(TRICKY)
    OmegaConf.resolve(expected)
    main = naga.clicfg(TRICKY, repos=None, lock=False)(lambda cfg: cfg)
    got = main.compose()
    assert OmegaConf.to_container(got) == OmegaConf.to_container(expected)
    assert main.compose(a=2)["chain_text"] == "<x2.0yxTrueNone>"  # a is a float


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${nope}", "x: Interpolation key .nope. not found"),
        ("${loop}", "x: Recursive interpolation detected"),
    ],
)
def test_bad_interpolations_are_one_line(value: str, message: str) -> None:
    main = naga.clicfg({"x": value, "loop": "${loop}"}, repos=None, lock=False)(lambda c: c)
    with pytest.raises(naga.ConfigError, match=message):
        main.compose()


def test_command_line_values_parse_as_omegaconf_dotlists_do() -> None:
    from omegaconf import OmegaConf

    from naga.config.overrides import parse_value

    texts = ["0.01", "1e-3", "10", "true", "null", "[1, 2]", "{a: 1}", "cifar", "'7'", "1_000", "~"]
    expected = OmegaConf.to_container(
        OmegaConf.from_dotlist([f"k{i}={t}" for i, t in enumerate(texts)])
    )
    assert [parse_value(t) for t in texts] == [expected[f"k{i}"] for i in range(len(texts))]


def test_unicode_keys_can_be_overridden(tmp_path: Path) -> None:
    defaults = {"größe": 1, "模型": {"学习率": 0.1}}
    main = naga.clicfg(defaults, repos=None, lock=False)(lambda cfg: cfg)
    assert main.compose("größe=2", "--模型.学习率", "0.5") == {"größe": 2, "模型": {"学习率": 0.5}}
    assert main.compose(**{"模型.学习率": 0.2})["模型"]["学习率"] == 0.2
    with pytest.raises(naga.ConfigError, match="malformed key '1x'"):
        main.compose("1x=2")


@dataclass
class Optimizer:
    lr: float = 0.1
    momentum: float = 0.9


@dataclass
class WithNulls:
    extra: Any = None
    optim: Optional[Optimizer] = None  # noqa: UP045 - OmegaConf reads the annotation at run time


@pytest.mark.parametrize("defaults", [{"extra": None, "optim": None}, WithNulls])
def test_a_null_default_takes_a_whole_group(defaults: Any) -> None:
    main = naga.clicfg(defaults, repos=None, lock=False)(lambda cfg: cfg)
    assert main.compose("extra={a: 1, b: [2]}")["extra"] == {"a": 1, "b": [2]}
    assert main.compose(extra={"a": 1})["extra"] == {"a": 1}
    optim = main.compose(optim={"lr": 0.5})["optim"]
    if defaults is WithNulls:  # a typed group: its other fields keep their defaults
        assert optim == {"lr": 0.5, "momentum": 0.9}
        assert main.compose("optim.lr=0.3")["optim"] == {"lr": 0.3, "momentum": 0.9}
        with pytest.raises(naga.ConfigError, match=r"optim\.lr expects a float, not 'x'"):
            main.compose("optim.lr=x")
    else:
        assert optim == {"lr": 0.5}


@dataclass
class Layer:
    width: int = 1


@dataclass
class Net:
    layers: list[Layer] = field(default_factory=lambda: [Layer()])


def test_unknown_keys_inside_lists_are_suggested_alike_on_both_paths() -> None:
    for defaults in ({"layers": [{"width": 1}]}, Net):
        main = naga.clicfg(defaults, repos=None, lock=False)(lambda cfg: cfg)
        assert main.compose("layers.0.width=2")["layers"] == [{"width": 2}]
        suggestion = r"layers\.0\.widht; did you mean layers\.0\.width\?"
        with pytest.raises(naga.ConfigError, match=suggestion):
            main.compose("layers.0.widht=2")


def test_help_of_dict_defaults_shows_the_types_of_their_values(tmp_path: Path) -> None:
    script = write_program(tmp_path, "dict")
    out = run_cli(script, "--help").stdout
    assert "    lr: float = 0.01\n" in out and "  epochs: int = 3\n" in out
    assert "| None" not in out


def test_a_keyword_that_names_a_nested_key_suggests_it() -> None:
    main = naga.clicfg({"model": {"lr": 0.01, "depth": 2}, "seed": 0}, lock=False)(
        lambda cfg: cfg.model.lr
    )
    with pytest.raises(naga.ConfigError, match=r"unknown config key lr; did you mean model\.lr\?"):
        main(lr=0.1)
    assert main(**{"model.lr": 0.1}) == 0.1


def test_the_run_name_can_name_config_values(tmp_path: Path, naga_cli: Any) -> None:
    main = naga.clicfg(
        {"name": "mnist", "model": {"depth": 4}}, lock=False, run="train-${name}-d${model.depth}"
    )(lambda cfg: cfg.name)
    main(name="cifar")
    [run] = json.loads(naga_cli("ls", "--json").stdout)
    assert run["name"] == "train-cifar-d4"
    bad = naga.clicfg({"name": "x"}, lock=False, run="train-${nope}")(lambda cfg: cfg)
    with pytest.raises(naga.ConfigError, match=r"the config has no key nope"):
        bad.call()
