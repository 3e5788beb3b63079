"""run.lock: naga.runlock, previous stages, background hashing, lineage and verification.

Real git repositories, real files, real processes killed mid-write and real concurrent writers.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import TinyDisk, git
from omegaconf import OmegaConf

import naga
from naga.lock import lockfile


def make_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for name, text in files.items():
        (path / name).write_text(text)
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first")
    return path


def read_lock(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def run_py(code: str, cwd: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    script = cwd / "prog.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kwargs,
    )


def test_runlock_records_config_repos_data_and_prevs(tmp_path: Path) -> None:
    main_repo = make_repo(tmp_path / "project", {"train.py": "print(1)\n"})
    lib_repo = make_repo(tmp_path / "mylib", {"lib.py": "X = 1\n"})
    (lib_repo / "lib.py").write_text("X = 2\n")  # uncommitted change in the second repo
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(b"a" * 1000)
    prev = tmp_path / "prev"
    naga.runlock({"save_dir": str(prev), "k": 1})
    cfg = OmegaConf.create({"save_dir": str(tmp_path / "out"), "lr": 0.1, "lr2": "${lr}"})

    path = naga.runlock(
        cfg,
        repos={"main": main_repo, "lib": lib_repo},
        data={"train": data},
        prevs=[prev],
    )

    assert path == tmp_path / "out" / "run.lock"
    lock = read_lock(path)
    assert lock["lock_version"] == 1 and lock["naga_version"] == naga.__version__
    assert lock["status"] == "completed" and lock["config"] == {
        "save_dir": str(tmp_path / "out"),
        "lr": 0.1,
        "lr2": 0.1,
    }
    assert lock["command"] == list(getattr(sys, "orig_argv", sys.argv))
    assert lock["environment"]["python"] == sys.version.split()[0]
    head = git(main_repo, "rev-parse", "HEAD")
    assert lock["repos"]["main"]["commit"] == head and lock["repos"]["main"]["dirty"] is False
    assert lock["repos"]["main"]["branch"] == "main"
    lib = lock["repos"]["lib"]
    assert lib["dirty"] is True and lib["snapshot"] != lib["commit"]
    assert git(lib_repo, "show", f"{lib['snapshot']}:lib.py") == "X = 2"
    assert lib["ref"].startswith("refs/naga/snapshots/lock-")  # no naga run: named after the lock
    git(lib_repo, "gc", "-q", "--prune=now")
    assert git(lib_repo, "rev-parse", lib["ref"]) == lib["snapshot"]  # kept alive through gc
    assert git(lib_repo, "status", "--porcelain") == "M lib.py"  # the user's tree untouched
    assert lock["data"]["train"]["hash"] == naga.hash_data(data).hash
    assert (
        lock["data"]["train"] | {"files": 1, "size": 1000, "status": "done"}
        == lock["data"]["train"]
    )
    assert lock["prevs"][str(prev)]["status"] == "completed"
    assert lock["prevs"][str(prev)]["lock_hash"].startswith("blake3:")


def test_runlock_paths_and_missing_save_dir(tmp_path: Path) -> None:
    cfg = {"name": "x"}
    with pytest.raises(naga.ConfigError, match=r"the config has no save_dir.*runlock_path="):
        naga.runlock(cfg)
    assert naga.runlock(cfg, runlock_path=tmp_path / "a" / "my.lock").is_file()
    made = naga.runlock(cfg, runlock_path=lambda c: tmp_path / c["name"] / "run.lock")
    assert made == tmp_path / "x" / "run.lock" and made.is_file()


def test_merge_keeps_earlier_entries_and_replace_does_not(tmp_path: Path) -> None:
    (tmp_path / "d1").write_text("one")
    (tmp_path / "d2").write_text("two")
    cfg = {"save_dir": str(tmp_path / "s")}
    first = read_lock(naga.runlock(cfg, data={"d1": tmp_path / "d1"}))
    merged = read_lock(naga.runlock(cfg, data={"d2": tmp_path / "d2"}, merge=True))
    assert set(merged["data"]) == {"d1", "d2"}
    assert merged["created_at"] == first["created_at"]
    replaced = read_lock(naga.runlock(cfg, data={"d2": tmp_path / "d2"}))
    assert set(replaced["data"]) == {"d2"}


WRITER = """
import sys, naga
cfg = {"save_dir": sys.argv[1]}
for i in range(int(sys.argv[3])):
    naga.runlock(cfg, data={f"w{sys.argv[2]}-{i}": sys.argv[4]}, merge=True)
