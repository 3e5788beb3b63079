"""``python -m naga.parallel.worker SWEEP_DIR``: one more worker for a sweep, by hand or as
one of a launcher's helper processes; the terminal side of
:func:`naga.parallel.worker.run_worker`."""

from __future__ import annotations

import sys

from ..config.frontend import stderr_reporter
from ..errors import NagaError


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m naga.parallel.worker SWEEP_DIR", file=sys.stderr)
        return 2
    from ..parallel.worker import run_worker

    try:
        count = run_worker(args[0], report=stderr_reporter)
    except NagaError as exc:
        print(f"naga: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    print(f"naga: worker ran {count} task(s)", file=sys.stderr)
    return 0
