"""The trust boundary of ``naga rerun`` and secrets in a command line (issue #16), end to end.

Real runs, real records edited as a teammate's would differ (``user``/``host``), a real pull
from a local-path remote, a real pty answering the question, and the store's files searched for
the secret values afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, runs_json
from hypothesis import given
from hypothesis import strategies as st
from test_terminal_and_signals import Terminal

from naga.launch import RunRequest, run_command
from naga.redact import MASK, mask_argv, masked_slots

# Writes what it ran with into marker files in its own directory: that it ran at all, its
# arguments, which interpreter ran it.
SCRIPT = """\
import os, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "ran.txt"), "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
with open(os.path.join(here, "interpreter.txt"), "w") as f:
    f.write(sys.executable + "\\n" + os.environ.get("PYTHONPATH", "-"))
"""
OSC_TITLE = "\x1b]0;pwned\x07"


def newest(naga: Naga) -> str:
    return str(runs_json(naga)[0]["id"])


def meta_path(tmp_path: Path, run_id: str, store: str = "store") -> Path:
    return tmp_path / store / "runs" / run_id / "meta.json"


def as_teammates(path: Path, **changes: Any) -> None:
    """The record as if another user on another host had made it."""
    meta = json.loads(path.read_text())
    meta.update({"user": "mallory", "host": "elsewhere", **changes})
    path.write_text(json.dumps(meta))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    where = tmp_path / "proj"
    where.mkdir()
    (where / "train.py").write_text(SCRIPT)
    return where


def ran(project: Path) -> list[str]:
    marker = project / "ran.txt"
    return marker.read_text().splitlines() if marker.exists() else []


def record(naga: Naga, project: Path, *args: str) -> str:
    done = naga("run", sys.executable, "train.py", *args, cwd=project)
    assert done.returncode == 0, done.stderr
    (project / "ran.txt").unlink()
    return newest(naga)


def one_error(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("naga: error: "), done.stderr
    return lines[0]


# -- confirmation ------------------------------------------------------------------------------


def test_own_run_reruns_without_a_question(naga: Naga, project: Path) -> None:
    run_id = record(naga, project, "--lr", "1")
    done = naga("rerun", run_id, "--here", cwd=project)
    assert done.returncode == 0, done.stderr
    assert ran(project) == ["--lr 1"]


def test_teammates_run_without_a_terminal_is_refused_unless_yes(
    naga: Naga, project: Path, tmp_path: Path
) -> None:
    run_id = record(naga, project, "--lr", "1")
    as_teammates(meta_path(tmp_path, run_id))
    refused = naga("rerun", run_id, "--here", cwd=project)
    assert refused.returncode == 2
    line = one_error(refused)
    assert "mallory@elsewhere" in line and "--yes" in line
    assert ran(project) == []  # nothing ran

    done = naga("rerun", run_id, "--here", "--yes", cwd=project)
    assert done.returncode == 0, done.stderr
    assert ran(project) == ["--lr 1"]


def test_a_record_without_user_or_host_counts_as_anothers(
    naga: Naga, project: Path, tmp_path: Path
) -> None:
    run_id = record(naga, project)
    as_teammates(meta_path(tmp_path, run_id), user=None)
    refused = naga("rerun", run_id, "--here", cwd=project)
    assert refused.returncode == 2 and "?@elsewhere" in one_error(refused)
    assert ran(project) == []
    as_teammates(meta_path(tmp_path, run_id), user=None, host=["not", "a", "host"])
    invalid = naga("rerun", run_id, "--here", "--yes", cwd=project)  # not a record at all
    assert invalid.returncode == 1 and "not a valid naga run record" in one_error(invalid)
    assert ran(project) == []


@pytest.mark.parametrize(("answer", "runs"), [(b"n\n", False), (b"y\n", True), (b"\n", False)])
def test_teammates_run_on_a_terminal_shows_the_command_inertly_and_asks(
    naga: Naga, project: Path, tmp_path: Path, answer: bytes, runs: bool
) -> None:
    run_id = record(naga, project, OSC_TITLE)
    as_teammates(meta_path(tmp_path, run_id))
    term = Terminal(["rerun", run_id, "--here"], cwd=project)
    seen = term.read_until(b"Run it? [y/N]")
    assert b"mallory@elsewhere" in seen
    assert b"\x1b]0;" not in seen and b"\\x1b]0;pwned\\x07" in seen  # shown, never obeyed
    term.type(answer)
    code = term.finish()
    assert (code == 0) is runs, term.seen
    assert (ran(project) == [OSC_TITLE]) is runs
    if not runs:
        assert b"you said no" in term.seen


def test_teammates_run_never_picks_the_interpreter_or_pythonpath(
    naga: Naga, project: Path, tmp_path: Path
) -> None:
    """A record naming an interpreter (``python.executable``) and a PYTHONPATH of its own: an
    own run gets them back, a teammate's gets the local ones."""
    trap = tmp_path / "trap"
    trap.mkdir()
    fake = trap / "python3"
    fake.write_text(f"#!/bin/sh\necho trapped > {project}/trapped.txt\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    local_python = shutil.which("python3")
    assert local_python is not None
    done = naga("run", "python3", "train.py", cwd=project)
    assert done.returncode == 0, done.stderr
    run_id = newest(naga)
    meta = json.loads(meta_path(tmp_path, run_id).read_text())
    meta["python"] = {"executable": str(fake), "version": "3"}
    meta["env"] = {**meta["env"], "PYTHONPATH": str(trap)}
    meta_path(tmp_path, run_id).write_text(json.dumps(meta))

    own = naga("rerun", run_id, "--here", cwd=project)  # recorded here: trusted, as before
    assert own.returncode == 0, own.stderr
    assert (project / "trapped.txt").exists()
    (project / "trapped.txt").unlink()

    as_teammates(meta_path(tmp_path, run_id))
    done = naga("rerun", run_id, "--here", "--yes", cwd=project)
    assert done.returncode == 0, done.stderr
    assert not (project / "trapped.txt").exists()
    interpreter, pythonpath = (project / "interpreter.txt").read_text().splitlines()
    assert not interpreter.startswith(str(trap)) and pythonpath != str(trap)


@pytest.mark.skipif(shutil.which("rclone") is None, reason="needs rclone (scripts/test does it)")
def test_a_pulled_teammates_run_asks_before_it_runs(
    naga: Naga, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rclone.conf").write_text("")
    monkeypatch.setenv("RCLONE_CONFIG", str(tmp_path / "rclone.conf"))
    run_id = record(naga, project, "--lr", "1")
    remote = tmp_path / "team remote"
    assert naga("push", str(remote), run_id).returncode == 0
    as_teammates(remote / "runs" / run_id / "meta.json")
    mine = {**os.environ, "NAGA_HOME": str(tmp_path / "mine")}
    pulled = naga("pull", str(remote), run_id, env=mine)
    assert pulled.returncode == 0, pulled.stderr
    refused = naga("rerun", run_id, "--here", cwd=project, env=mine)
    assert refused.returncode == 2 and "mallory@elsewhere" in one_error(refused)
    assert ran(project) == []


# -- secrets in argv ---------------------------------------------------------------------------

SECRETS = ["hunter2", "abc123key", "s3cr3tpw", "tok-zzz", "cookie-yum"]
ARGS = [
    "--password",
    "hunter2",
    "--api-key=abc123key",
    "--url",
    "https://bob:s3cr3tpw@data.example/x",
    "db.token=tok-zzz",
    "--max-tokens",
    "5",
    "--session-cookie",
    "cookie-yum",
]


def store_bytes(root: Path) -> bytes:
    """Every byte of the store, the SQLite index included."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_secret_arguments_are_masked_in_every_record(
    naga: Naga, project: Path, tmp_path: Path
) -> None:
    run_id = record(naga, project, *ARGS)
    for command in (["ls", "--json"], ["show", run_id], ["show", "--json", run_id]):
        shown = naga(*command)
        assert shown.returncode == 0, shown.stderr
        for secret in SECRETS:
            assert secret.encode() not in shown.stdout, (command, secret)
    meta = json.loads(meta_path(tmp_path, run_id).read_text())
    assert meta["argv"][2:] == [
        "--password",
        MASK,
        f"--api-key={MASK}",
        "--url",
        f"https://bob:{MASK}@data.example/x",
        f"db.token={MASK}",
        "--max-tokens",
        "5",  # no secret: --max-tokens is not --token
        "--session-cookie",
        MASK,
    ]
    everything = store_bytes(tmp_path / "store")
    for secret in SECRETS:
        assert secret.encode() not in everything
    with closing(sqlite3.connect(next((tmp_path / "store" / "index").glob("*.sqlite")))) as db:
        commands = [row[0] for row in db.execute("select command from runs")]
    assert commands and all("hunter2" not in c and MASK in c for c in commands)


def test_rerun_asks_for_masked_values_instead_of_running_stars(
    naga: Naga, project: Path, tmp_path: Path
) -> None:
    run_id = record(naga, project, *ARGS)
    refused = naga("rerun", run_id, "--here", cwd=project)
    assert refused.returncode == 2
    line = one_error(refused)
    for key in ("password", "api-key", "url", "db.token", "session-cookie"):
        assert f"--set {key}=VALUE" in line
    assert ran(project) == []

    given = ["pw-given-1", "key-given-2", "url-given-3", "tok-given-4", "jar-given-5"]
    sets = [
        f"password={given[0]}",
        f"api-key={given[1]}",
        f"url=https://bob:{given[2]}@h/x",
        f"db.token={given[3]}",
        f"session-cookie={given[4]}",
    ]
    done = naga("rerun", run_id, "--here", *(a for s in sets for a in ("--set", s)), cwd=project)
    assert done.returncode == 0, done.stderr
    assert ran(project) == [
        f"--password {given[0]} --api-key={given[1]} --url https://bob:{given[2]}@h/x"
        f" db.token={given[3]} --max-tokens 5 --session-cookie {given[4]}"
    ]
    rerun_id = newest(naga)
    everything = store_bytes(tmp_path / "store")
    for given_value in (g.encode() for g in given):
        assert given_value not in everything  # the new record masks what was given too
    assert json.loads(meta_path(tmp_path, rerun_id).read_text())["rerun"]["set"][0] == (
        f"password={MASK}"
    )


def test_rerun_on_a_terminal_prompts_for_masked_values_unechoed(naga: Naga, project: Path) -> None:
    run_id = record(naga, project, "--token", "abc", "https://u:pw@host/x")
    term = Terminal(["rerun", run_id, "--here"], cwd=project)
    term.read_until(b"--token was masked")
    term.type(b"typed-token\n")
    term.read_until(b"argument 4")
    term.type(b"https://u:typed-pw@host/x\n")
    assert term.finish() == 0, term.seen
    assert b"typed-token" not in term.seen and b"typed-pw" not in term.seen  # not echoed
    assert ran(project) == ["--token typed-token https://u:typed-pw@host/x"]


# -- the policy itself -------------------------------------------------------------------------

_value = st.text(st.characters(blacklist_categories=("Cs",)), min_size=4).filter(
    lambda v: not v.startswith("-") and MASK not in v and "=" not in v
)
_flag = st.sampled_from(
    ["--password", "--api-key", "--token", "--secret", "--aws-secret-access-key", "-passwd"]
)


@given(flag=_flag, value=_value, before=st.lists(st.sampled_from(["--lr", "0.1", "x=1"])))
def test_a_secret_flag_value_is_never_recorded(flag: str, value: str, before: list[str]) -> None:
    argv = ["prog", *before, flag, value]
    masked = mask_argv(argv)
    assert value not in masked[len(before) + 1 :] and masked[-1] == MASK
    (slot,) = [s for s in masked_slots(masked) if s.index == len(argv) - 1]
    assert slot.key == flag.lstrip("-")
    joined = mask_argv(["prog", *before, f"{flag}={value}"])
    assert joined[-1] == f"{flag}={MASK}"


@given(user=st.from_regex(r"[a-z]{1,8}", fullmatch=True), pw=_value.filter(str.isalnum))
def test_url_credentials_in_argv_are_masked(user: str, pw: str) -> None:
    masked = mask_argv(["prog", f"https://{user}:{pw}@host.example/path"])
    assert masked[1] == f"https://{user}:{MASK}@host.example/path"
    assert [s.index for s in masked_slots(masked)] == [1]


@pytest.mark.parametrize(
    "args",
    [
        ["--max-tokens", "5"],
        ["--monkey", "x"],
        ["--token-file", "/p"],
        ["--author", "me"],
        ["-p", "x"],
        ["--lr=0.1"],
    ],
)
def test_ordinary_arguments_stay(args: list[str]) -> None:
    assert mask_argv(["prog", *args]) == ["prog", *args]


# -- runs launched without moving the process --------------------------------------------------


def test_run_command_runs_in_the_given_directory_and_environment(tmp_path: Path) -> None:
    """The library seam: cwd, env and store are the request's; this process keeps its own."""
    elsewhere = tmp_path / "elsewhere dir"
    elsewhere.mkdir()
    script = "import os; print(os.getcwd()); print(os.environ.get('ONLY_IN_REQUEST'))"
    env = {"PATH": os.environ["PATH"], "ONLY_IN_REQUEST": "yes"}
    cwd_before, env_before = os.getcwd(), dict(os.environ)
    ended: list[dict[str, Any]] = []
    request = RunRequest(
        [sys.executable, "-c", script],
        cwd=str(elsewhere),
        env=env,
        store_root=str(tmp_path / "req store"),
    )
    read, write = os.pipe()
    saved = os.dup(1)
    os.dup2(write, 1)
    try:
        code = run_command(request, on_end=ended.append)
    finally:
        os.dup2(saved, 1)
        os.close(write)
    printed = os.read(read, 4096).decode().splitlines()
    assert code == 0 and printed == [str(elsewhere), "yes"]
    assert os.getcwd() == cwd_before and dict(os.environ) == env_before
    assert ended[0]["cwd"] == str(elsewhere)
    assert (tmp_path / "req store" / "runs" / ended[0]["id"] / "meta.json").exists()


def test_run_command_finds_the_program_on_the_requests_path(tmp_path: Path) -> None:
    """A program found only on the request's PATH (a rerun's restored venv): started from
    there, not from this process's PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "only-here-tool"
    tool.write_text(f"#!/bin/sh\necho ok > '{tmp_path}/tool-ran'\n")
    tool.chmod(0o755)
    request = RunRequest(
        ["only-here-tool"],
        cwd=os.getcwd(),
        env={"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"},
        store_root=str(tmp_path / "s"),
    )
    assert run_command(request) == 0
    assert (tmp_path / "tool-ran").read_text() == "ok\n"


@given(st.text())
def test_inert_text_holds_no_control_or_format_character(text: str) -> None:
    import unicodedata

    from naga.cli.run_fast import inert

    shown = inert(text)
    assert all(unicodedata.category(c) not in ("Cc", "Cf") for c in shown)
    if text.isprintable():
        assert shown == text


def test_config_secrets_are_masked_in_every_record(tmp_path: Path, naga: Naga, store: Path) -> None:
    """clicfg values under secret-looking keys and URL credentials: the program gets them,
    params, meta.json, the index, show, ls --json and run.lock get ``***``."""
    program = tmp_path / "train.py"
    program.write_text(
        "import naga\n"
        "@naga.clicfg({'db': {'password': 'hunter2', 'url': 'postgresql://bob:s3cret@db/x'},"
        " 'api_key': 'AK-1234', 'token_count': 5, 'save_dir': 'out'}, run='train')\n"
        "def main(cfg):\n"
        "    assert cfg.db.password == 'hunter2' and cfg.api_key == 'AK-1234'\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    )
    done = subprocess.run(
        [sys.executable, str(program)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    [run] = json.loads(naga("ls", "--all", "--json").stdout)
    params = json.loads(naga("show", "--json", run["id"]).stdout)["params"]
    assert params["db.password"] == "***" and params["api_key"] == "***"
    assert params["db.url"] == "postgresql://bob:***@db/x" and params["token_count"] == 5
    lock = (tmp_path / "out" / "run.lock").read_text()
    assert "password: '***'" in lock or 'password: "***"' in lock or "password: ***" in lock
    leaked = [
        path
        for root in (store, tmp_path / "out")
        for path in root.rglob("*")
        if path.is_file() and (b"hunter2" in path.read_bytes() or b"AK-1234" in path.read_bytes())
    ]
    assert leaked == []