"""


def test_concurrent_merge_writers_lose_nothing(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("data")
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    save = tmp_path / "s"
    procs = [
        subprocess.Popen([sys.executable, str(script), str(save), str(w), "8", str(tmp_path / "x")])
        for w in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    lock = read_lock(save / "run.lock")
    assert set(lock["data"]) == {f"w{w}-{i}" for w in range(4) for i in range(8)}


BIG_WRITER = """
import sys, naga
cfg = {"save_dir": sys.argv[1], "blob": ["x" * 200] * 5000}
naga.runlock(cfg)
print("ready", flush=True)
i = 0
while True:
    cfg["round"] = i
    naga.runlock(cfg)
    i += 1
"""


def test_killing_the_writer_mid_write_leaves_a_valid_lock(tmp_path: Path) -> None:
    script = tmp_path / "big.py"
    script.write_text(BIG_WRITER)
    save = tmp_path / "s"
    for delay in (0.3, 0.45, 0.6, 0.75):
        with subprocess.Popen(
            [sys.executable, str(script), str(save)], stdout=subprocess.PIPE, text=True
        ) as proc:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        lock = lockfile.read(save / "run.lock")  # parses: never half a file
        assert len(lock["config"]["blob"]) == 5000
    leftovers = [p.name for p in save.iterdir() if p.name not in ("run.lock", ".run.lock.lck")]
    assert all(name.endswith(".tmp") for name in leftovers)  # only a killed write's temp file


def test_load_stage_from_path(tmp_path: Path) -> None:
    naga.runlock({"save_dir": str(tmp_path / "st"), "model": {"lr": 0.5}})
    stage = naga.load_stage_from_path(tmp_path / "st")
    assert stage.status == "completed" and stage.config.model.lr == 0.5
    assert naga.load_stage_from_path(tmp_path / "st" / "run.lock").path == tmp_path / "st"

    with pytest.raises(naga.LockError, match="does not exist: run that stage first"):
        naga.load_stage_from_path(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(naga.LockError, match=r"has no run\.lock: it has not finished"):
        naga.load_stage_from_path(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.lock").write_text("config: [unclosed\n")
    with pytest.raises(naga.LockError, match=r"is not a valid run\.lock \(not YAML"):
        naga.load_stage_from_path(tmp_path / "bad")
    (tmp_path / "bad" / "run.lock").write_text("just: yaml\n")
    with pytest.raises(naga.LockError, match="no lock_version"):
        naga.load_stage_from_path(tmp_path / "bad")


STAGES = """
import sys, time, naga

@naga.clicfg({"prev": None, "stage": "${naga.stage:${prev}}", "data": "${naga.track:raw}",
              "save_dir": "runs/${name}", "name": "a", "fail": False, "sleep": 0.0},
             repos=None)
def main(cfg):
    print("started", flush=True)
    # Steps of 0.1 s, as a training loop: CPython runs a signal's handler only once a blocking
    # call returns, and a signal landing between the print and one long sleep would wait it out.
    for _ in range(int(cfg.sleep * 10)):
        time.sleep(0.1)
    if cfg.fail:
        raise RuntimeError("boom")
    print(open("runs/" + cfg.name + "/run.lock").read().count("status: pending"))

