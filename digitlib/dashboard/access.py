"""Who may do what in the page: visitors draw, read, correct, save and learn; curating the
collected drawings (relabel, delete, the review queue, export) and rolling models back belong to
an operator, who unlocks them with the server's operator secret.

The secret comes from the server's environment (``DIGITLIB_OPERATOR_SECRET``, or a file named by
``DIGITLIB_OPERATOR_SECRET_FILE``; see ``digitlib.config.operator_secret``): never from a URL, and
it is never logged or shown. Without one, operator actions are off for everyone. The command
line, run by whoever owns the machine, is not guarded.

Every page has a kernel of its own, a process of its own: wrong secrets are counted in a small
JSON file (``LOCKOUT_FILE``) in a folder the server's kernels share
(``digitlib.config.operator_lockout_dir``), read and written under an exclusive ``flock``, so a
lockout holds for every page of the server and of the servers given the same folder.

Unlocking starts an ``OperatorSession``, not a lasting state: it ends on Lock and after
``IDLE_SECONDS`` without an operator action, and a destructive action (delete for good, reject,
roll back) runs only when its confirmation was asked for that very item and is still pending.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: The file, in the lockout folder, that counts the wrong secrets of every gate given the folder.
LOCKOUT_FILE = "operator-lockout.json"


#: How long operator mode lasts without an operator action (seconds): 15 minutes.
IDLE_SECONDS = 15 * 60


class OperatorOnly(PermissionError):
    """An operator action was asked for by a visitor who has not unlocked operator mode."""


class NotConfirmed(PermissionError):
    """A destructive action was asked for without its confirmation pending for that item."""


@dataclass
class _Tries:
    """Wrong secrets in a row, and until when (``clock`` seconds) every try is refused."""

    failures: int = 0
    locked_until: float = 0.0


class _ProcessTries:
    """The tries of one gate, in this process only (no folder given: tests, a single process)."""

    def __init__(self) -> None:
        self._tries = _Tries()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def held(self) -> Iterator[_Tries]:
        with self._lock:
            yield self._tries


class _SharedTries:
    """The tries of every gate given ``folder``: ``LOCKOUT_FILE`` there, JSON
    ``{"failures": int, "locked_until": float}``, read and rewritten under an exclusive
    ``flock`` (which also orders the threads of one process: each opens the file itself)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCKOUT_FILE

    @contextlib.contextmanager
    def held(self) -> Iterator[_Tries]:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as file:
            fcntl.flock(file, fcntl.LOCK_EX)  # released when the file closes
            tries = _parse(file.read())
            before = _Tries(tries.failures, tries.locked_until)
            yield tries
            if tries != before:
                file.seek(0)
                file.truncate()
                file.write(json.dumps(vars(tries)).encode())


def _parse(data: bytes) -> _Tries:
    """The tries a lockout file holds; a fresh count for an empty (new) or unreadable file."""
    try:
        record = json.loads(data)
        return _Tries(int(record["failures"]), float(record["locked_until"]))
    except (ValueError, TypeError, KeyError):
        return _Tries()


