"""naga.ending's rules, one by one, with real signals delivered to this process.

The whole stack (clicfg, mlflow_lock, Lightning, the sweep pool) is in test_endings.py; here
each rule of docs/endings.md is checked against the decision itself.
"""

from __future__ import annotations

import os
import signal

import pytest

from naga.ending import SignalWitness, decide


def _raised_inside(first: BaseException, then: BaseException) -> BaseException:
    """``then`` raised while ``first`` was being handled (Lightning's sys.exit(1))."""
    try:
        try:
            raise first
        except BaseException:
            raise then  # noqa: B904 - the implicit context, as Lightning leaves it
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "status", "code", "name"),
    [
        (None, "completed", 0, None),
        (SystemExit(0), "completed", 0, None),
        (SystemExit(), "completed", 0, None),
        (SystemExit(3), "failed", 3, None),
        (SystemExit("bad config"), "failed", 1, None),
        (ValueError("diverged"), "failed", 1, None),
        (KeyboardInterrupt(), "cancelled", 130, "SIGINT"),
        (type("SIGTERMException", (SystemExit,), {})(), "cancelled", 143, "SIGTERM"),
    ],
)
def test_without_a_signal_the_exception_decides(
    exc: BaseException | None, status: str, code: int, name: str | None
) -> None:
    ending = decide(exc, None)
    assert (ending.status, ending.exit_code, ending.signal) == (status, code, name)


def test_a_system_exit_raised_while_handling_ctrl_c_is_ctrl_c() -> None:
    ending = decide(_raised_inside(KeyboardInterrupt(), SystemExit(1)), None)
    assert (ending.status, ending.exit_code, ending.signal) == ("cancelled", 130, "SIGINT")
    plain = decide(_raised_inside(ValueError("x"), SystemExit(1)), None)
    assert (plain.status, plain.exit_code) == ("failed", 1)


@pytest.mark.parametrize("exc", [SystemExit(0), SystemExit(1), ValueError("caught up")])
def test_a_stop_signal_seen_decides_any_exception(exc: BaseException) -> None:
    ending = decide(exc, "SIGTERM")
    assert (ending.status, ending.exit_code, ending.reason) == (
        "cancelled",
        143,
        "terminated by SIGTERM",
    )
    assert decide(None, "SIGTERM").status == "completed"  # returned: the work was done


def test_the_witness_sees_a_signal_whatever_handler_took_it() -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: seen.append(signum))
    witness = SignalWitness()
    try:
        witness.arm()
        os.kill(os.getpid(), signal.SIGUSR1)  # a framework's own handler: it goes on
        os.kill(os.getpid(), signal.SIGUSR1)
        signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
        os.kill(os.getpid(), signal.SIGTERM)
        assert seen == [signal.SIGUSR1, signal.SIGUSR1, signal.SIGTERM]
        assert witness.received() == "SIGTERM"  # a stop wins over Slurm's warning
        witness.disarm()
        assert witness.received() == "SIGTERM"  # still known after the run ended
        witness.arm()
        assert witness.received() is None  # a new run starts with none
    finally:
        witness.disarm()
        signal.signal(signal.SIGUSR1, previous)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_a_relayed_signal_is_recorded_as_the_one_it_carries() -> None:
    witness = SignalWitness()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        witness.arm()
        witness.relayed(signal.SIGUSR2, via=signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        assert witness.received() == "SIGUSR2"
    finally:
        witness.disarm()
        signal.signal(signal.SIGINT, previous)