main()
"""


def test_stage_and_track_resolvers(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "x.txt").write_text("hello")
    code = STAGES.replace('"prev": None, "stage": "${naga.stage:${prev}}", ', "")
    done = run_py(code, tmp_path, "name=first")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "started\n1\n"  # the hash was still pending while main ran
    first = read_lock(tmp_path / "runs" / "first" / "run.lock")
    assert first["status"] == "completed"
    entry = first["data"]["data"]
    assert entry["status"] == "done" and entry["hash"] == naga.hash_data(tmp_path / "raw").hash
    assert "token" not in entry

    done = run_py(STAGES, tmp_path, "prev=runs/first", "name=second")
    assert done.returncode == 0, done.stderr
    second = read_lock(tmp_path / "runs" / "second" / "run.lock")
    assert second["prevs"]["stage"]["path"] == str(tmp_path / "runs" / "first")
    assert second["prevs"]["stage"]["data"] == {"data": entry["hash"]}

    done = run_py(STAGES, tmp_path, "prev=runs/nope", "name=third")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "stage: previous stage" in done.stderr and "run that stage first" in done.stderr
    assert not (tmp_path / "runs" / "third").exists()

    done = run_py(STAGES, tmp_path, "prev=runs/first", "name=broken", "fail=true")
    assert done.returncode == 1 and "RuntimeError: boom" in done.stderr
    broken = read_lock(tmp_path / "runs" / "broken" / "run.lock")
    assert broken["status"] == "failed" and broken["error"] == "RuntimeError: boom"
    done = run_py(STAGES, tmp_path, "prev=runs/broken", "name=after")
    assert done.returncode == 2
    assert "runs/broken is failed, not completed: finish (or rerun) that stage" in done.stderr

    done = run_py(STAGES.replace("raw}", "missing}"), tmp_path, "prev=runs/first")
    assert done.returncode == 2 and "data: data path missing does not exist" in done.stderr


def test_background_hash_interrupted_is_recorded_incomplete(tmp_path: Path) -> None:
    big = tmp_path / "raw"
    big.mkdir()
    with open(big / "large.bin", "wb") as handle:  # sparse: 4 GB to hash, no disk used
        handle.truncate(4 << 30)
    code = STAGES.replace('"prev": None, "stage": "${naga.stage:${prev}}", ', "")
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), "sleep=30"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "started\n"
        lock_path = tmp_path / "runs" / "a" / "run.lock"
        assert read_lock(lock_path)["data"]["data"]["status"] == "pending"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) != 0
    lock = read_lock(lock_path)
    assert lock["status"] == "cancelled"
    assert lock["data"]["data"]["status"] == "incomplete" and "hash" not in lock["data"]["data"]
    check = subprocess.run(
        [sys.executable, "-m", "naga", "lock", "verify", str(lock_path.parent)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 1 and "cannot verify, incomplete" in check.stdout


def test_verify_detects_drift(tmp_path: Path, naga_cli: Any) -> None:
    repo = make_repo(tmp_path / "code", {"a.py": "1\n"})
    data = tmp_path / "data.txt"
    data.write_text("abcd")
    prev = tmp_path / "prev"
    naga.runlock({"save_dir": str(prev)})
    naga.runlock(
        {"save_dir": str(tmp_path / "s")}, repos={"code": repo}, data={"d": data}, prevs=[prev]
    )
    ok = naga_cli("lock", "verify", str(tmp_path / "s"))
    assert ok.returncode == 0, ok.stdout
    assert b"everything matches" in ok.stdout

    data.write_text("abce")  # same size, new content
    (repo / "a.py").write_text("2\n")
    git(repo, "commit", "-qam", "second")
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    git(repo, "commit", "-q", "--amend", "-m", "rewritten")  # the recorded commit leaves history
    for ref in git(repo, "for-each-ref", "--format=%(refname)", "refs/naga").split():
        git(repo, "update-ref", "-d", ref)
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    naga.runlock({"save_dir": str(prev), "again": True})  # the previous stage was redone

    drift = naga_cli("lock", "verify", str(tmp_path / "s" / "run.lock"), "--json")
    assert drift.returncode == 1
    report = json.loads(drift.stdout)
    problems = {c["kind"]: c["detail"] for c in report["checks"] if not c["ok"]}
    assert set(problems) == {"repo", "data", "stage"}
    assert "is no longer in" in problems["repo"]
    assert "changed: recorded" in problems["data"]
    assert "was rerun or changed since" in problems["stage"]
    text = naga_cli("lock", "verify", str(tmp_path / "s"))
    assert text.returncode == 1 and b"3 problem(s) found" in text.stdout


def test_verify_checks_the_whole_lineage_unless_shallow(tmp_path: Path, naga_cli: Any) -> None:
    data = tmp_path / "raw.csv"
    data.write_text("a,b\n1,2\n")
    naga.runlock({"save_dir": str(tmp_path / "prep")}, data={"raw": data})
    naga.runlock({"save_dir": str(tmp_path / "train")}, prevs=[tmp_path / "prep"])
    assert naga_cli("lock", "verify", str(tmp_path / "train")).returncode == 0

    data.write_text("a,b\n1,3\n")  # the data two stages up drifted
    deep = naga_cli("lock", "verify", str(tmp_path / "train"), "--json")
    assert deep.returncode == 1, deep.stdout
    report = json.loads(deep.stdout)
    assert [Path(s["lock"]).parent.name for s in report["stages"]] == ["train", "prep"]
    [upstream] = [s for s in report["stages"] if not s["ok"]]
    assert [c["kind"] for c in upstream["checks"] if not c["ok"]] == ["data"]
    text = naga_cli("lock", "verify", str(tmp_path / "train")).stdout.decode()
    assert "(upstream)" in text and "1 problem(s) found" in text
    shallow = naga_cli("lock", "verify", "--shallow", str(tmp_path / "train"))
    assert shallow.returncode == 0, shallow.stdout


def test_lineage_prints_the_dag(tmp_path: Path, naga_cli: Any) -> None:
    def stage(name: str, *prevs: str) -> Path:
        return naga.runlock({"save_dir": str(tmp_path / name)}, prevs=[tmp_path / p for p in prevs])

    stage("raw")
    stage("clean", "raw")
    stage("feats", "raw")
    stage("train", "clean", "feats")
    with naga.run(name="eval") as run:
        naga.runlock({"save_dir": str(tmp_path / "eval")}, prevs=[tmp_path / "train"])
    out = naga_cli("lineage", str(tmp_path / "eval")).stdout.decode()
    path = re.escape(str(tmp_path))
    lines = [re.sub(rf"({path}/\w+)  .*$", r"\1", line) for line in out.splitlines()]
    assert lines == [
        f"{tmp_path}/eval",
        f"└── {tmp_path}/train",
        f"    ├── {tmp_path}/clean",
        f"    │   └── {tmp_path}/raw",
        f"    └── {tmp_path}/feats",
        f"        └── {tmp_path}/raw",
    ]
    assert out.splitlines()[-1].endswith("(shown above)")
    by_id = naga_cli("lineage", run.id, "--json")
    assert by_id.returncode == 0
    tree = json.loads(by_id.stdout)
    assert tree["run_id"] == run.id and tree["inputs"][0]["path"] == f"{tmp_path}/train"
    assert tree["path"] == f"{tmp_path}/eval"  # the stage directory, not the run's copy

    missing = naga_cli("lineage", "zzzzzz")
    assert missing.returncode == 1
    assert missing.stderr.decode().startswith("naga: error: zzzzzz is neither a path nor a run")


def test_the_pipeline_example_as_the_readme_runs_it(tmp_path: Path, naga_cli: Any) -> None:
    import shutil

    example = Path(__file__).resolve().parent.parent / "examples" / "pipeline"
    work = tmp_path / "pipeline"
    shutil.copytree(example, work, ignore=shutil.ignore_patterns("runs"))

    def python(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], cwd=work, capture_output=True, text=True, check=False
        )

    assert python("prep.py").returncode == 0
    (prep,) = (work / "runs" / "prep").iterdir()
    done = python("train.py", f"prev=runs/prep/{prep.name}", "epochs=20")
    assert done.returncode == 0, done.stderr
    (train,) = (work / "runs" / "train").iterdir()
    lock = read_lock(train / "run.lock")
    assert lock["status"] == "completed" and lock["prevs"]["stage"]["path"] == str(prep)
    assert read_lock(prep / "run.lock")["data"]["source"]["status"] == "done"
    assert "w=" in (train / "experiment.log").read_text()
    runs = json.loads(naga_cli("ls", "--json").stdout)
    assert [(r["name"], r["params"]["epochs"]) for r in runs] == [("train", 20)]

    tree = naga_cli("lineage", str(train), cwd=work).stdout.decode().splitlines()
    assert tree[0].startswith(str(train)) and tree[1].startswith(f"└── {prep}  [stage]")
    assert naga_cli("lock", "verify", str(train), cwd=work).returncode == 0
    (work / "raw.csv").write_text("1,1\n")  # stage 1's input changes afterwards
    drift = naga_cli("lock", "verify", str(prep), cwd=work)
    assert drift.returncode == 1 and b"raw.csv changed" in drift.stdout

    refused = python("train.py", "prev=runs/nowhere")
    assert refused.returncode == 2 and "run that stage first" in refused.stderr


SLEEPER = """
import time, naga

