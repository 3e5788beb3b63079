"""Secret files and earlier runs' outputs never enter a snapshot commit, so ``naga push
--git-remote`` never publishes them: real repositories, real ``naga run``, a real bare remote."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import Naga, git, only_run
from hypothesis import given
from hypothesis import strategies as st

from naga import snapshot
from naga.secretfiles import is_secret, output_dirs, withhold

KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def tree_files(repo: Path, rev: str) -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", "-z", rev).split("\0")) - {""}


def plant(repo: Path) -> None:
    """Untracked, not ignored: code, secrets of every kind, and an earlier run's save_dir."""
    files = {
        "new_module.py": "X = 1\n",
        ".env": "API_TOKEN=hunter2\n",
        "id_rsa": KEY,
        "deploy/server.pem": "cert\n",
        "notes/key-backup.txt": "\n  " + KEY,  # a private key by content, whatever its name
        "conf/credentials-prod.json": "{}\n",
        ".aws/credentials": "[default]\n",
        "private/plan.md": "listed in .nagaignore\n",
        ".nagaignore": "# this project's own secrets\nprivate/\n",
        "outputs/run1/run.lock": "version: 1\n",
        "outputs/run1/experiment.log": "log\n",
        "outputs/run1/metrics.csv": "step,loss\n",
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)


SECRETS = [
    ".aws/credentials",
    ".env",
    "conf/credentials-prod.json",
    "deploy/server.pem",
    "id_rsa",
    "notes/key-backup.txt",
    "private/plan.md",
]


def test_naga_run_leaves_secrets_out_of_its_snapshot_and_push_never_sends_them(
    naga: Naga, git_repo: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(git_repo, "remote", "add", "origin", str(bare))
    plant(git_repo)
    done = naga("run", "true", cwd=git_repo)
    assert done.returncode == 0, done.stderr
    run = only_run(naga)
    assert sorted(run["git"]["snapshot_secrets"]) == SECRETS
    said = [ln for ln in done.stderr.decode().splitlines() if "as secrets" in ln]
    assert len(said) == 1 and all(s in said[0] for s in SECRETS)
    ref = f"refs/naga/snapshots/{run['id']}"
    assert tree_files(git_repo, ref) == {"train.py", "new_module.py", ".nagaignore"}
    shown = naga("show", run["id"], cwd=git_repo)
    assert b"not in the snapshot (secrets): " in shown.stdout
    pushed = naga("push", str(tmp_path / "remote"), "--all", "--git-remote", "origin", cwd=git_repo)
    assert pushed.returncode == 0, pushed.stderr
    assert tree_files(bare, ref) == {"train.py", "new_module.py", ".nagaignore"}
    every_object = ["git", "cat-file", "--batch-all-objects", "--batch"]
    objects = subprocess.run(every_object, cwd=bare, capture_output=True, check=True).stdout
    assert b"hunter2" not in objects and b"PRIVATE KEY" not in objects


def test_only_secrets_untracked_makes_no_snapshot_but_says_so(naga: Naga, git_repo: Path) -> None:
    (git_repo / ".env").write_text("TOKEN=x\n")
    done = naga("run", "true", cwd=git_repo)
    assert done.returncode == 0, done.stderr
    run = only_run(naga)
    assert run["git"]["snapshot"] is None
    assert run["git"]["snapshot_secrets"] == [".env"]
    assert git(git_repo, "for-each-ref", "refs/naga/") == ""


def test_snapshot_module_leaves_them_out_and_reports_them(
    git_repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plant(git_repo)
    sha = snapshot.commit_cwd(git_repo)
    assert tree_files(git_repo, sha) == {"train.py", "new_module.py", ".nagaignore"}
    assert [r.getMessage() for r in caplog.records if "as secrets" in r.getMessage()]
    states = snapshot.snapshot_repos({"main": git_repo}, run_id="stage-1")
    assert sorted(states["main"]["secrets_left_out"]) == SECRETS
    assert git(git_repo, "status", "--porcelain", "--", ".env") == "?? .env"  # left alone


def test_a_later_plain_run_does_not_snapshot_an_earlier_run_s_save_dir(
    naga: Naga, git_repo: Path
) -> None:
    save_dir = git_repo / "runs" / "2026-01-01"
    save_dir.mkdir(parents=True)
    (save_dir / "experiment.log").write_text("2026-01-01 00:00:00,000 INFO train: epoch 1\n")
    (save_dir / "model.ckpt").write_bytes(b"\0" * 100)
    (git_repo / "experiment.log").write_text("the project's own log at the root stays code\n")
    hidden = git_repo / "runs" / "hidden"  # its run.lock ignored: the directory is still outputs
    hidden.mkdir()
    (hidden / "run.lock").write_text("version: 1\n")
    (hidden / "notes.txt").write_text("n\n")
    (git_repo / ".git" / "info" / "exclude").write_text("*.lock\n")
    (git_repo / "util.py").write_text("u = 1\n")
    assert naga("run", "true", cwd=git_repo).returncode == 0
    run = only_run(naga)
    files = tree_files(git_repo, f"refs/naga/snapshots/{run['id']}")
    assert files == {"train.py", "util.py", "experiment.log"}
    assert "snapshot_secrets" not in run["git"]


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.local",
        "app/.env.production",
        "prod.env",
        ".envrc",
        "certs/tls.PEM",
        "server.key",
        "store.p12",
        "store.pfx",
        "id_rsa",
        "id_rsa.pub",
        "home/.ssh/id_ed25519",
        "id_ecdsa",
        ".netrc",
        ".git-credentials",
        "credentials.json",
        "credentials-staging.json",
        ".aws/config",
        "deploy/.kube/config",
        ".config/gcloud/application_default_credentials.json",
        ".pypirc",
        ".npmrc",
        ".docker/config.json",
    ],
)
def test_secret_by_name(tmp_path: Path, path: str) -> None:
    assert is_secret(str(tmp_path), path)


