"""naga rerun, naga branch and naga run --require-clean: real git repositories, real processes.

The recorded command prints a hash of its own source file, so a rerun that restored the code
exactly prints the same hash as the original run, whatever the checkout holds by then.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, git, runs_json

TRAIN = """\
import hashlib, os, sys
source = open(__file__, "rb").read()
print("code", hashlib.sha256(source).hexdigest()[:16])
print("args", " ".join(sys.argv[1:]))
print("seed", os.environ.get("PYTHONHASHSEED", "-"))
"""


def output(done: subprocess.CompletedProcess[bytes]) -> dict[str, str]:
    lines = done.stdout.decode().splitlines()
    return dict(line.split(" ", 1) for line in lines if " " in line)


def show(naga: Naga, run_id: str) -> dict[str, Any]:
    done = naga("show", "--json", run_id)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def newest(naga: Naga) -> str:
    return str(runs_json(naga)[0]["id"])


def checkout_state(repo: Path) -> dict[str, str]:
    """Everything a rerun must leave alone: files, index, HEAD, branch, worktrees."""
    return {
        "status": git(repo, "status", "--porcelain=v2", "--branch", "-uall"),
        "index": git(repo, "ls-files", "--stage"),
        "staged": git(repo, "diff", "--cached"),
        "unstaged": git(repo, "diff"),
        "head": git(repo, "rev-parse", "HEAD"),
        "branch": git(repo, "symbolic-ref", "HEAD"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "train.py": (repo / "train.py").read_text(),
    }


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "train.py").write_text(TRAIN)
    git(git_repo, "commit", "-qam", "train prints its own hash")
    return git_repo


def test_rerun_restores_the_exact_dirty_code_and_leaves_the_checkout_alone(
    naga: Naga, project: Path
) -> None:
    (project / "train.py").write_text(TRAIN + "# uncommitted tweak\n")
    first = naga("run", sys.executable, "train.py", "--lr", "0.1", cwd=project)
    assert first.returncode == 0, first.stderr
    original = newest(naga)
    # The user moves on: commits the tweak, edits again, stages another file.
    git(project, "commit", "-qam", "tweak")
    (project / "train.py").write_text(TRAIN + "# something else entirely\n")
    (project / "notes.txt").write_text("staged\n")
    git(project, "add", "notes.txt")
    before = checkout_state(project)

    again = naga("rerun", original, cwd=project)

    assert again.returncode == 0, again.stderr
    assert output(again)["code"] == output(first)["code"]
    assert output(again)["args"] == "--lr 0.1"
    assert checkout_state(project) == before
    rerun = show(naga, newest(naga))
    assert rerun["rerun_of"] == original
    assert rerun["rerun"]["code"]["patch"] is True
    assert rerun["argv"] == show(naga, original)["argv"]
    assert b"Rerun of  " + original.encode() in naga("show", rerun["id"]).stdout


def test_rerun_restores_the_recorded_environment(naga: Naga, project: Path) -> None:
    code = "import os; e = os.environ.get; print('seed', e('PYTHONHASHSEED'));"
    code += " print('key', e('WANDB_API_KEY')); print('omp', e('OMP_NUM_THREADS'))"
    env = {**os.environ, "PYTHONHASHSEED": "123", "WANDB_API_KEY": "s3cret"}
    env.pop("OMP_NUM_THREADS", None)
    assert naga("run", sys.executable, "-c", code, cwd=project, env=env).returncode == 0
    original = newest(naga)
    now = {**env, "PYTHONHASHSEED": "999", "WANDB_API_KEY": "other", "OMP_NUM_THREADS": "7"}
    again = naga("rerun", original, cwd=project, env=now)
    assert again.returncode == 0, again.stderr
    # recorded values come back, a recorded kind of variable the run lacked is unset, and a
    # secret (never recorded) keeps its current value
    assert output(again) == {"seed": "123", "key": "other", "omp": "None"}
    assert b"WANDB_API_KEY was masked in run " + original.encode() in again.stderr
    assert show(naga, newest(naga))["env"]["PYTHONHASHSEED"] == "123"


def test_rerun_takes_neither_the_recorded_job_nor_the_trial(naga: Naga, project: Path) -> None:
    """Where a run ran is no setting to restore: a rerun of a search trial ran reporting into
    that trial of the study ($NAGA_TRIAL), and a rerun of a Slurm task recorded the original's
    job as its own; the current job (or none) is the rerun's."""
    code = "import os; e = os.environ.get; print('trial', e('NAGA_TRIAL'))"
    code += "; print('job', e('SLURM_JOB_ID'))"
    trial = json.dumps({"journal": str(project / "study.journal"), "trial_id": 3})
    env = {**os.environ, "NAGA_TRIAL": trial, "SLURM_JOB_ID": "5", "SLURM_RESTART_COUNT": "1"}
    assert naga("run", sys.executable, "-c", code, cwd=project, env=env).returncode == 0
    original = newest(naga)
    assert show(naga, original)["slurm"]["job_id"] == "5"
    again = naga("rerun", original, cwd=project)
    assert again.returncode == 0, again.stderr
    assert output(again) == {"trial": "None", "job": "None"}
    rerun = show(naga, newest(naga))
    assert rerun["slurm"] is None
    assert not [k for k in rerun["env"] if k.startswith("SLURM_") or k == "NAGA_TRIAL"]
    in_a_job = naga("rerun", original, cwd=project, env={**os.environ, "SLURM_JOB_ID": "77"})
    assert output(in_a_job)["job"] == "77"
    assert show(naga, newest(naga))["slurm"]["job_id"] == "77"