@naga.clicfg({"save_dir": "out", "sleep": 30.0}, repos=None)
def main(cfg):
    print("started", flush=True)
    # Steps of 0.1 s, as a training loop: CPython runs a signal's handler only once a blocking
    # call returns, and a signal landing between the print and one long sleep would wait it out.
    for _ in range(int(cfg.sleep * 10)):
        time.sleep(0.1)

main()
"""


@pytest.mark.parametrize(("sig", "status"), [("SIGTERM", "cancelled"), ("SIGKILL", "crashed")])
def test_a_stage_killed_mid_run(tmp_path: Path, sig: str, status: str, naga_cli: Any) -> None:
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    with subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "started\n"
        proc.send_signal(getattr(signal, sig))
        code = proc.wait(timeout=30)
    assert code == (143 if sig == "SIGTERM" else -9)
    stage = naga.load_stage_from_path(tmp_path / "out")
    assert stage.status == status  # a SIGKILLed stage is not left "running" forever
    with pytest.raises(naga.LockError, match=f"is {status}, not completed"):
        naga.load_stage_from_path(tmp_path / "out", require_completed=True)
    assert f"  {status}" in naga_cli("lineage", str(tmp_path / "out")).stdout.decode()


def test_url_credentials_never_reach_the_lock(tmp_path: Path) -> None:
    secret = "https://user:hunter2@example.com/data"
    path = naga.runlock({"save_dir": str(tmp_path), "source": secret, "list": [secret]})
    text = path.read_text()
    assert "hunter2" not in text and "https://user:***@example.com/data" in text


def test_verify_an_unborn_repository_checks_its_snapshot(tmp_path: Path, naga_cli: Any) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")  # no commit yet: the snapshot is the only record
    (repo / "train.py").write_text("print(1)\n")
    naga.runlock({"save_dir": str(tmp_path / "s")}, repos={"code": repo})
    entry = read_lock(tmp_path / "s" / "run.lock")["repos"]["code"]
    assert entry["commit"] is None and entry["snapshot"]
    ok = naga_cli("lock", "verify", str(tmp_path / "s"))
    assert ok.returncode == 0, ok.stdout
    assert f"snapshot {entry['snapshot'][:12]} (no commit yet)".encode() in ok.stdout

    for ref in git(repo, "for-each-ref", "--format=%(refname)", "refs/naga").split():
        git(repo, "update-ref", "-d", ref)
    git(repo, "gc", "-q", "--prune=now")
    drift = naga_cli("lock", "verify", str(tmp_path / "s"))
    assert drift.returncode == 1 and b"is no longer in" in drift.stdout


DELETES_ITS_LOCK = """
import os, shutil, sys
import naga

