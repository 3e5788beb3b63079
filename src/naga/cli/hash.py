"""``naga hash PATH...``: content hashes of data files and directories.

Each line is ``<hash>  <path>``, as ``b3sum`` prints it (a file's hash is its BLAKE3, so the two
agree on files); ``--json`` prints an array of ``DataHash.as_dict()`` objects instead. On a
terminal, anything that takes more than half a second (``NAGA_PROGRESS_DELAY``) gets a progress
line on stderr (files, bytes, rate), replaced by a one-line summary at the end. The work is in
``hash_fast``. ``naga hash`` goes through click like every command but ``run`` and ``ls``:
click's ~25 ms of start-up is nothing beside hashing, so the command line has one grammar.
"""

from __future__ import annotations

import click

from .hash_fast import hash_paths


@click.command("hash")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of results.")
@click.option(
    "--no-cache", is_flag=True, help="Read every file; neither use nor update the hash cache."
)
def hash_(paths: tuple[str, ...], as_json: bool, no_cache: bool) -> None:
    """Hash data files and directories (BLAKE3), printing `<hash>  <path>` per PATH.

    A directory's hash covers the relative paths, file contents and symlink targets below it,
    not permissions or times. Unchanged files are taken from a cache (NAGA_HASH_CACHE sets
    its file). Exits 1 if any PATH could not be hashed; the others are still printed.
    """
    code = hash_paths(paths, as_json, not no_cache)
    if code:
        raise click.exceptions.Exit(code)
