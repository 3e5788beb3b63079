"""``naga ls / show / logs / rm / reindex`` on real runs in a real store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from conftest import Naga, naga_cmd, only_run, runs_json

from naga.store.layout import current_bucket


def make_runs(naga: Naga) -> dict[str, str]:
    """Three finished runs: completed, failed and cancelled-by-exit-130; name -> id."""
    naga("run", "--name", "good", "--tag", "base", "true")
    naga("run", "--name", "bad", "--tag", "base", "--tag", "x", "false")
    naga("run", "--name", "stopped", sys.executable, "-c", "raise SystemExit(130)")
    return {r["name"]: r["id"] for r in runs_json(naga)}


def test_ls_empty_store_is_friendly(naga: Naga) -> None:
    done = naga("ls")
    assert done.returncode == 0
    assert done.stdout.decode().strip() == "No runs yet. Start one with: naga run python train.py"
    assert json.loads(naga("ls", "--json").stdout) == []


def test_ls_table_and_filters(naga: Naga) -> None:
    ids = make_runs(naga)
    table = naga("ls").stdout.decode().splitlines()
    assert table[0].split() == ["ID", "NAME", "STATUS", "STARTED", "DURATION", "GIT", "COMMAND"]
    assert [line.split()[0] for line in table[1:]] == [ids["stopped"], ids["bad"], ids["good"]]
    assert "✓ completed" in table[3] and "✗ failed" in table[2] and "⊘ cancelled" in table[1]

    def names(*args: str) -> list[str]:
        return [r["name"] for r in runs_json(naga, *args)]

    assert names("--status", "failed") == ["bad"]
    assert names("--status", "failed", "--status", "completed") == ["bad", "good"]
    assert names("--name", "goo*") == ["good"]
    assert names("--tag", "base") == ["bad", "good"]
    assert names("--tag", "base", "--tag", "x") == ["bad"]
    assert names("--since", "1h") == ["stopped", "bad", "good"]
    assert names("--since", "2999-01-01") == []
    limited = json.loads(naga("ls", "--json", "--limit", "2").stdout)
    assert [r["name"] for r in limited] == ["stopped", "bad"]
    two = naga("ls", "--limit", "2")
    assert len(two.stdout.decode().splitlines()) == 3  # header and two runs, nothing else
    assert two.stderr.decode().strip() == "showing 2 of 3 runs; --all or --limit N for more"
    assert (
        naga("ls", "--status", "crashed").stdout.decode().strip() == "No runs match these filters."
    )


def test_ls_json_contract(naga: Naga) -> None:
    make_runs(naga)
    for run in runs_json(naga):
        for key in (
            "id",
            "name",
            "status",
            "exit_code",
            "command",
            "cwd",
            "started_at",
            "finished_at",
            "duration_s",
            "git",
            "tags",
            "params",
            "metrics",
        ):
            assert key in run, key
        assert "owner" not in run  # liveness bookkeeping stays private


def test_bad_filter_values(naga: Naga) -> None:
    for args, message in (
        (["--status", "done"], "unknown status 'done'"),
        (["--since", "yesterday"], "cannot read --since 'yesterday'"),
    ):
        done = naga("ls", *args)
        assert done.returncode == 2
        assert message in done.stderr.decode()
        assert len(done.stderr.decode().strip().splitlines()) == 1


def test_select_by_id_prefix_and_name(naga: Naga) -> None:
    ids = make_runs(naga)
    good = ids["good"]
    assert json.loads(naga("show", "--json", good).stdout)["id"] == good
    assert json.loads(naga("show", "--json", good[:5]).stdout)["id"] == good
    assert json.loads(naga("show", "--json", "good").stdout)["id"] == good
    assert json.loads(naga("show", "--json").stdout)["name"] == "stopped"  # default: latest
    unknown = naga("show", "nope-zz")
    assert unknown.returncode == 1
    assert unknown.stderr.decode().strip() == (
        "naga: error: no run matches 'nope-zz'; `naga ls` lists the runs"
    )
    close = naga("show", "godo")
    assert "did you mean good?" in close.stderr.decode()


def test_ambiguous_selection_lists_candidates(naga: Naga) -> None:
    naga("run", "--name", "twin", "true")
    naga("run", "--name", "twin", "true")
    shown = naga("show", "twin")  # reading: the newest, said on stderr
    assert shown.returncode == 0 and b"2 runs are named 'twin'" in shown.stderr
    done = naga("rm", "twin")  # removing: never a guess
    assert done.returncode == 1
    message = done.stderr.decode().strip()
    assert message.startswith("naga: error: 'twin' matches 2 runs (")
    for run in runs_json(naga):
        assert run["id"] in message


def test_show_readable(naga: Naga) -> None:
    ids = make_runs(naga)
    text = naga("show", ids["bad"]).stdout.decode()
    assert "Status    ✗ failed  (exit 1)" in text
    assert "Command   false" in text
    assert "Tags      base, x" in text


def test_logs_tail_and_follow(naga: Naga, tmp_path: Path) -> None:
    naga("run", "--name", "lines", sys.executable, "-c", "for i in range(1000): print(i)")
    assert naga("logs", "lines").stdout == "".join(f"{i}\n" for i in range(1000)).encode()
    assert naga("logs", "lines", "--tail", "3").stdout == b"997\n998\n999\n"
    assert naga("logs", "lines", "-n", "0").stdout == b""

    code = "import time\nfor i in range(5):\n    print(i, flush=True); time.sleep(0.3)"
    proc = subprocess.Popen(
        naga_cmd("run", "--name", "slow", sys.executable, "-c", code),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while b"slow" not in naga("ls").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    followed = naga("logs", "slow", "--follow")
    assert followed.stdout == b"0\n1\n2\n3\n4\n"
    assert proc.wait(timeout=30) == 0


def test_rm(naga: Naga, store: Path) -> None:
    ids = make_runs(naga)
    done = naga("rm", "good")
    assert done.returncode == 0
    assert not (store / "runs" / ids["good"]).exists()
    refused = naga("rm", "--status", "failed", "--status", "cancelled")
    assert refused.returncode == 2
    assert "refusing to remove 2 runs without confirmation; add -y" in refused.stderr.decode()
    assert len(runs_json(naga)) == 2
    assert naga("rm", "--status", "failed", "--status", "cancelled", "-y").returncode == 0
    assert runs_json(naga) == []
    assert naga("rm").returncode == 2
    assert naga("rm", "ghost").returncode == 1


def test_rm_refuses_running_run(naga: Naga, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        naga_cmd(
            "run",
            "--name",
            "live",
            sys.executable,
            "-c",
            "print('ready', flush=True); import time; time.sleep(60)",
        ),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    done = naga("rm", "live")
    assert done.returncode == 1
    assert "refusing to remove running run(s)" in done.stderr.decode()
    assert naga("rm", "live", "--force").returncode == 0
    proc.terminate()
    proc.communicate(timeout=30)
    assert runs_json(naga) == []


def test_reindex_after_deleting_the_index(naga: Naga, store: Path) -> None:
    ids = make_runs(naga)
    for f in (store / "index").iterdir():
        f.unlink()
    assert {r["id"] for r in runs_json(naga)} == set(ids.values())
    done = naga("reindex")
    assert done.stdout.decode().startswith("Indexed 3 runs from ")


def test_corrupt_index_is_rebuilt(naga: Naga, store: Path) -> None:
    ids = make_runs(naga)
    for f in (store / "index").iterdir():
        f.write_bytes(b"this is not a database" * 100)
    done = naga("ls", "--json")
    assert done.returncode == 0
    assert {r["id"] for r in json.loads(done.stdout)} == set(ids.values())


def test_corrupt_meta_is_skipped_with_a_warning(naga: Naga, store: Path) -> None:
    ids = make_runs(naga)
    meta = store / "runs" / ids["bad"] / "meta.json"
    meta.write_text('{"id": "broken')
    marker = store / "touched" / current_bucket() / ids["bad"]
    marker.unlink(missing_ok=True)
    marker.write_text("")  # as every writer signals a change
    done = naga("ls")
    assert done.returncode == 0
    assert ids["good"] in done.stdout.decode() and ids["bad"] not in done.stdout.decode()
    assert f"naga: warning: run {ids['bad']} is not listed" in done.stderr.decode()
    rebuilt = naga("reindex")
    assert rebuilt.stdout.decode().startswith("Indexed 2 runs")
    assert "is corrupt" in rebuilt.stderr.decode()
    shown = naga("show", ids["bad"])
    assert shown.returncode == 1 and "is corrupt" in shown.stderr.decode()
    assert naga("rm", ids["bad"]).returncode == 0  # a damaged run can still be removed
    assert not (store / "runs" / ids["bad"]).exists()
    assert naga("ls").stderr == b""


def test_run_written_by_another_process_appears_without_reindex(naga: Naga, store: Path) -> None:
    make_runs(naga)
    assert len(runs_json(naga)) == 3  # the index exists and is in sync
    naga("run", "--name", "later", "true")
    assert "later" in [r["name"] for r in runs_json(naga)]


def test_unknown_id_for_logs_and_show(naga: Naga) -> None:
    for command in ("show", "logs"):
        done = naga(command)
        assert done.returncode == 1
        assert "there are no runs yet" in done.stderr.decode()


def test_only_run_sanity(naga: Naga) -> None:
    naga("run", "true")
    assert only_run(naga)["status"] == "completed"


def test_name_and_id_prefix_never_guess(naga: Naga) -> None:
    naga("run", "true")
    other = runs_json(naga)[0]["id"]
    prefix = other[:3]
    naga("run", "--name", prefix, "true")
    done = naga("rm", prefix)  # names one run and prefixes another: refuse to guess
    assert done.returncode == 1
    assert "matches 2 runs" in done.stderr.decode()
    assert len(runs_json(naga)) == 2


def test_a_run_named_like_its_own_id_prefix_is_one_run(naga: Naga, store: Path) -> None:
    from naga.store.edit import rename
    from naga.store.layout import StoreLayout

    naga("run", "true")
    run_id = runs_json(naga)[0]["id"]
    rename(StoreLayout(str(store)), run_id, run_id[:2])  # named "w0", id "w0xx...": one answer
    done = naga("show", "--json", run_id[:2])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["id"] == run_id


def test_reading_commands_create_nothing(naga: Naga, tmp_path: Path, store: Path) -> None:
    assert naga("ls").stdout.decode().startswith("No runs yet")
    assert naga("show").returncode == 1
    assert naga("logs", "abc").returncode == 1
    assert not store.exists()


def test_record_of_the_wrong_shape_is_skipped(naga: Naga, store: Path) -> None:
    ids = make_runs(naga)
    meta_path = store / "runs" / ids["good"] / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["git"] = "oops"
    meta_path.write_text(json.dumps(meta))
    rebuilt = naga("reindex")
    assert rebuilt.returncode == 0
    assert rebuilt.stdout.decode().startswith("Indexed 2 runs")
    assert "'git' is str" in rebuilt.stderr.decode()
    assert naga("ls").returncode == 0


def test_parallel_readers_on_a_fresh_index(naga: Naga, tmp_path: Path, store: Path) -> None:
    make_runs(naga)
    for _ in range(2):
        for f in (store / "index").iterdir():
            f.unlink()
        procs = [
            subprocess.Popen(
                naga_cmd("ls", "--json"),
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(6)
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert len(json.loads(out)) == 3


def test_index_back_after_weeks_reads_only_what_moved(naga: Naga, store: Path) -> None:
    import sqlite3
    import time

    ids = make_runs(naga)
    (index,) = (store / "index").glob("*.sqlite")
    last_rebuild = "SELECT value FROM state WHERE key = 'last_rebuild'"
    with closing(sqlite3.connect(index)) as db, db:
        rebuilt_at = db.execute(last_rebuild).fetchone()
        weeks_ago = repr(time.time() - 30 * 86400)
        db.execute("UPDATE state SET value = ? WHERE key = 'last_sync'", (weeks_ago,))
    # Meanwhile, by hand and with every change marker long pruned: one run renamed, one gone.
    shutil.rmtree(store / "touched")
    meta_path = store / "runs" / ids["good"] / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["name"] = "renamed"
    meta_path.write_text(json.dumps(meta))
    shutil.rmtree(store / "runs" / ids["bad"])
    names = sorted(r["name"] for r in runs_json(naga))
    assert names == ["renamed", "stopped"]
    with sqlite3.connect(index) as db:  # a refresh by mtimes, not a full rebuild
        assert (
            db.execute("SELECT value FROM state WHERE key = 'last_rebuild'").fetchone()
            == rebuilt_at
        )


@pytest.mark.parametrize(
    "args",
    [
        ["ls", "--bogus"],
        ["ls", "--limit", "0"],
        ["bogus"],
        ["rerun"],
        ["diff", "a"],
        ["export", "mlflow", "--bogus"],
        ["sweep", "--random", "0", "x=1", "--", "echo"],
        ["run", "--sys-interval", "abc", "true"],
    ],
)
def test_usage_errors_are_one_line(naga: Naga, args: list[str]) -> None:
    done = naga(*args)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.decode().splitlines()
    assert line.startswith("naga: error: ") and line.endswith("--help`")