@naga.clicfg(
    {"save_dir": "out", "data": "${naga.track:data.txt}", "what": "lock"}, repos=None
)
def main(cfg):
    if cfg.what == "lock":
        os.remove(os.path.join(cfg.save_dir, "run.lock"))
    else:
        shutil.rmtree(cfg.save_dir)
    return 7

print("returned", main())
"""


@pytest.mark.parametrize("what", ["lock", "dir"])
def test_a_lock_deleted_while_main_runs_is_no_traceback(tmp_path: Path, what: str) -> None:
    (tmp_path / "data.txt").write_text("abc")
    done = run_py(DELETES_ITS_LOCK, tmp_path, f"what={what}")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "returned 7\n"
    assert "Traceback" not in done.stderr
    if what == "lock":  # written again from what the run knows, with how it ended
        lock = read_lock(tmp_path / "out" / "run.lock")
        assert lock["status"] == "completed"
        assert lock["data"]["data"]["status"] in ("done", "incomplete")
    else:  # the user removed the whole directory: naga does not bring it back
        assert not (tmp_path / "out").exists()


def test_an_error_before_the_first_lock_is_the_error_shown(tmp_path: Path) -> None:
    done = run_py(
        """
        import naga
        @naga.clicfg({"save_dir": "out"}, repos={"lib": "no such repo"})
        def main(cfg):
            print("ran")
        main()
        """,
        tmp_path,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "no such repo" in done.stderr and "vanished" not in done.stderr


def test_a_lock_broken_while_main_runs_is_rewritten(tmp_path: Path) -> None:
    code = """