class OperatorGate:
    """Checks an operator secret, in constant time, with a pause after repeated failures.

    Parameters
    ----------
    secret : str or None
        The server's operator secret; None or "" turns operator actions off.
    max_failures, lockout_seconds
        After ``max_failures`` wrong secrets in a row, every attempt is refused for
        ``lockout_seconds``: guessing is slow.
    folder : path, optional
        Where the wrong secrets are counted (``LOCKOUT_FILE``; created if missing): every gate,
        of any process, given the same folder shares one count and one lockout. None counts in
        this gate alone.
    clock : callable
        Seconds since the epoch (tests pass their own); wall time, as the processes and
        machines that share a folder share no other clock.
    """

    def __init__(
        self,
        secret: str | None,
        *,
        max_failures: int = 5,
        lockout_seconds: float = 60.0,
        folder: str | os.PathLike | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_failures < 1:
            raise ValueError(f"max_failures must be 1 or more, got {max_failures}")
        if lockout_seconds < 0:
            raise ValueError(f"lockout_seconds must be 0 or more, got {lockout_seconds}")
        self._secret = (secret or "").encode()
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self._clock = clock
        self._tries = _SharedTries(Path(folder)) if folder is not None else _ProcessTries()

    def __repr__(self) -> str:  # never shows the secret
        return f"OperatorGate(enabled={self.enabled})"

    @property
    def enabled(self) -> bool:
        return bool(self._secret)

    def check(self, given: str) -> str:
        """'' when ``given`` is the secret, else why not (in words for the page)."""
        if not self.enabled:
            return (
                "operator actions are off on this server (it was started without "
                "DIGITLIB_OPERATOR_SECRET)"
            )
        try:
            return self._check(given)
        except OSError as error:  # refuse rather than let guesses go uncounted
            return (
                f"operator mode is unavailable: wrong tries cannot be counted ({error.strerror})"
            )

    def _check(self, given: str) -> str:
        with self._tries.held() as tries:
            now = self._clock()
            # A clock set back must not stretch a lockout beyond its length.
            locked_until = min(tries.locked_until, now + self.lockout_seconds)
            if now < locked_until:
                wait = max(1, math.ceil(locked_until - now))
                return f"too many wrong secrets: try again in {wait} s"
            if hmac.compare_digest(str(given).encode(), self._secret):
                tries.failures = 0
                return ""
            tries.failures += 1
            if tries.failures >= self.max_failures:
                tries.failures = 0
                tries.locked_until = now + self.lockout_seconds
            return "that is not the operator secret"


class OperatorSession:
    """One page's operator mode: unlocked, then ended by ``lock`` or ``idle_seconds`` without
    an operator action; and the one destructive action waiting for its confirmation.

    The page shows a confirmation button only after ``ask``; ``confirm`` checks this state,
    held in the kernel, not what the page shows: a click sent straight to a hidden button
    finds nothing pending and is refused.

    Parameters
    ----------
    idle_seconds : float
        Operator mode ends this long after the last operator action (``require``).
    clock : callable
        Seconds, only ever compared with each other (tests pass their own).
    """

    def __init__(
        self,
        *,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not idle_seconds > 0:
            raise ValueError(f"idle_seconds must be more than 0, got {idle_seconds}")
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._last_action: float | None = None  # None: locked
        self._pending: tuple[str, str] | None = None
        self._ended_idle = False  # it ended by itself: say so at the next operator action

    def __repr__(self) -> str:
        return f"OperatorSession(active={self.active})"

    def start(self) -> None:
        """Operator mode from now on (the secret was checked by an ``OperatorGate``)."""
        self._last_action = self._clock()
        self._pending = None
        self._ended_idle = False

    def lock(self) -> None:
        """End operator mode, and forget any confirmation asked for."""
        self._last_action = None
        self._pending = None
        self._ended_idle = False

    @property
    def active(self) -> bool:
        """Whether operator mode is on; it ends here once idle too long."""
        if self._last_action is None:
            return False
        if self._clock() - self._last_action >= self.idle_seconds:
            self.lock()
            self._ended_idle = True
            return False
        return True

    def require(self) -> None:
        """Raise ``OperatorOnly`` unless operator mode is on; else count an operator action
        (operator mode lasts ``idle_seconds`` from now)."""
        if not self.active:
            if self._ended_idle:
                raise OperatorOnly(
                    f"operator mode ended after {self.idle_seconds / 60:g} idle minutes; "
                    "unlock it again"
                )
            raise OperatorOnly("only the operator of this server can do that; unlock it first")
        self._last_action = self._clock()

    def ask(self, action: str, item: str) -> None:
        """Note that the page asks to confirm ``action`` on ``item`` (one at a time: a new
        question replaces the last)."""
        self.require()
        self._pending = (action, str(item))

    def pending(self, action: str, item: str) -> bool:
        return self._pending == (action, str(item))

    def cancel(self, action: str, item: str | None = None) -> None:
        """Drop the confirmation of ``action`` on ``item`` (on any item: None), if it is the
        one pending."""
        if self._pending is not None and self._pending[0] == action:
            if item is None or self._pending[1] == str(item):
                self._pending = None

    def confirm(self, action: str, item: str) -> None:
        """Raise unless operator mode is on and ``action`` on ``item`` is the confirmation
        pending; it is then used up (one confirmation, one action)."""
        self.require()
        if not self.pending(action, item):
            raise NotConfirmed(
                f"nothing was done: {action} {item} was not asked for first, or was answered "
                "already"
            )
        self._pending = None