@pytest.mark.parametrize(
    "path",
    ["environment.py", "env.py", "keys.py", "monkey.txt", "kube/config.py", "gcloud_utils.py"],
)
def test_not_secret(tmp_path: Path, path: str) -> None:
    assert not is_secret(str(tmp_path), path)


def test_private_key_by_content_and_project_patterns(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n")
    (tmp_path / "b.txt").write_text("talks about -----BEGIN RSA PRIVATE KEY----- later\n")
    (tmp_path / "pub.txt").write_text("-----BEGIN PUBLIC KEY-----\n")
    assert is_secret(str(tmp_path), "a.txt")
    assert not is_secret(str(tmp_path), "b.txt")
    assert not is_secret(str(tmp_path), "pub.txt")
    (tmp_path / ".nagaignore").write_text("# comment\n\n*.secret\nconfig/prod.yaml\nvault/\n")
    secrets, _ = withhold(
        str(tmp_path), ["x.secret", "d/y.secret", "config/prod.yaml", "vault/a/b", "main.py"]
    )
    assert secrets == ["x.secret", "d/y.secret", "config/prod.yaml", "vault/a/b"]


paths = st.lists(
    st.lists(
        st.sampled_from(["a", "b", ".env", "run.lock", "experiment.log", "x.py"]), min_size=1
    ).map("/".join),
    unique=True,
)


@given(paths)
def test_withhold_only_ever_removes_given_paths(listed: list[str]) -> None:
    secrets, outputs = withhold("/nonexistent-naga-root", listed)
    assert set(secrets) <= set(listed) and set(outputs) <= set(listed)
    assert not set(secrets) & set(outputs)
    assert output_dirs("/nonexistent-naga-root", listed) == []
    assert set(secrets) == {p for p in listed if p.rpartition("/")[2] == ".env"}


def test_output_dirs_are_found_on_disk_even_when_their_marker_is_ignored(tmp_path: Path) -> None:
    for marker in ("runs/a/run.lock", "runs/b/deep/experiment.log", "run.lock"):
        (tmp_path / marker).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / marker).write_text("x\n")
    listed = ["runs/a/ckpt/model.pt", "runs/b/deep/metrics.csv", "runs/c/x.py", "main.py"]
    assert output_dirs(str(tmp_path), listed) == ["runs/a/", "runs/b/deep/"]
    assert withhold(str(tmp_path), listed) == ([], listed[:2])


def test_record_holds_the_list_as_json(naga: Naga, git_repo: Path) -> None:
    (git_repo / "id_ed25519").write_text(KEY)
    (git_repo / "code.py").write_text("c = 1\n")
    assert naga("run", "true", cwd=git_repo).returncode == 0
    shown = json.loads(naga("show", only_run(naga)["id"], "--json", cwd=git_repo).stdout)
    assert shown["git"]["snapshot_secrets"] == ["id_ed25519"]


def test_a_rerun_says_the_secrets_are_not_restored(naga: Naga, git_repo: Path) -> None:
    (git_repo / ".env").write_text("TOKEN=x\n")
    (git_repo / "helper.py").write_text("VALUE = 42\n")
    script = "import os, helper; print(helper.VALUE, os.path.exists('.env'))"
    assert naga("run", "--", "python", "-c", script, cwd=git_repo).returncode == 0
    again = naga("rerun", only_run(naga)["id"], cwd=git_repo)
    assert again.returncode == 0, again.stderr
    assert b"1 untracked file(s) that naga did not keep (.env); they are not restored" in (
        again.stderr
    )
    assert b"42 False" in again.stdout