import naga
@naga.clicfg({"save_dir": "out"}, repos=None)
def main(cfg):
    open("out/run.lock", "w").write("status: [unclosed\\n")
main()
"""
    done = run_py(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "is not a valid run.lock" in done.stderr and "Traceback" not in done.stderr
    assert naga.load_stage_from_path(tmp_path / "out").status == "completed"


def test_a_full_disk_when_main_ends_is_one_line_and_keeps_the_lock(
    tmp_path: Path, tiny_disk: TinyDisk
) -> None:
    disk = tiny_disk("1m")
    code = f"""
import os, naga
@naga.clicfg({{"save_dir": "{disk}/out", "blob": ["x" * 100] * 2000}}, repos=None)
def main(cfg):
    fd = os.open("{disk}/filler", os.O_WRONLY | os.O_CREAT)  # the training fills the disk
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        os.close(fd)
main()
"""
    done = run_py(code, tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "free some space" in done.stderr
    lock = read_lock(disk / "out" / "run.lock")  # the first record is still whole
    assert lock["status"] == "running" and len(lock["config"]["blob"]) == 2000


def test_lineage_of_an_unreadable_lock_is_an_error(tmp_path: Path, naga_cli: Any) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.lock").write_bytes(b"\xff\xfe")
    done = naga_cli("lineage", str(tmp_path / "bad"))
    assert done.returncode == 1 and done.stderr.count(b"\n") == 1
    assert b"is not a valid run.lock" in done.stderr


SAVES_INSIDE_ITS_REPO = """
import naga

@naga.clicfg({"save_dir": "runs/exp"})
def main(cfg):
    print("ran")

main()
"""


def test_a_run_s_own_outputs_stay_out_of_its_snapshot(tmp_path: Path) -> None:
    """save_dir inside the repository, not ignored: what it holds (an old checkpoint, the
    log clicfg starts there) is output, not code; other untracked files are kept."""
    repo = make_repo(tmp_path / "project", {"README": "project\n"})
    (repo / "helper.py").write_text("X = 1\n")
    (repo / "runs" / "exp").mkdir(parents=True)
    (repo / "runs" / "exp" / "old.ckpt").write_text("weights\n")
    (repo / "runs" / "notes.txt").write_text("kept\n")
    done = run_py(SAVES_INSIDE_ITS_REPO, repo)
    assert done.returncode == 0, done.stderr
    snapshot = read_lock(repo / "runs" / "exp" / "run.lock")["repos"]["main"]["snapshot"]
    files = set(git(repo, "ls-tree", "-r", "--name-only", snapshot).split("\n"))
    assert {"README", "helper.py", "prog.py", "runs/notes.txt"} <= files
    assert not [f for f in files if f.startswith("runs/exp/")], files

    out = repo / "runs" / "by-hand"  # naga.runlock: its save_dir the same way
    out.mkdir()
    (out / "model.pt").write_text("weights\n")
    path = naga.runlock({"save_dir": str(out)}, repos={"main": repo})
    files = set(
        git(
            repo, "ls-tree", "-r", "--name-only", read_lock(path)["repos"]["main"]["snapshot"]
        ).split("\n")
    )
    assert "helper.py" in files and not [f for f in files if f.startswith("runs/by-hand/")]
