"""Run a tree of processes (``dagster dev``: webserver, daemon, code server) as one unit, and stop all of it.

``dagster dev`` started from a shell's background inherits ignored SIGINT/SIGTERM and its
children outlive a plain kill of their parent, keeping the port. So the tree runs in a process
group of its own with the default handlers restored; SIGINT and SIGTERM sent to the ``l1k``
command are forwarded to the whole group, and the command returns only once every process of
the group is gone (those still there after a grace period are killed).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from types import FrameType

FORWARDED = (signal.SIGINT, signal.SIGTERM)


def _default_signals() -> None:
    """In the child: take SIGINT and SIGTERM as default again (a background shell job inherits them ignored)."""
    for sig in FORWARDED:
        signal.signal(sig, signal.SIG_DFL)


def start_group(command: Sequence[str], env: Mapping[str, str] | None = None, **popen: object) -> subprocess.Popen[bytes]:
    """Start ``command`` as the leader of a new process group (its pid is the group id), signals at their defaults."""
    return subprocess.Popen(  # type: ignore[call-overload]
        list(command), env=None if env is None else dict(env), start_new_session=True, preexec_fn=_default_signals, **popen
    )


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still there."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(process: subprocess.Popen[bytes], first: signal.Signals = signal.SIGINT, grace: float = 30.0) -> None:
    """Send ``first`` to the group, wait ``grace`` seconds for all of it to go, then kill what is left."""
    pgid = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, first)
    _wait_group(process, grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    _wait_group(process, grace)


def _wait_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def supervise(command: Sequence[str], grace: float = 30.0) -> int:
    """Run ``command``'s group in the foreground: forward SIGINT/SIGTERM to it, and return once all of it is gone."""
    process = start_group(command)
    received: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        code = process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if group_alive(process.pid):  # the leader went first: stop what it left behind
            stop_group(process, signal.SIGTERM, grace)
    return code if not received else 128 + received[-1]