def test_rerun_here_runs_the_current_checkout(naga: Naga, project: Path) -> None:
    assert naga("run", sys.executable, "train.py", cwd=project).returncode == 0
    original = newest(naga)
    (project / "train.py").write_text(TRAIN + "# newer\n")
    here = naga("rerun", original, "--here", cwd=project / ".")
    assert here.returncode == 0, here.stderr
    import hashlib

    current = hashlib.sha256((project / "train.py").read_bytes()).hexdigest()[:16]
    assert output(here)["code"] == current
    assert show(naga, newest(naga))["rerun"]["here"] is True


def test_rerun_set_replaces_arguments(naga: Naga, project: Path) -> None:
    args = ["--lr", "0.1", "--epochs=3", "seed=1", "--flag", "--shift", "-0.5", "--debug", "--x"]
    assert naga("run", sys.executable, "train.py", *args, cwd=project).returncode == 0
    original = newest(naga)
    changed = naga(
        "rerun", original, "--set", "lr=0.5", "--set", "epochs=9", "--set", "seed=2",
        "--set", "shift=0.25", cwd=project,
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert output(changed)["args"] == "--lr 0.5 --epochs=9 seed=2 --flag --shift 0.25 --debug --x"
    assert show(naga, newest(naga))["rerun"]["set"] == [
        "lr=0.5",
        "epochs=9",
        "seed=2",
        "shift=0.25",
    ]
    for bad, message in (
        ("momentum=0.9", b"has no --momentum or momentum= argument"),
        ("lr", b"--set takes KEY=VALUE"),
        ("debug=0", b"--debug takes no value in the recorded command"),  # never eats --x
        ("x=1", b"--x takes no value in the recorded command"),
    ):
        done = naga("rerun", original, "--set", bad, cwd=project)
        assert done.returncode == 2
        (line,) = done.stderr.decode().splitlines()
        assert line.startswith("naga: error: ") and message.decode() in line


CLICFG = """\
import hashlib
import naga

@naga.clicfg({"lr": 0.1, "epochs": 2})
def main(cfg):
    print("code", hashlib.sha256(open(__file__, "rb").read()).hexdigest()[:16])
    print("config", cfg.lr, cfg.epochs)

main()
"""


def test_rerun_set_appends_a_clicfg_override(naga: Naga, project: Path) -> None:
    (project / "prog.py").write_text(CLICFG)
    git(project, "add", "prog.py")
    git(project, "commit", "-qm", "prog")
    assert naga("run", sys.executable, "prog.py", "epochs=5", cwd=project).returncode == 0
    original = newest(naga)
    done = naga("rerun", original, "--set", "lr=0.01", "--set", "epochs=7", cwd=project)
    assert done.returncode == 0, done.stderr
    assert output(done)["config"] == "0.01 7"
    rerun = show(naga, newest(naga))
    assert rerun["params"] == {"lr": 0.01, "epochs": 7}
    assert rerun["rerun"]["code"]["snapshot"] is True  # clicfg's snapshot ref of the run


def test_unrestorable_runs_fail_in_one_line_suggesting_here(
    naga: Naga, project: Path, tmp_path: Path, store: Path
) -> None:
    (project / "train.py").write_text(TRAIN + "# dirty\n")
    assert naga("run", sys.executable, "train.py", cwd=project).returncode == 0
    no_patch = newest(naga)
    (store / "runs" / no_patch / "git.patch").unlink()  # lost (deleted by hand, half copied)
    git(project, "checkout", "-q", "--", "train.py")
    outside = tmp_path / "no-repo"
    outside.mkdir()
    (outside / "train.py").write_text(TRAIN)
    assert naga("run", sys.executable, "train.py", cwd=outside).returncode == 0
    no_git = newest(naga)
    # A commit that history rewriting and gc really removed, with no snapshot ref to keep it.
    base = git(project, "rev-parse", "HEAD")
    (project / "train.py").write_text(TRAIN + "# doomed\n")
    git(project, "commit", "-qam", "doomed")
    doomed = git(project, "rev-parse", "HEAD")
    assert naga("run", sys.executable, "train.py", cwd=project).returncode == 0
    gone = newest(naga)
    git(project, "reset", "-q", "--hard", base)
    git(project, "reflog", "expire", "--expire=now", "--all")
    git(project, "gc", "-q", "--prune=now")
    assert subprocess.run(["git", "cat-file", "-e", doomed], cwd=project).returncode != 0

    for run_id, reason in (
        (no_patch, "had uncommitted changes but its git.patch is missing"),
        (no_git, "was not recorded inside a git repository"),
        (gone, f"commit {doomed[:12]} of run {gone} is gone"),
    ):
        done = naga("rerun", run_id, cwd=project)
        assert done.returncode == 1
        (line,) = done.stderr.decode().splitlines()
        assert line.startswith("naga: error: ") and reason in line
        assert f"naga rerun {run_id} --here" in line
        branch = naga("branch", run_id, f"b-{run_id}", cwd=project)
        assert branch.returncode == 1 and b"cannot go on a branch" in branch.stderr
    assert naga("rerun", "nosuchrun", cwd=project).returncode == 1
    assert len(runs_json(naga)) == 3  # nothing was started


def test_rerun_keeps_a_worktree_the_command_wrote_into(naga: Naga, project: Path) -> None:
    (project / "write.py").write_text("open('result.txt', 'w').write('42')\n")
    git(project, "add", "write.py")
    git(project, "commit", "-qm", "writer")
    assert naga("run", sys.executable, "write.py", cwd=project).returncode == 0
    done = naga("rerun", newest(naga), cwd=project)
    assert done.returncode == 0, done.stderr
    kept = [line for line in done.stderr.decode().splitlines() if "kept" in line]
    assert len(kept) == 1 and "result.txt" in kept[0]
    path = Path(kept[0].split("naga: worktree ", 1)[1].split(" kept", 1)[0])
    assert (path / "result.txt").read_text() == "42"
    git(project, "worktree", "remove", "--force", str(path))
    (project / "write.py").write_text("print('writes nothing')\n")
    git(project, "commit", "-qam", "quiet")
    assert naga("run", sys.executable, "write.py", cwd=project).returncode == 0
    quiet = naga("rerun", newest(naga), cwd=project)
    assert b"kept" not in quiet.stderr
    asked = naga("rerun", newest(naga), "--keep", cwd=project)
    (line,) = [ln for ln in asked.stderr.decode().splitlines() if "kept (--keep)" in ln]
    path = Path(line.split("naga: worktree ", 1)[1].split(" kept", 1)[0])
    assert (path / "write.py").read_text() == "print('writes nothing')\n"
    assert len(git(project, "worktree", "list").splitlines()) == 2


def test_require_clean(naga: Naga, project: Path, tmp_path: Path) -> None:
    clean = naga("run", "--require-clean", "true", cwd=project)
    assert clean.returncode == 0, clean.stderr
    (project / "new.py").write_text("untracked\n")
    untracked = naga("run", "--require-clean", "true", cwd=project)
    (project / "new.py").unlink()
    (project / "train.py").write_text(TRAIN + "# dirty\n")
    dirty = naga("run", "--require-clean", "--name", "x", "--", "true", cwd=project)
    outside = tmp_path / "plain"
    outside.mkdir()
    no_repo = naga("run", "--require-clean", "true", cwd=outside)
    for done, reason in (
        (untracked, "is not clean (new.py)"),
        (dirty, "is not clean (train.py)"),
        (no_repo, "is not inside a git repository"),
    ):
        assert done.returncode == 2
        (line,) = done.stderr.decode().splitlines()
        assert line.startswith("naga: error: --require-clean: ") and reason in line
    assert len(runs_json(naga)) == 1  # refused runs are never recorded
    assert naga("run", "--require-clean=1", "true", cwd=project).returncode == 2  # click's error


STAGE = """\
import sys
import naga
save_dir, *prevs = sys.argv[1:]
naga.runlock({{"save_dir": save_dir, "which": "{name}"}}, repos={{"main": "."}}, prevs=prevs)
"""


def test_branch_holds_every_stage_snapshot_in_lineage_order(naga: Naga, project: Path) -> None:
    (project / "stage.py").write_text(STAGE.format(name="prepare"))
    git(project, "add", "stage.py")
    git(project, "commit", "-qm", "stages")
    head = git(project, "rev-parse", "HEAD")
    prepare_dir, train_dir = project / "out" / "prepare", project / "out" / "train"
    (project / ".gitignore").write_text("out/\n")
    first = naga("run", sys.executable, "stage.py", str(prepare_dir), cwd=project)
    assert first.returncode == 0, first.stderr
    (project / "stage.py").write_text(STAGE.format(name="train"))  # another uncommitted state
    second = naga("run", sys.executable, "stage.py", str(train_dir), str(prepare_dir), cwd=project)
    assert second.returncode == 0, second.stderr
    train_run = newest(naga)
    before = checkout_state(project)

    made = naga("branch", train_run, "repro/pipeline", "--json", cwd=project)

    assert made.returncode == 0, made.stderr
    doc = json.loads(made.stdout)
    assert [Path(s["stage"]).name for s in doc["stages"]] == ["prepare", "train"]
    snapshots = [s["snapshot"] for s in doc["stages"]]
    trees = git(project, "log", "--first-parent", "--format=%T", "-n2", "repro/pipeline")
    expected = [git(project, "rev-parse", f"{s}^{{tree}}") for s in reversed(snapshots)]
    assert trees.split() == expected
    for sha in snapshots:  # the snapshot commits themselves are in the branch's history
        git(project, "merge-base", "--is-ancestor", sha, "repro/pipeline")
    assert git(project, "show", "repro/pipeline:stage.py") == STAGE.format(name="train").strip()
    assert git(project, "merge-base", head, "repro/pipeline") == head
    assert checkout_state(project) == before
    by_path = naga("branch", str(train_dir), "repro/by-path", cwd=project)
    assert by_path.returncode == 0, by_path.stderr
    assert git(project, "rev-parse", "repro/by-path") == doc["tip"]

    taken = naga("branch", train_run, "repro/pipeline", cwd=project)
    assert taken.returncode == 2
    assert b"branch repro/pipeline already exists" in taken.stderr
    bad = naga("branch", train_run, "no..pe", cwd=project)
    assert bad.returncode == 2 and b"not a valid git branch name" in bad.stderr


def test_branch_of_a_plain_run_commits_its_patch(naga: Naga, project: Path) -> None:
    (project / "train.py").write_text(TRAIN + "# dirty\n")
    assert naga("run", sys.executable, "train.py", cwd=project).returncode == 0
    made = naga("branch", newest(naga), "repro/plain", cwd=project)
    assert made.returncode == 0, made.stderr
    assert git(project, "show", "repro/plain:train.py") == (TRAIN + "# dirty").strip()
    assert git(project, "rev-parse", "repro/plain^") == git(project, "rev-parse", "HEAD")


def test_rerun_uses_the_recorded_interpreter(naga: Naga, project: Path, tmp_path: Path) -> None:
    import venv

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    activated = {**os.environ, "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    code = "import sys; print('prefix', sys.prefix)"
    first = naga("run", "python", "-c", code, cwd=project, env=activated)
    assert first.returncode == 0, first.stderr
    assert output(first)["prefix"] == str(env_dir)
    # From a shell where the venv is not on PATH, `python` is still the run's interpreter.
    again = naga("rerun", newest(naga), cwd=project)
    assert again.returncode == 0, again.stderr
    assert output(again)["prefix"] == str(env_dir)


def test_untracked_code_is_kept_in_a_snapshot(naga: Naga, project: Path) -> None:
    (project / "train.py").write_text("import helper\nprint('helper', helper.VALUE)\n")
    (project / "helper.py").write_text("VALUE = 42\n")  # a new module, never added to git
    (project / "data.bin").write_bytes(b"\0" * (2 << 20))  # data: too large to snapshot
    first = naga("run", sys.executable, "train.py", cwd=project)
    assert first.returncode == 0, first.stderr
    original = show(naga, newest(naga))
    assert original["git"]["snapshot_skipped"] == ["data.bin"]
    ref = f"refs/naga/snapshots/{original['id']}"
    assert git(project, "rev-parse", ref) == original["git"]["snapshot"]
    assert git(project, "show", f"{ref}:helper.py") == "VALUE = 42"
    assert git(project, "rev-parse", f"{ref}^") == git(project, "rev-parse", "HEAD")
    (project / "helper.py").unlink()
    (project / "data.bin").unlink()
    git(project, "checkout", "-q", "--", "train.py")
    before = checkout_state(project)

    again = naga("rerun", original["id"], cwd=project)

    assert again.returncode == 0, again.stderr
    assert output(again) == {"helper": "42"}
    assert b"1 untracked file(s) that naga did not keep (data.bin)" in again.stderr
    assert checkout_state(project) == before
    # The rerun keeps its code alive on its own: gc of the original run and of git's objects
    # leave it rerunnable.
    rerun_id = newest(naga)
    assert (
        git(project, "rev-parse", f"refs/naga/snapshots/{rerun_id}") == original["git"]["snapshot"]
    )
    assert naga("rm", original["id"], cwd=project).returncode == 0
    git(project, "update-ref", "-d", f"refs/naga/snapshots/{original['id']}")  # as gc would
    git(project, "reflog", "expire", "--expire=now", "--all")
    git(project, "gc", "-q", "--prune=now")
    third = naga("rerun", rerun_id, cwd=project)
    assert third.returncode == 0, third.stderr
    assert output(third) == {"helper": "42"}


def test_untracked_snapshot_can_be_turned_off(naga: Naga, project: Path) -> None:
    (project / "train.py").write_text("import helper\n")
    (project / "helper.py").write_text("VALUE = 42\n")
    off = {**os.environ, "NAGA_SNAPSHOT_UNTRACKED": "0"}
    assert naga("run", sys.executable, "train.py", cwd=project, env=off).returncode == 0
    run_id = newest(naga)
    assert "snapshot" not in show(naga, run_id)["git"]
    again = naga("rerun", run_id, cwd=project)
    assert again.returncode == 1  # the module is missing from the restored code
    assert b"1 untracked file(s) that naga did not keep (helper.py)" in again.stderr


def test_branch_fast_forwards_through_committed_stages(naga: Naga, project: Path) -> None:
    (project / "stage.py").write_text(STAGE.format(name="prepare"))
    (project / ".gitignore").write_text("out/\n")
    git(project, "add", "stage.py", ".gitignore")
    git(project, "commit", "-qm", "prepare")
    prepare = git(project, "rev-parse", "HEAD")
    prepare_dir, train_dir = project / "out" / "prepare", project / "out" / "train"
    assert naga("run", sys.executable, "stage.py", str(prepare_dir), cwd=project).returncode == 0
    (project / "stage.py").write_text(STAGE.format(name="train"))
    git(project, "commit", "-qam", "train")
    train = git(project, "rev-parse", "HEAD")
    args = ["stage.py", str(train_dir), str(prepare_dir)]
    assert naga("run", sys.executable, *args, cwd=project).returncode == 0

    made = naga("branch", newest(naga), "repro/ff", "--json", cwd=project)

    assert made.returncode == 0, made.stderr
    doc = json.loads(made.stdout)
    # clean trees: each snapshot is the commit itself, and the chain is the real history
    assert [s["snapshot"] for s in doc["stages"]] == [prepare, train]
    assert [s["commit"] for s in doc["stages"]] == [prepare, train]
    assert git(project, "rev-parse", "repro/ff") == train


def test_branch_lists_a_stage_consumed_twice_once(naga: Naga, project: Path) -> None:
    (project / ".gitignore").write_text("out/\n")
    git(project, "add", ".gitignore")
    git(project, "commit", "-qm", "ignore outputs")
    out = project / "out"
    # a diamond: c consumes b and a, b consumes a
    for name, prevs in (("a", []), ("b", ["a"]), ("c", ["b", "a"])):
        (project / "stage.py").write_text(STAGE.format(name=name))  # each stage's own code
        args = [str(out / name), *(str(out / p) for p in prevs)]
        done = naga("run", sys.executable, "stage.py", *args, cwd=project)
        assert done.returncode == 0, done.stderr
    made = naga("branch", str(out / "c"), "repro/diamond", "--json", cwd=project)
    assert made.returncode == 0, made.stderr
    stages = json.loads(made.stdout)["stages"]
    assert [Path(s["stage"]).name for s in stages] == ["a", "b", "c"]
    for stage in stages:  # each commit on the branch has exactly that stage's code
        name = Path(stage["stage"]).name
        shown = git(project, "show", f"{stage['commit']}:stage.py")
        assert shown == STAGE.format(name=name).strip()


def test_rerun_runs_in_the_recorded_subdirectory(naga: Naga, project: Path) -> None:
    sub = project / "exp 1" / "ünï"
    sub.mkdir(parents=True)
    code = "import os\nprint('dir', os.path.basename(os.getcwd()))\nprint('up', os.listdir('..'))\n"
    (sub / "here.py").write_text(code)
    git(project, "add", ".")
    git(project, "commit", "-qm", "a script in a subdirectory")
    first = naga("run", sys.executable, "here.py", cwd=sub)
    assert first.returncode == 0, first.stderr
    again = naga("rerun", newest(naga), cwd=project)  # from elsewhere in the checkout
    assert again.returncode == 0, again.stderr
    assert output(again) == output(first) == {"dir": "ünï", "up": "['ünï']"}


@pytest.mark.skipif(
    shutil.which("rclone") is None, reason="needs rclone (scripts/test installs it)"
)
@pytest.mark.timeout(240)
def test_rerun_reads_the_code_from_the_current_clone(naga: Naga, tmp_path: Path) -> None:
    """Two clones of one bare remote on one machine: Bob pulls Alice's run and its snapshot ref
    into his clone; his rerun reads the code there, not from Alice's checkout (whose ref is
    gone by then: she cleaned up)."""
    bare = tmp_path / "team.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(bare), str(alice))
    (alice / "train.py").write_text("import helper\nprint('helper', helper.VALUE)\n")
    git(alice, "add", "train.py")
    git(alice, "commit", "-qm", "train")
    git(alice, "push", "-q", "origin", "main")
    (alice / "helper.py").write_text("VALUE = 42\n")  # untracked: only the snapshot holds it
    assert naga("run", sys.executable, "train.py", cwd=alice).returncode == 0
    run_id = newest(naga)
    assert show(naga, run_id)["git"]["snapshot"]
    rclone_conf = tmp_path / "rclone.conf"
    rclone_conf.write_text("")
    env = {**os.environ, "RCLONE_CONFIG": str(rclone_conf)}
    runs = str(tmp_path / "runs-remote")
    pushed = naga("push", runs, run_id, "--git-remote", "origin", cwd=alice, env=env)
    assert pushed.returncode == 0, pushed.stderr

    git(tmp_path, "clone", "-q", str(bare), str(bob))
    bob_env = {**env, "NAGA_HOME": str(tmp_path / "bob-store")}
    pulled = naga("pull", runs, run_id, "--git-remote", "origin", cwd=bob, env=bob_env)
    assert pulled.returncode == 0, pulled.stderr
    git(alice, "update-ref", "-d", f"refs/naga/snapshots/{run_id}")  # Alice's naga gc
    before = checkout_state_of(bob)

    again = naga("rerun", run_id, cwd=bob, env=bob_env)

    assert again.returncode == 0, again.stderr
    assert output(again) == {"helper": "42"}
    assert checkout_state_of(bob) == before
    assert git(alice, "worktree", "list", "--porcelain").count("worktree ") == 1


def checkout_state_of(repo: Path) -> dict[str, str]:
    return {
        "status": git(repo, "status", "--porcelain=v2", "--branch", "-uall"),
        "head": git(repo, "rev-parse", "HEAD"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
    }


def test_rerun_from_an_unrelated_repository_reads_the_recorded_one(
    naga: Naga, project: Path, tmp_path: Path
) -> None:
    """The current repository comes first only when it holds the run's code: from another
    project's checkout, the recorded repository is used."""
    first = naga("run", sys.executable, "train.py", "--lr", "0.1", cwd=project)
    assert first.returncode == 0, first.stderr
    run_id = newest(naga)
    elsewhere = tmp_path / "other-project"
    elsewhere.mkdir()
    git(elsewhere, "init", "-q", "-b", "main")
    (elsewhere / "train.py").write_text("print('code', 'not this one')\n")
    git(elsewhere, "add", "train.py")
    git(elsewhere, "commit", "-qm", "unrelated")

    again = naga("rerun", run_id, cwd=elsewhere)

    assert again.returncode == 0, again.stderr
    assert output(again)["code"] == output(first)["code"]
    assert git(elsewhere, "worktree", "list", "--porcelain").count("worktree ") == 1
